import { type GuestCpu, type GuestMemory, VhwError, hex } from '@vhw/core';
import { CapId, Cfg, Command } from './config-space.js';

/** A guest BAR: where the guest's firmware placed it. */
export interface GuestBar {
  index: number;
  gpa: number;
  size: number;
}

/**
 * A PCI function as the guest sees it, presented by the VMM. Config accesses go
 * through the VMM (they always exit); BAR accesses go through the guest CPU.
 */
export interface GuestPciFunction {
  readonly name: string;
  readonly vendorId: number;
  readonly deviceId: number;
  readonly bars: readonly GuestBar[];
  configRead(offset: number, size: 1 | 2 | 4): number;
  configWrite(offset: number, size: 1 | 2 | 4, value: number): void;
  /**
   * The machine's paravirtual MSI set-up (pSeries RTAS `ibm,change-msi`): enables `count`
   * MSI-X vectors and returns the guest vector numbers. Undefined where the machine has
   * none and the guest must program the MSI-X table itself.
   */
  readonly paravirtMsi: ((count: number) => number[]) | undefined;
  /**
   * The machine's EEH interface for this function (pSeries RTAS slot-state and reset
   * calls, forwarded to the host PE), where the platform has EEH.
   */
  readonly eeh?: GuestEeh;
}

/** What a guest's EEH core can do for a function. */
export interface GuestEeh {
  /** The PE the function belongs to: functions of one PE are frozen and reset together. */
  readonly pe: string;
  /** True while the function's PE is frozen (ibm,read-slot-reset-state2). */
  frozen(): boolean;
  /** Reset the PE, unfreeze it and restore its configuration (ibm,set-slot-reset + ibm,configure-pe). */
  recover(): void;
}

/** The guest's PCI bus as presented by the VMM. */
export interface GuestPciBus {
  readonly functions: readonly GuestPciFunction[];
  /** The guest-physical address MSI writes target (the virtual interrupt controller). */
  readonly msiAddress: number;
  find(name: string): GuestPciFunction;
}

/** Guest-side context a driver runs in. */
export interface GuestContext {
  readonly cpu: GuestCpu;
  readonly bus: GuestPciBus;
  readonly os: GuestOs;
}

/**
 * A guest driver: the workload that exercises one device. Device plugins contribute
 * one per device instance (GuestDriverToken).
 */
export interface GuestDriver {
  /** The device instance it drives. */
  readonly device: string;
  /** What one operation is ("command", "packet"). */
  readonly opName: string;
  /** Probes the device: finds its BARs, sets up rings in guest RAM and MSI-X. */
  probe(ctx: GuestContext): void;
  /** Runs `ops` operations (synchronously, in simulated time). */
  run(ops: number): { completed: number; failed: number };
  /** The device was reset under the driver (EEH recovery): re-initialise it and resubmit what was lost. */
  recover?(): void;
}

/**
 * The guest operating system's small services: a DMA-able RAM allocator, the interrupt
 * vector table, and MSI-X set-up the way Linux does it (paravirtual where the machine
 * offers it, else by writing the table).
 */
export class GuestOs {
  private readonly handlers = new Map<number, (vector: number) => void>();
  private nextVector = 0x30;
  private brk: number;
  private readonly ramEnd: number;
  /** Interrupts that arrived for no registered vector. */
  spuriousInterrupts = 0;

  constructor(
    readonly cpu: GuestCpu,
    memory: GuestMemory,
    /** Leave the low RAM to the guest kernel image; allocations start here. */
    heapStart = 0x100000,
  ) {
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

  /** Allocates zeroed guest RAM for DMA (bump allocator; `align` a power of two). */
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

  /** A fresh guest interrupt vector. */
  allocVector(): number {
    return this.nextVector++;
  }

  requestIrq(vector: number, handler: (vector: number) => void): void {
    this.handlers.set(vector, handler);
  }

  /**
   * Enables `count` MSI-X vectors on `fn` and returns the guest vectors, in entry order.
   * With a paravirtual interface the hypervisor programs the device; otherwise the guest
   * writes address/data into the MSI-X table through its BAR mapping and unmasks.
   */
  enableMsix(bus: GuestPciBus, fn: GuestPciFunction, count: number): number[] {
    const cap = findCapability(fn, CapId.MsiX);
    if (cap < 0) throw new VhwError('E_NOT_FOUND', `guest: ${fn.name} has no MSI-X capability`);
    const ctl = fn.configRead(cap + 2, 2);
    const size = (ctl & 0x7ff) + 1;
    if (count > size) throw new VhwError('E_RANGE', `guest: ${fn.name} has ${size} MSI-X vectors, asked for ${count}`);
    fn.configWrite(Cfg.Command, 2, fn.configRead(Cfg.Command, 2) | Command.Memory | Command.BusMaster);
    if (fn.paravirtMsi) return fn.paravirtMsi(count);
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
   * The guest's EEH core, run when a driver saw all-ones or a device stopped answering
   * (as eeh_dev_check_failure() is): if the function's PE is frozen, recover the PE and
   * tell every driver of a function in it to re-initialise. Returns whether it recovered.
   */
  handleEeh(bus: GuestPciBus, device: string, drivers: readonly GuestDriver[]): boolean {
    const fn = bus.find(device);
    const eeh = fn.eeh;
    if (!eeh?.frozen()) return false;
    // Like Linux's EEH core: recover, let the drivers re-initialise; if the PE froze again
    // meanwhile, try again, up to a limit (eeh_max_freezes), then leave the PE failed.
    for (let attempt = 0; attempt < GuestOs.maxEehAttempts; attempt++) {
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
    this.eehGaveUp++;
    return false;
  }

  /** Recoveries of one freeze the guest tries before it gives up on the PE. */
  static maxEehAttempts = 5;
  /** PEs the guest gave up on (their drivers keep failing operations). */
  eehGaveUp = 0;
}

/** Walks the capability list; returns the offset of capability `id` or -1. */
export function findCapability(fn: Pick<GuestPciFunction, 'configRead'>, id: number): number {
  let p = fn.configRead(Cfg.CapabilitiesPointer, 1);
  for (let guard = 0; p !== 0 && guard < 48; guard++) {
    if (fn.configRead(p, 1) === id) return p;
    p = fn.configRead(p + 1, 1);
  }
  return -1;
}
