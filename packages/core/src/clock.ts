/**
 * The simulated clock, in nanoseconds. Components add their charges straight to `now`
 * (`clock.now += ns`).
 *
 * RAM accesses are the exception: the guest CPU counts them in `unchargedRamReads` and
 * `unchargedRamWrites` (integer increments) and reading `now` charges them at `ramAccessNs` each. Adding a
 * fractional cost to a double on every RAM access made each access wait for the previous
 * one's addition to reach memory, and that chain was most of the cost of a RAM access.
 * Every reader sees the same time as with per-access charging: nothing reads the clock
 * between two RAM accesses without going through `now`.
 */
export class SimClock {
  private charged = 0;
  private ramAccessNs = 0;
  /**
   * RAM reads and writes made since `now` was last read (the guest CPU's RAM path counts
   * here). Two counters, so that a load and a store in a row do not wait on each other.
   */
  unchargedRamReads = 0;
  unchargedRamWrites = 0;

  get now(): number {
    if (this.unchargedRamReads + this.unchargedRamWrites !== 0) this.chargeRam();
    return this.charged;
  }

  /** Sets the time; `now += ns` reads first, so the RAM accesses before it are charged. */
  set now(ns: number) {
    this.unchargedRamReads = 0;
    this.unchargedRamWrites = 0;
    this.charged = ns;
  }

  /** The cost of one RAM access; those made at the old cost are charged at it first. */
  setRamAccessNs(ns: number): void {
    this.chargeRam();
    this.ramAccessNs = ns;
  }

  advance(ns: number): void {
    this.now += ns;
  }

  reset(): void {
    this.charged = 0;
    this.unchargedRamReads = 0;
    this.unchargedRamWrites = 0;
  }

  private chargeRam(): void {
    this.charged += (this.unchargedRamReads + this.unchargedRamWrites) * this.ramAccessNs;
    this.unchargedRamReads = 0;
    this.unchargedRamWrites = 0;
  }
}
