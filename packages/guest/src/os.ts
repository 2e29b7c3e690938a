/**
 * The guest kernel's small services that drivers call: DMA-able RAM, interrupt vectors,
 * MSI-X set-up and the EEH core.
 */
import { type GuestCpu, type GuestMemory, VhwError, hex } from '@vhw/core';
import { CapId } from '@vhw/pci';
import type { EehErrorHandler } from './eeh.js';
import { type GuestPciBus, type GuestPciFunction, RtasStatus, enableDeviceMem, findCapability } from './pci-bus.js';

/**
 * The guest operating system's small services: a DMA-able RAM allocator, the interrupt
 * vector table, MSI-X set-up the way Linux does it (paravirtual where the machine offers
 * it, else by writing the table), and a pSeries guest's EEH core.
 *
 * @example
 * ```ts
 * const os = new GuestOs(machine.cpu, machine.get(GuestMemoryToken));
 * const ring = os.alloc(4096);
 * const [vector] = os.enableMsix(bus, bus.find('nvme0'), 1);
 * os.requestIrq(vector, () => completions++);
 * ```
 */
export class GuestOs {
  private readonly handlers = new Map<number, (vector: number) => void>();
  private nextVector = 0x30;
  private brk: number;
  private readonly ramEnd: number;
  /** Interrupts that arrived for no registered vector. */
  spuriousInterrupts = 0;

  /**
   * Boots the services on `cpu` over the first block of `memory`, and takes the CPU's
   * interrupts.
   *
   * @param cpu - the guest CPU: interrupts arrive here, MSI-X tables are written through it.
   * @param memory - guest RAM; allocations come from its first block.
   * @param heapStart - offset where allocations start (or half the RAM if smaller): the
   *   low RAM is left to the guest kernel image.
   * @param clock - the machine's simulated clock, for the EEH core's one-hour freeze
   *   window; without it every freeze of a PE counts towards `maxEehFreezes`.
   * @throws VhwError `E_CONFIG` when the machine has no guest RAM.
   */
  constructor(
    readonly cpu: GuestCpu,
    memory: GuestMemory,
    heapStart = 0x100000,
    clock?: { readonly now: number },
  ) {
    this.now = clock ? () => clock.now : () => 0;
    const ram = memory.entries[0];
    if (!ram) throw new VhwError('E_CONFIG', 'guest OS: the machine has no guest RAM; add guestRam()');
    this.brk = ram.base + Math.min(heapStart, ram.size / 2);
    this.ramEnd = ram.base + ram.size;
    cpu.onInterrupt((v) => {
      const h = this.handlers.get(v);
      if (h) h(v);
      else this.spuriousInterrupts++;
    });
  }

  /**
   * Allocates zeroed guest RAM for DMA (a bump allocator: nothing is freed).
   *
   * @param size - bytes to allocate.
   * @param align - alignment of the block, a power of two.
   * @returns the block's guest-physical address.
   * @throws VhwError `E_ALLOCATION` when the RAM is exhausted.
   */
  alloc(size: number, align = 4096): number {
    const base = Math.ceil(this.brk / align) * align;
    if (base + size > this.ramEnd) {
      throw new VhwError(
        'E_ALLOCATION',
        `guest OS: out of guest RAM allocating ${size} bytes (heap at ${hex(base)}, RAM ends ${hex(this.ramEnd)})`,
      );
    }
    this.brk = base + size;
    return base;
  }

  /**
   * A fresh guest interrupt vector.
   *
   * @returns the next unused vector (from 0x30).
   */
  allocVector(): number {
    return this.nextVector++;
  }

  /**
   * Registers the handler of a guest interrupt vector (replacing any earlier one).
   *
   * @param vector - the guest vector.
   * @param handler - called with the vector each time it is raised.
   */
  requestIrq(vector: number, handler: (vector: number) => void): void {
    this.handlers.set(vector, handler);
  }

  /**
   * Enables `count` MSI-X vectors on `fn`, after turning on its memory decode and bus
   * mastering. With a paravirtual interface the hypervisor programs the device; otherwise
   * the guest writes address/data into the MSI-X table through its BAR mapping, with the
   * function masked, and then enables MSI-X.
   *
   * @param bus - the bus `fn` is on (its `msiAddress` is what the entries target).
   * @param fn - the function.
   * @param count - vectors wanted.
   * @returns the guest vectors, in entry order.
   * @throws VhwError `E_NOT_FOUND` when `fn` has no MSI-X capability or its table BAR is
   *   not mapped; `E_RANGE` when it has fewer than `count` vectors, or the firmware's
   *   `ibm,change-msi` refuses the call.
   */
  enableMsix(bus: GuestPciBus, fn: GuestPciFunction, count: number): number[] {
    const cap = findCapability(fn, CapId.MsiX);
    if (cap < 0) throw new VhwError('E_NOT_FOUND', `guest: ${fn.name} has no MSI-X capability`);
    const ctl = fn.configRead(cap + 2, 2);
    const size = (ctl & 0x7ff) + 1;
    if (count > size) throw new VhwError('E_RANGE', `guest: ${fn.name} has ${size} MSI-X vectors, asked for ${count}`);
    enableDeviceMem(fn);
    if (fn.paravirtMsi) {
      const r = fn.paravirtMsi(count);
      if (r.status !== RtasStatus.Success || r.vectors.length !== count) {
        throw new VhwError(
          'E_RANGE',
          `guest: RTAS ibm,change-msi for ${fn.name} answered status ${r.status}, ${r.count} of ${count} vectors`,
        );
      }
      return [...r.vectors];
    }
    const tableReg = fn.configRead(cap + 4, 4);
    const bar = fn.bars.find((b) => b.index === (tableReg & 7));
    if (!bar) throw new VhwError('E_NOT_FOUND', `guest: ${fn.name} MSI-X table BAR${tableReg & 7} is not mapped`);
    const table = bar.gpa + (tableReg & ~7);
    // Function-mask while programming, as Linux does.
    fn.configWrite(cap + 2, 2, 0xc000);
    const vectors: number[] = [];
    for (let i = 0; i < count; i++) {
      const v = this.allocVector();
      vectors.push(v);
      this.cpu.mmioStore(table + i * 16, 4, bus.msiAddress % 2 ** 32);
      this.cpu.mmioStore(table + i * 16 + 4, 4, Math.floor(bus.msiAddress / 2 ** 32));
      this.cpu.mmioStore(table + i * 16 + 8, 4, v);
      this.cpu.mmioStore(table + i * 16 + 12, 4, 0);
    }
    fn.configWrite(cap + 2, 2, 0x8000);
    return vectors;
  }

