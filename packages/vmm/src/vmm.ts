import {
  AddressSpace,
  type CostModel,
  type GuestCpu,
  type GuestMemory,
  type MachineEvents,
  type MmioHandler,
  type Mmu,
  type Platform,
  type SimClock,
  type Stats,
  type TrapHandler,
  VhwError,
  hex,
} from '@vhw/core';
import type { GuestBar, GuestEeh, GuestPciBus, GuestPciFunction } from '@vhw/guest';
import { Cfg, type HostBridge, MSIX_CAP_OFFSET, packBars } from '@vhw/pci';
import {
  Reason,
  VFIO_PCI_CONFIG_REGION_INDEX,
  VFIO_REGION_INFO_FLAG_MMAP,
  type VfioDeviceInfo,
  type VfioMapping,
  type VfioPciDevice,
  type VfioPciDriver,
  type VfioRegionInfo,
  readMsixLayout,
} from '@vhw/vfio-pci';
import { MsixEmulator } from './msix-emulation.js';
import { type BarPlan, type PlannedArea, planBar } from './plan.js';

export type GuestBarPlacement = 'page-aligned' | 'natural';

export interface VmmOptions {
  /** How the guest's firmware places BARs: on host-page boundaries, or packed with natural alignment. */
  guestBarPlacement: GuestBarPlacement;
  /** Window for 64-bit BARs. */
  guestMmioBase: number;
  guestMmioSize: number;
  /** Window below 4 GiB for 32-bit BARs. */
  guestMmio32Base: number;
  guestMmio32Size: number;
  /** vfio-no-msix-emulation: 'machine' reads the machine property, or force it. */
  noMsixEmulation: 'machine' | boolean;
  /** Where guest MSI writes go (the virtual interrupt controller). */
  guestMsiAddress: number;
}

/** The VMM's state for one passed-through BAR. */
export interface PassthroughBar {
  readonly device: string;
  readonly index: number;
  readonly size: number;
  readonly hostAddress: number;
  guestAddress: number;
  region: VfioRegionInfo;
  plan: BarPlan;
  /** Names of the VMM regions and MMU mappings installed for this BAR. */
  installed: { regions: string[]; directs: string[]; trapPages: number[] };
}

/** Guest config accesses and RTAS calls handled (they exit like a trap, but are not MMIO). */
export interface VmmCounters {
  configAccesses: number;
  rtasCalls: number;
  barMoves: number;
  /** Guest BAR moves onto something else (another BAR, RAM): the BAR stays unmapped until moved away. */
  barConflicts: number;
  isolationChecks: number;
}

const BAR_REGION_CONSTRAINTS = { valid: { sizes: [1, 2, 4, 8] as const }, impl: { min: 1 as const, max: 4 as const } };

/**
 * The VMM (QEMU's role) for passed-through PCI functions. It decides only from what
 * vfio reports (device flags, region flags, capabilities): mmappable areas become
 * direct guest mappings when they cover whole host pages, the rest traps and is served
 * through the fd, through its own mmap, or by the MSI-X emulation. Every direct mapping
 * is checked for isolation before it is installed. It is the CPU's trap handler.
 */
export class Vmm implements TrapHandler, GuestPciBus {
  high = 0;
  readonly space: AddressSpace;
  readonly functions: PassthroughFunction[] = [];
  readonly bars: PassthroughBar[] = [];
  readonly counters: VmmCounters = { configAccesses: 0, rtasCalls: 0, barMoves: 0, barConflicts: 0, isolationChecks: 0 };
  readonly pageSize: number;
  readonly noMsixEmulation: boolean;
  readonly paravirtMsi: boolean;
  private readonly trapPageUsers = new Map<number, number>();
  private readonly dispatchNs: number;
  readonly exitNs: number;
  readonly devReadNs: number;
  readonly devWriteNs: number;
  readonly msixWriteNs: number;
  private readonly unassignedReason: number;
  private readonly unmappedReason: number;
  private nextParavirtVector = 0x1000;

