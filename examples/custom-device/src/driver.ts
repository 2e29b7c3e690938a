import { type GuestCpu, VhwError } from '@vhw/core';
import type { GuestContext, GuestDriver } from '@vhw/guest';
import { Ctrl, RNG_ID, RngReg, Status, type RngLiteInput, type RngLiteOptions, resolveRngLiteOptions, xorshift32 } from './device.js';

/**
 * Step 3: the guest driver, i.e. the workload. `probe` finds the function on the guest's
 * bus, sets up MSI-X through the guest OS and registers the interrupt handler; `run`
 * performs operations and reports how many completed and failed. Every register access
 * goes through `ctx.cpu`, so the machine counts it (direct or trapped) and charges it.
 *
 * One operation reads one random word (one MMIO read of DATA). Every `poolWords`
 * operations the driver asks for a refill (one MMIO write of CTRL) and takes the
 * refill interrupt. Each word is checked against the xorshift32 sequence of the seed.
 */
export class RngLiteDriver implements GuestDriver {
  readonly device: string;
  readonly opName = 'word';
  readonly options: RngLiteOptions;
  interrupts = 0;
  private cpu!: GuestCpu;
  private bar0 = -1;
  private left = 0;
  private expected: number;
  private refilled = false;

  constructor(input: RngLiteInput | RngLiteOptions = {}) {
    this.options = resolveRngLiteOptions(input);
    this.device = this.options.name;
    this.expected = this.options.seed;
  }

  probe(ctx: GuestContext): void {
    this.cpu = ctx.cpu;
    const fn = ctx.bus.find(this.device);
    const bar = fn.bars.find((b) => b.index === 0);
    if (!bar) throw new VhwError('E_NOT_FOUND', `rng-lite driver: ${this.device} has no BAR0`);
    this.bar0 = bar.gpa;
    if (this.cpu.mmioLoad(this.bar0 + RngReg.ID, 4) >>> 0 !== RNG_ID) {
      throw new VhwError('E_NOT_FOUND', `rng-lite driver: ${this.device} does not identify as rng-lite`);
    }
    const [vector] = ctx.os.enableMsix(ctx.bus, fn, 1);
    if (vector === undefined) throw new VhwError('E_NOT_FOUND', `rng-lite driver: ${this.device} got no MSI-X vector`);
    ctx.os.requestIrq(vector, () => {
      this.interrupts++;
      this.refilled = true;
    });
    this.refill();
  }

  run(ops: number): { completed: number; failed: number } {
    if (this.bar0 < 0) throw new VhwError('E_STATE', `rng-lite driver ${this.device}: run() before probe()`);
    let completed = 0;
    let failed = 0;
    for (let i = 0; i < ops; i++) {
      if (this.left === 0 && !this.refill()) {
        failed++;
        continue;
      }
      const word = this.cpu.mmioLoad(this.bar0 + RngReg.DATA, 4) >>> 0;
      this.left--;
      this.expected = xorshift32(this.expected);
      if (word === this.expected) completed++;
      else failed++;
    }
    return { completed, failed };
  }

  /** Asks for a refill and waits (bounded) for its interrupt. */
  private refill(): boolean {
    this.refilled = false;
    this.cpu.mmioStore(this.bar0 + RngReg.CTRL, 4, Ctrl.ENABLE | Ctrl.INT_EN | Ctrl.REFILL);
    // The interrupt is taken right after the store completes. If it is late (or lost),
    // poll STATUS a bounded number of times, as a driver with a timeout would.
    let ready = this.refilled;
    for (let i = 0; !ready && i < 100; i++) {
      this.cpu.work(1000);
      const status = this.cpu.mmioLoad(this.bar0 + RngReg.STATUS, 4) >>> 0;
      ready = this.refilled || (status !== 0xffffffff && (status & Status.READY) !== 0);
    }
    if (ready) this.left = this.options.poolWords;
    return ready;
  }
}
