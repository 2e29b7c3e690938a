import {
  AddressSpace,
  type Charge,
  type ChargeSpec,
  type CostModel,
  DEVICE_READ,
  DEVICE_WRITE,
  type GuestCpu,
  type GuestMemory,
  type MachineEvents,
  type Mmu,
  type Platform,
  type SimClock,
  type Stats,
  type TrapHandler,
  type UnassignedReason,
  USERSPACE_EXIT,
  VhwError,
  hex,
  inject,
  injectable,
  token,
} from '@vhw/core';
import type { GuestPciBus, GuestPciFunction } from '@vhw/guest';
import type { HostBridge } from '@vhw/pci';
import { Reason, type VfioPciDriver } from '@vhw/vfio-pci';
import { type GuestMmioWindows, placeGuestBars } from './guest-bar-placement.js';
import type { MsixRelocationOptions } from './msix-relocation.js';
import { type AreaReport, PassthroughBar } from './passthrough-bar.js';
import { PassthroughFunction } from './passthrough-function.js';
import type { PlannedArea } from './plan.js';
import { vmmPolicy } from './policies.js';
import type { VmmPolicy, VmmRefusal } from './policy.js';
import { TrapPages } from './trap-pages.js';
import { FdTrapPage, type TrapRegionCharges, VfioFdRegion } from './trap-regions.js';

/** Options of the VMM: the guest's MMIO windows and BAR placement, and its MSI set-up. */
export interface VmmOptions extends GuestMmioWindows, MsixRelocationOptions {
  /** vfio-no-msix-emulation: 'machine' reads the machine property, or force it. */
  noMsixEmulation: 'machine' | boolean;
  /** Where guest MSI writes go (the virtual interrupt controller). */
  guestMsiAddress: number;
  /** Which VMM's rules build the guest view (`--vmm`): a `VmmPolicy` id; `qemu` when absent. */
  policy?: string;
}

/** A VMM's refusal of a passed-through device: "rejected by VMM X: why" (the run measures nothing). */
export interface VmmRejection extends VmmRefusal {
  /** The policy that refused. */
  readonly vmm: string;
  /** The passed-through function it refused. */
  readonly device: string;
}
/** The VMM plugin's validated options, bound by its module for the Vmm to inject. */
export const VmmOptionsToken = token<VmmOptions>('vhw.VmmOptions');

/** Guest config accesses and RTAS calls handled (they exit like a trap, but are not MMIO). */
export interface VmmCounters {
  configAccesses: number;
  rtasCalls: number;
  /** RTAS calls answered with an error status (an argument the firmware refuses). */
  rtasErrors: number;
  barMoves: number;
  /** Guest BAR moves onto something else (another BAR, RAM): the BAR stays unmapped until moved away. */
  barConflicts: number;
  /**
   * Guest BAR moves outside the guest's MMIO windows (above them, or across an edge): the
   * windows do not decode the BAR there, so it stays unmapped until moved back in.
   */
  barsOutsideWindows: number;
  isolationChecks: number;
}

/** What the VMM made of one passed-through BAR: its planned areas, in order, with their traps. */
export interface BarReport {
  readonly bar: PassthroughBar;
  readonly areas: readonly AreaReport[];
}

/** QEMU's memory-API dispatch of one trapped access (or one config access, RTAS call). */
export const VMM_DISPATCH: ChargeSpec = { name: 'vmm.dispatch', parameters: ['qemu.mmioDispatchCycles'] };
/** One MSI-X table write the VMM emulates. */
export const VMM_MSIX_TABLE_WRITE: ChargeSpec = { name: 'vmm.msixTableWrite', parameters: ['qemu.msixTableWriteCycles'] };

/** The services the VMM uses. */
export interface VmmDeps {
  cpu: GuestCpu;
  mmu: Mmu;
  stats: Stats;
  clock: SimClock;
  costs: CostModel;
  events: MachineEvents;
  vfio: VfioPciDriver;
  bridge: HostBridge;
  memory: GuestMemory;
  platform: Platform;
}
/** The machine services the VMM works with, gathered in one record. */
export const VmmDepsToken = token<VmmDeps>('vhw.VmmDeps');

