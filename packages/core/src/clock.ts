/**
 * The simulated clock, in nanoseconds. Components add their charges straight to `now`
 * (a plain field, so a charge on the hot path is one addition).
 */
export class SimClock {
  now = 0;
  advance(ns: number): void {
    this.now += ns;
  }
  reset(): void {
    this.now = 0;
  }
}
