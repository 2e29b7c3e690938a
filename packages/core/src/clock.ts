import { VhwError } from './errors.js';

/**
 * Monotonic counts of the guest accesses that are charged by count rather than one by
 * one: RAM accesses and direct (mapped MMIO) accesses, kept by the guest CPU on itself
 * (the one increment such an access makes). The clock charges them and the statistics
 * report them.
 */
export interface CountedAccesses {
  readonly ramReads: number;
  readonly ramWrites: number;
  readonly directReads: number;
  readonly directWrites: number;
}

/** Counts of a machine with no guest CPU. */
export const NO_COUNTED_ACCESSES: CountedAccesses = Object.freeze({ ramReads: 0, ramWrites: 0, directReads: 0, directWrites: 0 });

/** What one counted access costs, in nanoseconds. */
export interface CountedAccessCosts {
  ramNs: number;
  directReadNs: number;
  directWriteNs: number;
}

/**
 * The simulated clock, in nanoseconds. Components charge time with `add(ns)` (a tiny
 * method V8 always inlines, so a charge on the hot path is one addition to a number field
 * and never boxes a number); `now` reads the time, and `now += ns` works too, off the hot
 * path.
 *
 * RAM and direct accesses are the exception: the clock charges them from the guest CPU's
 * counts (`countAccessesOf`) at their costs (`setCountedAccessCosts`), whenever it is read
 * or charged. Adding a fractional cost to a double on every such access made each access
 * wait for the previous one's addition to reach memory, and that chain was most of the
 * cost of a RAM access and a fifth of a direct one. Charges are added in the order they
 * happen (the counted accesses since the last charge as one product per kind), so every
 * reader sees the time per-access charging gives, up to rounding in the last bit.
 */
export class SimClock {
  private charged = 0;
  private counts: CountedAccesses = NO_COUNTED_ACCESSES;
  private ramNs = 0;
  private directReadNs = 0;
  private directWriteNs = 0;
  // The counts already in `charged`: their sum (what `add` compares) and each kind.
  private countedSum = 0;
  private ramCharged = 0;
  private directReadsCharged = 0;
  private directWritesCharged = 0;

  get now(): number {
    const c = this.counts;
    return c.ramReads + c.ramWrites + c.directReads + c.directWrites === this.countedSum ? this.charged : this.chargeCounted();
  }

  /** Sets the time; `now += ns` reads first, so the counted accesses before it are charged. */
  set now(ns: number) {
    this.markCharged();
    this.charged = ns;
  }

  /** Charges `ns` (the hot-path way to advance the clock), after the counted accesses before it. */
  add(ns: number): void {
    const c = this.counts;
    if (c.ramReads + c.ramWrites + c.directReads + c.directWrites !== this.countedSum) this.chargeCounted();
    this.charged += ns;
  }

  advance(ns: number): void {
    this.add(ns);
  }

  /**
   * Charges the RAM and direct accesses `counts` makes from now on (the machine's guest
   * CPU registers itself).
   * @throws VhwError E_STATE when another guest CPU counts for this clock already: a
   * machine has one, and a second would have its accesses go uncharged.
   */
  countAccessesOf(counts: CountedAccesses): void {
    if (this.counts !== NO_COUNTED_ACCESSES && this.counts !== counts) {
      throw new VhwError('E_STATE', 'SimClock: another guest CPU counts accesses for this clock already (one guest CPU per machine)');
    }
    this.chargeCounted();
    this.counts = counts;
    this.markCharged();
  }

  /** The cost of each counted access; those made at the old costs are charged at them first. */
  setCountedAccessCosts(costs: CountedAccessCosts): void {
    for (const [field, v] of Object.entries(costs)) {
      if (!Number.isFinite(v) || v < 0) throw new VhwError('E_CONFIG', `SimClock: ${field} is ${String(v)}; it must be a finite number of nanoseconds >= 0`);
    }
    this.chargeCounted();
    this.ramNs = costs.ramNs;
    this.directReadNs = costs.directReadNs;
    this.directWriteNs = costs.directWriteNs;
  }

  reset(): void {
    this.charged = 0;
    this.markCharged();
  }

  /** Takes the current counts as charged, without charging them. */
  private markCharged(): void {
    const c = this.counts;
    this.ramCharged = c.ramReads + c.ramWrites;
    this.directReadsCharged = c.directReads;
    this.directWritesCharged = c.directWrites;
    this.countedSum = this.ramCharged + c.directReads + c.directWrites;
  }

  private chargeCounted(): number {
    const c = this.counts;
    const ram = c.ramReads + c.ramWrites;
    if (ram !== this.ramCharged) this.charged += (ram - this.ramCharged) * this.ramNs;
    if (c.directReads !== this.directReadsCharged) this.charged += (c.directReads - this.directReadsCharged) * this.directReadNs;
    if (c.directWrites !== this.directWritesCharged) this.charged += (c.directWrites - this.directWritesCharged) * this.directWriteNs;
    this.markCharged();
    return this.charged;
  }
}