  constructor(
    readonly options: VmmOptions,
    readonly deps: {
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
    },
  ) {
    this.pageSize = deps.mmu.pageSize;
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
    this.dispatchNs = deps.costs.ns('qemu.mmioDispatchCycles');
    this.exitNs = deps.costs.userspaceExitNs;
    this.devReadNs = deps.costs.ns('dev.mmioReadNs');
    this.devWriteNs = deps.costs.ns('dev.mmioWriteNs');
    this.msixWriteNs = deps.costs.ns('qemu.msixTableWriteCycles');
    this.unassignedReason = deps.stats.reasonId(Reason.Unassigned);
    this.unmappedReason = deps.stats.reasonId('unmapped');
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
    this.placeGuestBars();
    this.space.transaction(() => {
      for (const bar of this.bars) this.installBar(bar);
    });
    cpu.setTrapHandler(this);
  }

  /** Guest firmware's BAR placement in the guest MMIO window. */
  private placeGuestBars(): void {
    const requests: Array<{ key: string; size: number; fn: PassthroughFunction; region: VfioRegionInfo; is64: boolean }> = [];
    for (const fn of this.functions) {
      for (let i = 0; i <= 5; i++) {
        const region = fn.dev.getRegionInfo(i);
        const assigned = fn.dev.fn.bar(i);
        if (region.size === 0 || !assigned) continue;
        requests.push({ key: `${fn.name}:BAR${i}`, size: region.size, fn, region, is64: fn.barIs64(i) });
      }
    }
    const minAlign = this.options.guestBarPlacement === 'page-aligned' ? this.pageSize : 0;
    // 64-bit BARs above 4 GiB, 32-bit ones in the window below, as guest firmware does.
    const o = this.options;
    const placed = [
      ...packBars(
        { name: 'guest MMIO (64-bit)', base: o.guestMmioBase, size: o.guestMmioSize },
        requests.filter((r) => r.is64),
        minAlign,
      ),
      ...packBars(
        { name: 'guest MMIO (32-bit)', base: o.guestMmio32Base, size: o.guestMmio32Size },
        requests.filter((r) => !r.is64),
        minAlign,
      ),
    ];
    for (const r of requests) {
      const p = placed.find((x) => x.key === r.key)!;
      const index = r.region.index;
      const bar: PassthroughBar = {
        device: r.fn.name,
        index,
        size: r.region.size,
        hostAddress: r.fn.dev.fn.bar(index)!.address,
        guestAddress: p.address,
        region: r.region,
        plan: { areas: [], directs: [], mmapAreas: [], emulatesTable: false, grown: false },
        installed: { regions: [], directs: [], trapPages: [] },
      };
      this.bars.push(bar);
      r.fn.bars.push({ index, gpa: p.address, size: r.region.size });
    }
  }

  private fnOf(bar: PassthroughBar): PassthroughFunction {
    return this.functions.find((f) => f.name === bar.device)!;
  }

  private guestPageShared(bar: PassthroughBar, page: number): boolean {
    return this.bars.some(
      (b) => b !== bar && b.guestAddress >= 0 && b.guestAddress < page + this.pageSize && page < b.guestAddress + b.size,
    );
  }

  /**
   * Plans a BAR from vfio's region info and installs its direct mappings and trap
   * regions; all or nothing (a failure removes what was installed, then rethrows).
   */
  installBar(bar: PassthroughBar): void {
    try {
      this.installBarPieces(bar);
    } catch (e) {
      this.uninstallBar(bar);
      throw e;
    }
  }

