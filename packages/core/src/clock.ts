import { type ChargedClock, CostMeter, type CountedAccessCosts, type CountedAccesses, NO_COUNTED_ACCESSES } from './cost-meter.js';
import { VhwError } from './errors.js';

/**
 * The simulated clock, in nanoseconds. Components charge time through named charges
 * resolved by the clock's `meter` (`CostMeter`), each a call of `add(ns)` (one addition to
 * a number field: V8 always inlines it, so a charge on the hot path never boxes a
 * number); `now` reads the time, and `now += ns` works too, off the hot path.
 *
 * Guest accesses are the exception: the clock charges them (RAM and direct accesses, and
 * the exit of a trapped one) from the guest CPU's counts (`countAccessesOf`) at their
 * costs (`setCountedAccessCosts`), as one product per kind when the time is read (or the
 * costs change). Adding a fractional cost to a double on every such access made each
 * access wait for the previous one's addition to reach memory; that chain was most of the
 * cost of a RAM access, a fifth of a direct one and a sixth of a trapped one. Every reader
 * sees the time per-access charging gives, up to rounding in the last bits (the same
 * charges, summed in another order).
 */
export class SimClock implements ChargedClock {
  /** The one place named charges become time on this clock (see `CostMeter`). */
  readonly meter: CostMeter = new CostMeter(this);
  private charged = 0;
  private counts: CountedAccesses = NO_COUNTED_ACCESSES;
  private ramNs = 0;
  private directReadNs = 0;
  private directWriteNs = 0;
  private trapExitNs = 0;
  // The counts already in `charged`: their sum (what `now` compares) and each kind.
  private countedSum = 0;
  private ramCharged = 0;
  private directReadsCharged = 0;
  private directWritesCharged = 0;
  private trapsCharged = 0;

  get now(): number {
    const c = this.counts;
    return c.ramReads + c.ramWrites + c.directReads + c.directWrites + c.trapReads + c.trapWrites === this.countedSum
      ? this.charged
      : this.chargeCounted();
  }

  /** Sets the time; `now += ns` reads first, so the counted accesses before it are charged. */
  set now(ns: number) {
    this.markCharged();
    this.charged = ns;
  }

  /** Charges `ns`: the hot-path way to advance the clock (kept this small so that V8 always inlines it). */
  add(ns: number): void {
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
      if (!Number.isFinite(v) || v < 0)
        throw new VhwError('E_CONFIG', `SimClock: ${field} is ${String(v)}; it must be a finite number of nanoseconds >= 0`);
    }
    this.chargeCounted();
    this.ramNs = costs.ramNs;
    this.directReadNs = costs.directReadNs;
    this.directWriteNs = costs.directWriteNs;
    this.trapExitNs = costs.trapExitNs;
  }

  /** The guest CPU's access counts this clock charges (for the meter's breakdown). */
  get countedAccesses(): CountedAccesses {
    return this.counts;
  }

  /** Sets the time to 0 and clears the meter's attribution. */
  reset(): void {
    this.charged = 0;
    this.markCharged();
    this.meter.resetAttribution();
  }

  /** Takes the current counts as charged, without charging them. */
  private markCharged(): void {
    const c = this.counts;
    this.ramCharged = c.ramReads + c.ramWrites;
    this.directReadsCharged = c.directReads;
    this.directWritesCharged = c.directWrites;
    this.trapsCharged = c.trapReads + c.trapWrites;
    this.countedSum = this.ramCharged + c.directReads + c.directWrites + c.trapReads + c.trapWrites;
  }

  private chargeCounted(): number {
    const c = this.counts;
    const ram = c.ramReads + c.ramWrites;
    if (ram !== this.ramCharged) this.charged += (ram - this.ramCharged) * this.ramNs;
    if (c.directReads !== this.directReadsCharged) this.charged += (c.directReads - this.directReadsCharged) * this.directReadNs;
    if (c.directWrites !== this.directWritesCharged) this.charged += (c.directWrites - this.directWritesCharged) * this.directWriteNs;
    const traps = c.trapReads + c.trapWrites;
    if (traps !== this.trapsCharged) this.charged += (traps - this.trapsCharged) * this.trapExitNs;
    this.markCharged();
    return this.charged;
  }
}