/**
 * The VMM (QEMU's role) for passed-through PCI functions. It decides only from what
 * vfio reports (device flags, region flags, capabilities): each `PassthroughBar` maps its
 * mmappable areas direct when they cover whole host pages and installs trap regions for
 * the rest, served through the fd, through its own mmap, or by the MSI-X emulation. Every
 * direct mapping is checked for isolation before it is installed. The VMM itself is the
 * CPU's trap handler: it dispatches each trapped access through its flat view, counts the
 * trap by reason and charges the exit.
 */
@injectable()
export class Vmm implements TrapHandler, GuestPciBus {
  high = 0;
  readonly space: AddressSpace;
  readonly functions: PassthroughFunction[] = [];
  readonly bars: PassthroughBar[] = [];
  readonly counters: VmmCounters = {
    configAccesses: 0,
    rtasCalls: 0,
    rtasErrors: 0,
    barMoves: 0,
    barConflicts: 0,
    barsOutsideWindows: 0,
    isolationChecks: 0,
  };
  readonly pageSize: number;
  readonly noMsixEmulation: boolean;
  readonly paravirtMsi: boolean;
  /** The VMM whose rules build the guest view (QEMU's unless `policy` names another). */
  readonly policy: VmmPolicy;
  /** The policy's refusal of a device, when it refused one: then no BAR is mapped and no workload runs. */
  rejection: VmmRejection | undefined;
  /** The guest pages marked to trap for the BARs' trap regions. */
  readonly trapPages: TrapPages;
  /** What its trap regions charge (read by each `PassthroughBar` when it installs them). */
  readonly charges: TrapRegionCharges;
  private readonly dispatch: Charge;
  /** A guest exit that is not MMIO: the userspace exit and the dispatch, as one addition. */
  private readonly exitAndDispatch: Charge;
  private readonly unassignedReason: number;
  private readonly unmappedReason: number;
  private nextParavirtVector = 0x1000;

  constructor(
    @inject(VmmOptionsToken) readonly options: VmmOptions,
    @inject(VmmDepsToken) readonly deps: VmmDeps,
  ) {
    this.pageSize = deps.mmu.pageSize;
    this.policy = vmmPolicy(options.policy ?? 'qemu');
    const knob = this.policy.relocationKnob;
    if (knob !== true && (options.msixRelocation ?? 'off') !== 'off') {
      throw new VhwError(
        'E_CONFIG',
        `vmm ${this.policy.id}: --msix-relocation ${options.msixRelocation} is QEMU's x-msix-relocation; ${knob}; allowed with this VMM: off`,
      );
    }
    this.trapPages = new TrapPages(deps.mmu, this.pageSize);
    this.space = new AddressSpace('vmm:guest-mmio', deps.platform.unassignedPolicy);
    this.space.onUnassigned = (space, addr, size, isWrite, reason) => {
      deps.stats.unassigned++;
      if (deps.events.tracing) deps.events.emit('unassigned', { space, addr, size, isWrite, reason });
    };
    this.paravirtMsi = deps.platform.guestMsiSetup === 'rtas';
    this.noMsixEmulation = options.noMsixEmulation === 'machine' ? deps.platform.vfioNoMsixEmulation : options.noMsixEmulation;
    if (this.noMsixEmulation && !this.paravirtMsi) {
      throw new VhwError(
        'E_CONFIG',
        `vmm: noMsixEmulation needs a machine whose guests set up MSIs paravirtually (pSeries RTAS ibm,change-msi); platform "${deps.platform.name}" has none; allowed here: false or "machine"`,
      );
    }
    const meter = deps.clock.meter;
    this.dispatch = meter.resolve(VMM_DISPATCH, deps.costs);
    this.exitAndDispatch = meter.combine([meter.resolve(USERSPACE_EXIT, deps.costs), this.dispatch]);
    this.charges = {
      deviceRead: meter.resolve(DEVICE_READ, deps.costs),
      deviceWrite: meter.resolve(DEVICE_WRITE, deps.costs),
      msixTableWrite: meter.resolve(VMM_MSIX_TABLE_WRITE, deps.costs),
    };
    this.unassignedReason = deps.stats.reasonId(Reason.Unassigned);
    this.unmappedReason = deps.stats.reasonId('unmapped');
    // Each trapped page's handler is resolved ahead of time from the region behind it, and
    // again whenever the regions change.
    this.trapPages.resolveWith((page) => this.trapPageHandler(page));
    this.space.onChange(() => this.trapPages.resolveAll());
  }

