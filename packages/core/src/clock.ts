/**
 * The simulated clock, in nanoseconds. Components charge time with `add(ns)` (a tiny
 * method V8 always inlines, so a charge on the hot path is one addition to a number field
 * and never boxes a number); `now` reads the time, and `now += ns` works too, off the hot
 * path.
 *
 * RAM accesses are the exception: the guest CPU counts them in `unchargedRamReads` and
 * `unchargedRamWrites` (integer increments) and reading `now` charges them at `ramAccessNs` each. Adding a
 * fractional cost to a double on every RAM access made each access wait for the previous
 * one's addition to reach memory, and that chain was most of the cost of a RAM access.
 * Charges are added in the order they happen (a run of RAM accesses as one product), so
 * every reader sees the time per-access charging gives, up to rounding in the last bit.
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
    return this.unchargedRamReads + this.unchargedRamWrites === 0 ? this.charged : this.chargeRam();
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

  /** Charges `ns` (the hot-path way to advance the clock), after the RAM accesses before it. */
  add(ns: number): void {
    if (this.unchargedRamReads + this.unchargedRamWrites !== 0) this.chargeRam();
    this.charged += ns;
  }

  advance(ns: number): void {
    this.add(ns);
  }

  reset(): void {
    this.charged = 0;
    this.unchargedRamReads = 0;
    this.unchargedRamWrites = 0;
  }

  private chargeRam(): number {
    this.charged += (this.unchargedRamReads + this.unchargedRamWrites) * this.ramAccessNs;
    this.unchargedRamReads = 0;
    this.unchargedRamWrites = 0;
    return this.charged;
  }
}