  private installBarPieces(bar: PassthroughBar): void {
    const fn = this.fnOf(bar);
    const table = fn.msix && fn.msix.tableBar === bar.index ? { offset: fn.msix.tableOffset, size: fn.msix.vectors * 16 } : undefined;
    const makePlan = (region: VfioRegionInfo) =>
      planBar({
        pageSize: this.pageSize,
        guestAddress: bar.guestAddress,
        region,
        deviceInfo: fn.info,
        msixTable: table,
        noMsixEmulation: this.noMsixEmulation,
        guestPageShared: (page) => this.guestPageShared(bar, page),
        kernelReason: (off) => fn.dev.diagnose(bar.index, off) ?? Reason.MmapFailed,
      });
    let plan = makePlan(bar.region);
    // QEMU mmaps each area; a refused mmap leaves the area on the slow path.
    let mappings: VfioMapping[] = [];
    try {
      mappings = plan.mmapAreas.map((a) => fn.dev.mmap(bar.index, a.offset, Math.ceil(a.size / this.pageSize) * this.pageSize));
    } catch (e) {
      if (!VhwError.is(e, 'E_MMAP_DENIED')) throw e;
      this.deps.events.emit('error', { source: `vmm ${bar.device} BAR${bar.index}`, error: e });
      plan = makePlan({ ...bar.region, flags: bar.region.flags & ~VFIO_REGION_INFO_FLAG_MMAP, caps: [] });
      mappings = [];
    }
    bar.plan = plan;
    const { mmu, stats } = this.deps;

    for (const d of plan.directs) {
      const m = mappings.find((x) => d.offset >= x.offset && d.offset + d.size <= x.offset + x.size)!;
      const hostPa = bar.hostAddress + d.offset;
      this.checkIsolation(fn, hostPa, d.size, bar);
      const name = `${bar.device}:BAR${bar.index}+${hex(d.offset)}`;
      mmu.mapDirect({
        name,
        gpa: bar.guestAddress + d.offset,
        size: d.size,
        hostPa,
        handler: m.handler,
        handlerOffset: m.handlerOffset + (d.offset - m.offset),
        owner: bar.device,
      });
      bar.installed.directs.push(name);
    }

    for (const a of plan.areas) {
      if (a.path === 'direct') continue;
      const name = `${bar.device}:BAR${bar.index}+${hex(a.offset)}`;
      this.space.mapMmio({
        name,
        base: bar.guestAddress + a.offset,
        size: a.size,
        handler: this.trapHandlerFor(fn, bar, a, mappings),
        constraints: BAR_REGION_CONSTRAINTS,
        owner: bar.device,
        tag: stats.reasonId(a.reason),
      });
      bar.installed.regions.push(name);
      // Mark the guest pages of trapped pieces so traps are counted per page with a reason.
      const first = Math.floor((bar.guestAddress + a.offset) / this.pageSize) * this.pageSize;
      for (let page = first; page < bar.guestAddress + a.offset + a.size; page += this.pageSize) {
        if (bar.installed.trapPages.includes(page)) continue;
        const users = this.trapPageUsers.get(page) ?? 0;
        if (users === 0) mmu.mapTrap(`trap@${hex(page)}`, page, this.pageSize, a.reason, bar.device);
        this.trapPageUsers.set(page, users + 1);
        bar.installed.trapPages.push(page);
      }
    }
  }

  /** Removes a BAR's mappings and regions (before a move or at reset). */
  uninstallBar(bar: PassthroughBar): void {
    const { mmu } = this.deps;
    for (const n of bar.installed.directs) mmu.unmap(n);
    this.space.transaction(() => {
      for (const n of bar.installed.regions) this.space.unmap(n);
    });
    for (const page of bar.installed.trapPages) {
      const users = (this.trapPageUsers.get(page) ?? 1) - 1;
      if (users === 0) {
        mmu.unmap(`trap@${hex(page)}`);
        this.trapPageUsers.delete(page);
      } else this.trapPageUsers.set(page, users);
    }
    bar.installed = { regions: [], directs: [], trapPages: [] };
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
    const neighbours = this.bars.filter(
      (b) => b !== bar && b.installed.regions.length + b.installed.directs.length > 0 && (touches(b, oldPages) || touches(b, newPages)),
    );
    for (const b of [bar, ...neighbours]) this.uninstallBar(b);
    bar.guestAddress = guestAddress;
    const fnBar = this.fnOf(bar).bars.find((b) => b.index === bar.index);
    if (fnBar) fnBar.gpa = guestAddress;
    for (const b of neighbours) this.installBar(b);
    try {
      this.installBar(bar);
    } catch (e) {
      if (!VhwError.is(e, 'E_OVERLAP')) throw e;
      // The guest placed the BAR over another BAR or RAM (QEMU lets the other win by
      // priority). Leave this BAR unmapped until the guest moves it somewhere free.
      this.counters.barConflicts++;
      this.deps.events.emit('error', { source: `vmm ${bar.device} BAR${bar.index}`, error: e });
    }
  }