  /**
   * The handler a trapped guest page's accesses exit to, resolved ahead of time: the page's
   * vfio fd region when it is the only region in the page (see `FdTrapPage`); none (the
   * VMM's dispatch through its flat view) otherwise.
   */
  private trapPageHandler(page: number): TrapHandler | undefined {
    const regions = this.space.intersecting(page, this.pageSize);
    const r = regions[0];
    if (regions.length !== 1 || r === undefined || !(r.handler instanceof VfioFdRegion)) return undefined;
    return new FdTrapPage(r, r.handler, this.dispatch, this.deps.stats, this);
  }

  get msiAddress(): number {
    return this.options.guestMsiAddress;
  }

  find(name: string): GuestPciFunction {
    const f = this.functions.find((x) => x.name === name);
    if (!f)
      throw new VhwError(
        'E_NOT_FOUND',
        `guest PCI bus: no device "${name}"; devices: ${this.functions.map((x) => x.name).join(', ') || 'none'}`,
      );
    return f;
  }

  /** Builds the guest view of every device bound to vfio-pci. */
  realize(): void {
    const { vfio, memory, cpu } = this.deps;
    for (const dev of vfio.devices) this.functions.push(new PassthroughFunction(this, dev));
    // DMA: guest RAM mapped at IOVA = GPA in each passed-through group's IOMMU (VFIO_IOMMU_MAP_DMA).
    const groups = new Set(vfio.devices.map((d) => d.fn.group));
    for (const g of groups) for (const block of memory.entries) g.iommu.map(block.base, block.size, block.base);
    cpu.setTrapHandler(this);
    // The VMM admits each device first (its MSI-X geometry): a refused device fails the VM.
    for (const fn of this.functions) {
      const refusal = this.policy.admit(fn.policyView(), this.pageSize);
      if (refusal) {
        this.rejection = { ...refusal, vmm: this.policy.id, device: fn.name };
        return;
      }
    }
    for (const p of placeGuestBars(this.functions, this.options, this.pageSize)) {
      const bar = new PassthroughBar(this, p.fn, p.region, p.hostAddress, p.guestAddress, p.size);
      this.bars.push(bar);
      p.fn.attachBar(bar);
    }
    this.space.transaction(() => {
      for (const bar of this.bars) {
        try {
          bar.install();
        } catch (e) {
          if (!bar.refusal) throw e;
          this.rejection = { ...bar.refusal, bar: bar.index, vmm: this.policy.id, device: bar.device };
          break;
        }
      }
      // A refused BAR fails the device and so the VM: nothing of the guest view stays.
      if (this.rejection) for (const bar of this.bars) bar.uninstall();
    });
  }

  /** Whether another guest BAR lies in the guest page at `page` (so `bar` cannot map it whole). */
  guestPageShared(bar: PassthroughBar, page: number): boolean {
    return this.bars.some(
      (b) => b !== bar && b.guestAddress >= 0 && b.guestAddress < page + this.pageSize && page < b.guestAddress + b.size,
    );
  }