  /** PE recoveries the guest ran. */
  eehRecoveries = 0;

  /**
   * Freezes of a PE within an hour that the guest recovers; the next one fails the PE for
   * good. Linux's `eeh_max_freezes` (arch/powerpc/kernel/eeh.c, default 5):
   * `eeh_handle_normal_event()` in eeh_driver.c counts every freeze it handles
   * (`pe->freeze_count++`) and, once the count exceeds the limit, logs "has failed %d times
   * in the last hour and has been permanently disabled" and removes the PE's devices
   * instead of recovering; `eeh_pe_update_time_stamp()` in eeh_pe.c starts the count over
   * when more than 3600 s passed since the first freeze it counted.
   */
  static maxEehFreezes = 5;
  /** The window `maxEehFreezes` counts freezes in: one hour, in simulated nanoseconds. */
  static readonly eehFreezeWindowNs = 3600e9;
  /** Kept for older callers: the recoveries a PE that refreezes at once gets (`maxEehFreezes`). */
  static get maxEehAttempts(): number {
    return GuestOs.maxEehFreezes;
  }
  /** PEs the guest gave up on (their drivers keep failing operations). */
  eehGaveUp = 0;
  /** Per PE: freezes counted in the current window and when the window started. */
  private readonly peFreezes = new Map<string, { count: number; sinceNs: number }>();
  /** PEs failed for good: the guest no longer recovers them, their drivers fail fast. */
  readonly eehFailedPes = new Set<string>();
  /** Simulated time, for the one-hour window (without a clock every freeze counts). */
  private readonly now: () => number;

  /**
   * The guest's EEH core, run when a driver saw all-ones or a device stopped answering
   * (as eeh_dev_check_failure() is): if the function's PE is frozen, count the freeze,
   * recover the PE and tell every driver of a function in it to re-initialise; if it froze
   * again meanwhile, that is another freeze, counted and recovered the same way. A PE
   * frozen more than `maxEehFreezes` times within an hour is failed for good: it is not
   * recovered again, now or on any later call.
   *
   * @param bus - the guest's PCI bus.
   * @param device - the function whose driver noticed the failure.
   * @param drivers - every driver in the guest (those of the PE's functions are told).
   * @returns whether it recovered the PE (false when it was not frozen, or is failed for good).
   * @throws VhwError `E_NOT_FOUND` when the bus has no function `device`.
   */
  handleEeh(bus: GuestPciBus, device: string, drivers: readonly EehErrorHandler[]): boolean {
    const fn = bus.find(device);
    const eeh = fn.eeh;
    if (!eeh || this.eehFailedPes.has(eeh.pe) || !eeh.frozen()) return false;
    // Bounded per call as well: with a slot-reset hold of over 12 minutes the hour window
    // would start over before the count ran out, and this loop must still end.
    for (let attempt = 0; attempt <= GuestOs.maxEehFreezes; attempt++) {
      if (!this.countFreeze(eeh.pe)) {
        this.eehFailedPes.add(eeh.pe);
        this.eehGaveUp++;
        return false;
      }
      eeh.recover();
      this.eehRecoveries++;
      let failed = false;
      for (const d of drivers) {
        const f = bus.functions.find((x) => x.name === d.device);
        if (f?.eeh?.pe !== eeh.pe) continue;
        try {
          d.recover?.();
        } catch {
          failed = true;
        }
      }
      if (!failed && !eeh.frozen()) return true;
    }
    return false;
  }

  /** Counts one freeze of `pe` in its one-hour window; false when that makes too many. */
  private countFreeze(pe: string): boolean {
    const now = this.now();
    let w = this.peFreezes.get(pe);
    if (!w || now - w.sinceNs > GuestOs.eehFreezeWindowNs) {
      w = { count: 0, sinceNs: now };
      this.peFreezes.set(pe, w);
    }
    w.count++;
    return w.count <= GuestOs.maxEehFreezes;
  }
}