  /**
   * Verifies, before a direct mapping, that the host pages behind it hold only this
   * device's BARs and reservations and lie in its own group's segments: the host's one
   * isolation rule (`HostResources.foreignOwners`), which vfio-pci's mmap also applies.
   * @throws VhwError E_ISOLATION naming what else is in the page.
   */
  private checkIsolation(fn: PassthroughFunction, hostPa: number, size: number, bar: PassthroughBar): void {
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

  private trapHandlerFor(fn: PassthroughFunction, bar: PassthroughBar, a: PlannedArea, mappings: VfioMapping[]): MmioHandler {
    const base = a.offset;
    const dev = fn.dev;
    const index = bar.index;
    const clock = this.deps.clock;
    if (a.via === 'msix-table') {
      const emu = fn.emulator!;
      const tableOffset = fn.msix!.tableOffset;
      const writeNs = this.msixWriteNs;
      return {
        read: (off, size) => emu.readTable(base + off - tableOffset, size),
        write: (off, size, value) => {
          clock.add(writeNs);
          emu.writeTable(base + off - tableOffset, size, value);
        },
      };
    }
    if (a.via === 'qemu-mmap') {
      const m = mappings.find((x) => base >= x.offset && base < x.offset + x.size)!;
      const host = m.handler;
      const hostBase = m.handlerOffset + (base - m.offset);
      const readNs = this.devReadNs;
      const writeNs = this.devWriteNs;
      // The VMM's own mapping: one device access per guest access, 8-byte ones included.
      const mmap: MmioHandler = {
        read: (off, size) => {
          clock.add(readNs);
          return host.read(hostBase + off, size);
        },
        write: (off, size, value) => {
          clock.add(writeNs);
          host.write(hostBase + off, size, value);
        },
        read64: (off) => {
          clock.add(readNs);
          const lo = host.read(hostBase + off, 4);
          mmap.high = host.read(hostBase + off + 4, 4);
          return lo;
        },
        write64: (off, lo, hi) => {
          clock.add(writeNs);
          host.write(hostBase + off, 4, lo);
          host.write(hostBase + off + 4, 4, hi);
        },
        high: 0,
      };
      return mmap;
    }
    // One pread/pwrite per guest access, 8-byte ones included (QEMU's vfio region ops
    // accept up to 8 bytes, and so does vfio_pci_bar_rw()).
    const fd: MmioHandler = {
      read: (off, size) => dev.regionRead(index, base + off, size),
      write: (off, size, value) => dev.regionWrite(index, base + off, size, value),
      read64: (off) => {
        const lo = dev.regionRead(index, base + off, 8);
        fd.high = dev.high;
        return lo;
      },
      write64: (off, lo, hi) => dev.regionWrite(index, base + off, 8, lo, hi),
      high: 0,
    };
    return fd;
  }

  // ---- the trap path: guest exit → VMM dispatch through the flat view ----
  read(gpa: number, size: number, reasonId: number): number {
    this.deps.clock.add(this.dispatchNs);
    const v = this.space.read(gpa, size);
    this.countTrap(reasonId);
    if (size === 8) this.high = this.space.high;
    return v;
  }

  write(gpa: number, size: number, value: number, high: number, reasonId: number): void {
    this.deps.clock.add(this.dispatchNs);
    this.space.write(gpa, size, value, high);
    this.countTrap(reasonId);
  }

  /** Counts the trap by the region it landed in (one lookup: the space remembers its tag). */
  private countTrap(reasonId: number): void {
    const tag = this.space.lastTag;
    this.deps.stats.trapsByReasonCounts[tag >= 0 ? tag : reasonId === this.unmappedReason ? reasonId : this.unassignedReason]++;
  }

  /** A guest exit that is not MMIO (config access, RTAS call): charge exit and dispatch. */
  chargeExit(): void {
    this.deps.clock.add(this.exitNs + this.dispatchNs);
  }

  allocParavirtVector(): number {
    return this.nextParavirtVector++;
  }

  /** Where an access to `gpa` goes, for `vhw explain`. */
  explain(
    gpa: number,
  ): { bar: PassthroughBar; offset: number; area: PlannedArea; hostPa: number; guestPage: number; hostPage: number } | undefined {
    const bar = this.bars.find((b) => gpa >= b.guestAddress && gpa < b.guestAddress + (b.plan.grown ? this.pageSize : b.size));
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

/** A passed-through function as the guest sees it: emulated config space over vfio's, and MSI-X. */
export class PassthroughFunction implements GuestPciFunction {
  readonly name: string;
  readonly vendorId: number;
  readonly deviceId: number;
  readonly bars: GuestBar[] = [];
  readonly info: VfioDeviceInfo;
  readonly msix: ReturnType<typeof readMsixLayout>;
  readonly emulator: MsixEmulator | undefined;
  readonly paravirtMsi: ((count: number) => number[]) | undefined;
  readonly eeh: GuestEeh | undefined;
  private barSizing = 0; // bit i: BAR i is being sized
  private msixControl = 0;
  /** The low flag bits of each host BAR register, read from config space (type, prefetch). */
  private readonly barFlags = new Uint8Array(6);

  constructor(
    private readonly vmm: Vmm,
    readonly dev: VfioPciDevice,
  ) {
    this.name = dev.name;
    this.info = dev.getDeviceInfo();
    this.vendorId = dev.regionRead(VFIO_PCI_CONFIG_REGION_INDEX, Cfg.VendorId, 2);
    this.deviceId = dev.regionRead(VFIO_PCI_CONFIG_REGION_INDEX, Cfg.DeviceId, 2);
    this.msix = readMsixLayout(dev);
    for (let i = 0; i < 6; i++) this.barFlags[i] = dev.regionRead(VFIO_PCI_CONFIG_REGION_INDEX, Cfg.Bar0 + i * 4, 4) & 0xf;
    const { cpu } = vmm.deps;
    this.emulator = this.msix ? new MsixEmulator(this.msix.vectors, vmm.options.guestMsiAddress, (v) => cpu.raiseInterrupt(v)) : undefined;
    this.paravirtMsi = vmm.paravirtMsi && this.msix ? (count) => this.rtasChangeMsi(count) : undefined;
    const bridge = vmm.deps.bridge;
    const group = dev.fn.group;
    this.eeh = bridge.eeh
      ? {
          pe: group.id,
          frozen: () => {
            vmm.chargeExit();
            return group.frozen;
          },
          recover: () => {
            vmm.counters.rtasCalls++;
            vmm.chargeExit();
            bridge.recover(group.id);
            for (const d of vmm.deps.vfio.devices) if (d.fn.group === group) d.restoreAfterPlatformReset();
          },
        }
      : undefined;
  }

  /** Whether BAR `i` is a 64-bit memory BAR (as its config register says). */
  barIs64(i: number): boolean {
    return (this.barFlags[i] & 0x7) === 0x4;
  }

  private bar(index: number): PassthroughBar | undefined {
    return this.vmm.bars.find((b) => b.device === this.name && b.index === index);
  }

  configRead(offset: number, size: 1 | 2 | 4): number {
    this.vmm.counters.configAccesses++;
    this.vmm.chargeExit();
    const barIdx = (offset - Cfg.Bar0) >> 2;
    if (offset >= Cfg.Bar0 && offset < Cfg.Bar0 + 24) {
      const word = this.barRegister(barIdx);
      const v = word >>> ((offset & 3) * 8);
      return size === 4 ? v >>> 0 : v & ((1 << (size * 8)) - 1);
    }
    const m = this.msix;
    if (m && offset < MSIX_CAP_OFFSET + 4 && MSIX_CAP_OFFSET + 2 < offset + size) {
      // Any access touching the message control sees the emulated one (dword reads at the
      // capability start included); the capability id and next pointer are the device's.
      const ctl = (this.msixControl & 0xc000) | (m.vectors - 1);
      const word = (this.dev.regionRead(VFIO_PCI_CONFIG_REGION_INDEX, MSIX_CAP_OFFSET, 2) | (ctl << 16)) >>> 0;
      const v = word >>> ((offset - MSIX_CAP_OFFSET) * 8);
      return size === 4 ? v >>> 0 : v & ((1 << (size * 8)) - 1);
    }
    return this.dev.regionRead(VFIO_PCI_CONFIG_REGION_INDEX, offset, size);
  }

  /** The guest-visible BAR register (address | flags, or the size mask while sizing). */
  private barRegister(i: number): number {
    // The upper half of a 64-bit BAR.
    const lower = this.bar(i - 1);
    if (lower && this.barIs64(i - 1)) {
      if ((this.barSizing & (1 << (i - 1))) === 0) return Math.floor(lower.guestAddress / 2 ** 32) >>> 0;
      return lower.size > 2 ** 32 ? ~(lower.size / 2 ** 32 - 1) >>> 0 : 0xffffffff;
    }
    const b = this.bar(i);
    if (!b) return 0;
    const flags = this.barFlags[i];
    if ((this.barSizing & (1 << i)) !== 0) return ((b.size >= 2 ** 32 ? 0 : ~(b.size - 1) & 0xfffffff0) | flags) >>> 0;
    return ((b.guestAddress % 2 ** 32) | flags) >>> 0;
  }

  configWrite(offset: number, size: 1 | 2 | 4, value: number): void {
    this.vmm.counters.configAccesses++;
    this.vmm.chargeExit();
    if (offset >= Cfg.Bar0 && offset < Cfg.Bar0 + 24 && size === 4) {
      this.writeBar((offset - Cfg.Bar0) >> 2, value >>> 0);
      return;
    }
    const m = this.msix;
    if (m && offset < MSIX_CAP_OFFSET + 4 && MSIX_CAP_OFFSET + 2 < offset + size) {
      // The written bytes that fall on the message control (the rest is read-only).
      let ctl = this.msixControl & 0xffff;
      for (let b = 0; b < size; b++) {
        const at = offset + b - (MSIX_CAP_OFFSET + 2);
        if (at !== 0 && at !== 1) continue;
        const byte = Math.floor(value / 2 ** (8 * b)) & 0xff;
        ctl = (ctl & ~(0xff << (at * 8))) | (byte << (at * 8));
      }
      this.setMsixControl(ctl & 0xc000);
      return;
    }
    this.dev.regionWrite(VFIO_PCI_CONFIG_REGION_INDEX, offset, size, value);
  }

  private writeBar(i: number, value: number): void {
    const isUpper = i > 0 && this.bar(i - 1) !== undefined && this.barIs64(i - 1);
    const idx = isUpper ? i - 1 : i;
    const b = this.bar(idx);
    if (!b) return;
    if (value === 0xffffffff) {
      this.barSizing |= 1 << idx;
      return;
    }
    this.barSizing &= ~(1 << idx);
    const cur = b.guestAddress;
    const next = isUpper ? (cur % 2 ** 32) + value * 2 ** 32 : Math.floor(cur / 2 ** 32) * 2 ** 32 + (value >>> 0);
    // Only the address bits a BAR of this size implements are writable.
    const masked = next - (next % Math.max(b.size, 16));
    if (masked !== cur) this.vmm.moveBar(b, masked);
  }

  private setMsixControl(ctl: number): void {
    const wasEnabled = (this.msixControl & 0x8000) !== 0;
    this.msixControl = ctl;
    const enabled = (ctl & 0x8000) !== 0;
    if (this.emulator) {
      if (enabled && !wasEnabled && !this.vmm.noMsixEmulation) {
        const emu = this.emulator;
        this.dev.setMsixIrqs(Array.from({ length: emu.vectors }, () => (v: number) => emu.fire(v)));
      } else if (!enabled && wasEnabled) this.dev.setMsixIrqs([]);
      this.emulator.setControl(enabled, (ctl & 0x4000) !== 0);
    }
  }

  /** RTAS ibm,change-msi: the hypervisor sets up `count` MSI-X vectors and returns the guest's numbers. */
  private rtasChangeMsi(count: number): number[] {
    this.vmm.counters.rtasCalls++;
    this.vmm.chargeExit();
    const m = this.msix!;
    if (!Number.isInteger(count) || count < 0 || count > m.vectors) {
      throw new VhwError('E_RANGE', `RTAS ibm,change-msi for ${this.name}: ${String(count)} vectors; allowed: 0..${m.vectors}`);
    }
    const vectors = Array.from({ length: count }, () => this.vmm.allocParavirtVector());
    const { cpu } = this.vmm.deps;
    this.dev.setMsixIrqs(vectors.map((v) => () => cpu.raiseInterrupt(v)));
    this.msixControl = count > 0 ? 0x8000 : 0;
    return vectors;
  }

  reset(): void {
    // The guest starts over: its MSI-X set-up is gone, so the host vectors are given back.
    if (this.dev.msixIrqs.length > 0) this.dev.setMsixIrqs([]);
    this.emulator?.reset();
    this.msixControl = 0;
    this.barSizing = 0;
  }
}