  /** The guest moved a BAR (config write): re-plan it at the new address, as QEMU does. */
  moveBar(bar: PassthroughBar, guestAddress: number): void {
    this.counters.barMoves++;
    // Every BAR sharing a guest page with the old or the new place is planned again: a
    // neighbour that was grown to the whole page must shrink (QEMU re-adds grown BARs at
    // priority 0, so the other BAR wins), and one that is left alone may grow again.
    const P = this.pageSize;
    const pagesOf = (b: PassthroughBar, at: number) => ({ lo: Math.floor(at / P) * P, hi: Math.ceil((at + Math.max(b.size, 1)) / P) * P });
    const oldPages = pagesOf(bar, bar.guestAddress);
    const newPages = pagesOf(bar, guestAddress);
    const touches = (b: PassthroughBar, r: { lo: number; hi: number }) => b.guestAddress < r.hi && r.lo < b.guestAddress + b.size;
    const neighbours = this.bars.filter((b) => b !== bar && b.mapped && (touches(b, oldPages) || touches(b, newPages)));
    for (const b of [bar, ...neighbours]) b.uninstall();
    bar.guestAddress = guestAddress;
    bar.fn.barMoved(bar);
    for (const b of neighbours) b.install();
    if (!this.windowsDecode(bar.guestAddress, bar.size)) {
      // The guest's host bridge windows do not reach the BAR there (QEMU: the BAR's region
      // lies outside the window aliases into system memory): nothing to map. Accesses to
      // where it was go to the unassigned policy like any other unmapped address.
      this.counters.barsOutsideWindows++;
    } else this.installOrYield(bar);
    // A BAR left unmapped on top of another one may be free now that something moved.
    for (const b of this.bars) if (b !== bar && !b.mapped && this.windowsDecode(b.guestAddress, b.size)) this.installOrYield(b, false);
  }

  /** Whether `[at, at + size)` lies wholly inside one of the guest's MMIO windows (and below 2^53). */
  private windowsDecode(at: number, size: number): boolean {
    const o = this.options;
    const end = at + size;
    if (!Number.isSafeInteger(end)) return false;
    return (
      (at >= o.guestMmioBase && end <= o.guestMmioBase + o.guestMmioSize) ||
      (at >= o.guestMmio32Base && end <= o.guestMmio32Base + o.guestMmio32Size)
    );
  }

  /**
   * Installs `bar` where the guest put it, unless it lies over another BAR or RAM: then
   * (QEMU lets the other win by priority) it stays unmapped until one of them moves.
   * @param count whether a refusal counts as a new conflict (not when retrying an old one).
   */
  private installOrYield(bar: PassthroughBar, count = true): void {
    try {
      bar.install();
    } catch (e) {
      if (!VhwError.is(e, 'E_OVERLAP')) throw e;
      if (!count) return;
      this.counters.barConflicts++;
      this.deps.events.emit('error', { source: `vmm ${bar.device} BAR${bar.index}`, error: e });
    }
  }

  /** Counts a guest config access no function decodes, as any unassigned access (reported while tracing). */
  configUnassigned(space: string, offset: number, size: number, isWrite: boolean, reason: UnassignedReason): void {
    const { stats, events } = this.deps;
    stats.unassigned++;
    if (events.tracing) events.emit('unassigned', { space, addr: offset, size, isWrite, reason });
  }

  /**
   * Verifies, before a direct mapping, that the host pages behind it hold only this
   * device's BARs and reservations and lie in its own group's segments: the host's one
   * isolation rule (`HostResources.foreignOwners`), which vfio-pci's mmap also applies.
   * Each `PassthroughBar` runs it before installing a direct mapping.
   * @throws VhwError E_ISOLATION naming what else is in the page.
   */
  checkIsolation(fn: PassthroughFunction, hostPa: number, size: number, bar: PassthroughBar): void {
    this.counters.isolationChecks++;
    const own = fn.dev.fn;
    const o = this.deps.bridge.resources.foreignOwners(hostPa, size, { name: own.name, group: own.group.id })[0];
    if (o) {
      throw new VhwError(
        'E_ISOLATION',
        `vmm: refusing to map ${bar.device} BAR${bar.index} host [${hex(hostPa)}, ${hex(hostPa + size)}) direct: it holds ${o.kind} of ${o.owner}${o.bar !== undefined ? ` BAR${o.bar}` : ''} at ${hex(o.base)}`,
      );
    }
  }

