import { VhwError } from './errors.js';

/**
 * Monotonic counts of guest RAM accesses, kept by the guest CPU on itself: the one
 * increment a RAM access makes. The clock charges them and the statistics report them.
 */
export interface RamAccessCounts {
  readonly ramReads: number;
  readonly ramWrites: number;
}

/** Counts of a machine with no guest CPU. */
export const NO_RAM_ACCESSES: RamAccessCounts = Object.freeze({ ramReads: 0, ramWrites: 0 });

/**
 * The simulated clock, in nanoseconds. Components charge time with `add(ns)` (a tiny
 * method V8 always inlines, so a charge on the hot path is one addition to a number field
 * and never boxes a number); `now` reads the time, and `now += ns` works too, off the hot
 * path.
 *
 * RAM accesses are the exception: the clock charges them from the guest CPU's counts
 * (`countRamAccessesOf`) at `ramAccessNs` each, whenever it is read or charged. Adding a
 * fractional cost to a double on every RAM access made each access wait for the previous
 * one's addition to reach memory, and that chain was most of the cost of a RAM access.
 * Charges are added in the order they happen (a run of RAM accesses as one product), so
 * every reader sees the time per-access charging gives, up to rounding in the last bit.
 */
export class SimClock {
  private charged = 0;
  private ramAccessNs = 0;
  private ram: RamAccessCounts = NO_RAM_ACCESSES;
  /** RAM accesses (reads + writes) already in `charged`. */
  private ramCharged = 0;

  get now(): number {
    const n = this.ram.ramReads + this.ram.ramWrites;
    return n === this.ramCharged ? this.charged : this.chargeRam(n);
  }

  /** Sets the time; `now += ns` reads first, so the RAM accesses before it are charged. */
  set now(ns: number) {
    this.ramCharged = this.ram.ramReads + this.ram.ramWrites;
    this.charged = ns;
  }

  /** Charges `ns` (the hot-path way to advance the clock), after the RAM accesses before it. */
  add(ns: number): void {
    const n = this.ram.ramReads + this.ram.ramWrites;
    if (n !== this.ramCharged) this.chargeRam(n);
    this.charged += ns;
  }

  advance(ns: number): void {
    this.add(ns);
  }

  /**
   * Charges the RAM accesses `counts` makes from now on (the machine's guest CPU registers
   * itself).
   * @throws VhwError E_STATE when another guest CPU counts for this clock already: a
   * machine has one, and a second would have its RAM accesses go uncharged.
   */
  countRamAccessesOf(counts: RamAccessCounts): void {
    if (this.ram !== NO_RAM_ACCESSES && this.ram !== counts) {
      throw new VhwError('E_STATE', 'SimClock: another guest CPU counts RAM accesses for this clock already (one guest CPU per machine)');
    }
    this.chargeRam(this.ram.ramReads + this.ram.ramWrites);
    this.ram = counts;
    this.ramCharged = counts.ramReads + counts.ramWrites;
  }

  /** The cost of one RAM access; those made at the old cost are charged at it first. */
  setRamAccessNs(ns: number): void {
    this.chargeRam(this.ram.ramReads + this.ram.ramWrites);
    this.ramAccessNs = ns;
  }

  reset(): void {
    this.charged = 0;
    this.ramCharged = this.ram.ramReads + this.ram.ramWrites;
  }

  private chargeRam(n: number): number {
    if (n !== this.ramCharged) {
      this.charged += (n - this.ramCharged) * this.ramAccessNs;
      this.ramCharged = n;
    }
    return this.charged;
  }
}