  // ---- the trap path: guest exit → VMM dispatch through the flat view → the region's ops ----
  read(gpa: number, size: number, reasonId: number): number {
    this.dispatch.add();
    const v = this.space.read(gpa, size);
    this.countTrap(reasonId);
    if (size === 8) this.high = this.space.high;
    return v;
  }

  write(gpa: number, size: number, value: number, high: number, reasonId: number): void {
    this.dispatch.add();
    this.space.write(gpa, size, value, high);
    this.countTrap(reasonId);
  }

  /** Counts the trap by the region it landed in (one lookup: the space remembers its tag). */
  private countTrap(reasonId: number): void {
    const tag = this.space.lastTag;
    this.deps.stats.countTrap(tag >= 0 ? tag : reasonId === this.unmappedReason ? reasonId : this.unassignedReason);
  }

  /** A guest exit that is not MMIO (config access, RTAS call): charge exit and dispatch. */
  chargeExit(): void {
    this.exitAndDispatch.add();
  }

  allocParavirtVector(): number {
    return this.nextParavirtVector++;
  }

  /**
   * Per passed-through BAR, its planned areas (offset, size, path, via, reason) with the
   * traps each took since the last `space.resetCounts()`: the VMM's own per-area report, so
   * nobody outside needs the names of its regions.
   * @returns one entry per BAR, in `bars` order.
   */
  barReport(): BarReport[] {
    return this.bars.map((bar) => ({ bar, areas: bar.report() }));
  }

  /** Where an access to `gpa` goes, for `vhw explain`. */
  explain(
    gpa: number,
  ): { bar: PassthroughBar; offset: number; area: PlannedArea; hostPa: number; guestPage: number; hostPage: number } | undefined {
    // Only a mapped BAR answers there: one the guest left outside its windows, or under
    // another BAR, does not.
    const bar = this.bars.find((b) => b.mapped && gpa >= b.guestAddress && gpa < b.guestAddress + (b.plan.grown ? this.pageSize : b.size));
    if (!bar) return undefined;
    const offset = gpa - bar.guestAddress;
    // Past the end of a grown sub-page BAR the guest still reaches the host page directly,
    // but nothing decodes it there: a master abort (on PPC64 an EEH freeze).
    const area = bar.plan.areas.find((a) => offset >= a.offset && offset < a.offset + a.size) ?? {
      offset: bar.size,
      size: this.pageSize - bar.size,
      path: 'direct' as const,
      via: 'kvm' as const,
      reason: Reason.Unassigned,
    };
    const hostPa = bar.hostAddress + offset;
    return {
      bar,
      offset,
      area,
      hostPa,
      guestPage: Math.floor(gpa / this.pageSize) * this.pageSize,
      hostPage: Math.floor(hostPa / this.pageSize) * this.pageSize,
    };
  }

  /** Re-checks every installed direct mapping against the host's owners; returns the violations. */
  audit(): string[] {
    const out: string[] = [];
    for (const m of this.deps.mmu.entries) {
      if (m.kind !== 1) continue;
      const fn = this.functions.find((f) => f.name === m.owner);
      if (!fn) {
        out.push(`${m.name}: direct mapping with no passed-through owner`);
        continue;
      }
      for (const o of this.deps.bridge.resources.foreignOwners(m.hostPa, m.size, { name: fn.name, group: fn.dev.fn.group.id })) {
        out.push(`${m.name}: host [${hex(m.hostPa)}, ${hex(m.hostPa + m.size)}) holds ${o.kind} of ${o.owner}`);
      }
    }
    return out;
  }

  reset(): void {
    for (const fn of this.functions) fn.reset();
  }
}
