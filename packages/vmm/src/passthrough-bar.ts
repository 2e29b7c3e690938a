import { type AddressSpace, type MachineEvents, type Mmu, type SimClock, type Stats, VhwError, hex } from '@vhw/core';
import { VFIO_REGION_INFO_FLAG_MMAP, type VfioMapping, type VfioRegionInfo } from '@vhw/vfio-pci';
import type { PassthroughFunction } from './passthrough-function.js';
import type { BarPlan, PlannedArea } from './plan.js';
import { type VmmPolicy, type VmmRefusal, isRefusal } from './policy.js';
import { VmmReason } from './reasons.js';
import type { TrapPages } from './trap-pages.js';
import { DroppedRegion, MsixPbaRegion, MsixTableRegion, RamDeviceRegion, type TrapRegionCharges, VfioFdRegion } from './trap-regions.js';

const BAR_REGION_CONSTRAINTS = { valid: { sizes: [1, 2, 4, 8] as const }, impl: { min: 1 as const, max: 4 as const } };

/** A planned area of a passed-through BAR with the traps it took (see `PassthroughBar.report`). */
export interface AreaReport extends PlannedArea {
  /** Trapped accesses that landed in the area since the last `space.resetCounts()` (0 for a direct area). */
  readonly traps: number;
}

/** What a passed-through BAR asks of its VMM (the `Vmm`): its services, trap space and rules. */
export interface BarHost {
  readonly deps: { readonly mmu: Mmu; readonly stats: Stats; readonly events: MachineEvents; readonly clock: SimClock };
  /** The VMM's flat-view address space the trap regions go into. */
  readonly space: AddressSpace;
  readonly trapPages: TrapPages;
  readonly pageSize: number;
  readonly noMsixEmulation: boolean;
  /** The VMM's rules the BAR is planned by. */
  readonly policy: VmmPolicy;
  /** What the trap regions charge. */
  readonly charges: TrapRegionCharges;
  /** Whether another guest BAR lies in the guest page at `page`. */
  guestPageShared(bar: PassthroughBar, page: number): boolean;
  /** The isolation rule, run before each direct mapping (throws E_ISOLATION). */
  checkIsolation(fn: PassthroughFunction, hostPa: number, size: number, bar: PassthroughBar): void;
}

/**
 * One passed-through BAR as the VMM maps it into the guest: QEMU's `VFIOBAR` with its
 * `VFIORegion`. From vfio's region info it plans the BAR, mmaps the areas the plan keeps,
 * installs direct guest mappings for whole host pages (after the isolation check) and a trap
 * region for every other piece, and removes them again (before a move, or when installing
 * failed half way).
 */
export class PassthroughBar {
  readonly device: string;
  /** The BAR (and vfio region) index. */
  readonly index: number;
  /** The BAR's size in bytes. */
  readonly size: number;
  /** The flat-view regions and MMU mappings installed for this BAR (by name), and the guest pages it holds marked to trap. */
  installed: { regions: string[]; directs: string[]; trapPages: number[] } = { regions: [], directs: [], trapPages: [] };
  /** How the BAR is mapped, as last planned (empty until installed). */
  plan: BarPlan = { areas: [], directs: [], mmapAreas: [], emulatesTable: false, grown: false };
  /** The VMM's refusal of the BAR at its guest address, when the last install met one. */
  refusal: VmmRefusal | undefined;

  /**
   * @param fn the passed-through function the BAR belongs to.
   * @param region vfio's info for the BAR's region.
   * @param hostAddress where the BAR sits in host MMIO.
   * @param guestAddress where the guest's firmware placed it.
   * @param guestSize its size as the guest sees it (an MSI-X relocation may enlarge or add it).
   */
  constructor(
    private readonly vmm: BarHost,
    readonly fn: PassthroughFunction,
    readonly region: VfioRegionInfo,
    readonly hostAddress: number,
    public guestAddress: number,
    guestSize: number = region.size,
  ) {
    this.device = fn.name;
    this.index = region.index;
    this.size = guestSize;
  }

  /**
   * Plans the BAR from vfio's region info and installs its direct mappings and trap
   * regions; all or nothing (a failure removes what was installed, then rethrows).
   * @throws VhwError E_ISOLATION from the isolation check, E_OVERLAP when the guest address overlaps another region.
   */
  install(): void {
    try {
      this.installPieces();
    } catch (e) {
      this.uninstall();
      throw e;
    }
  }

  /** Whether anything of the BAR is mapped into the guest (false while the guest keeps it where nothing decodes it). */
  get mapped(): boolean {
    return this.installed.regions.length + this.installed.directs.length > 0;
  }

  /** Removes the BAR's mappings and regions (before a move, or after a failed install). */
  uninstall(): void {
    const { mmu } = this.vmm.deps;
    const space = this.vmm.space;
    for (const n of this.installed.directs) mmu.unmap(n);
    space.transaction(() => {
      for (const n of this.installed.regions) space.unmap(n);
    });
    this.vmm.trapPages.release(this.installed.trapPages);
    this.installed = { regions: [], directs: [], trapPages: [] };
  }

  /** The planned areas, in order, each with the traps it took. */
  report(): AreaReport[] {
    const space = this.vmm.space;
    return this.plan.areas.map((a) => ({ ...a, traps: a.path === 'trap' ? space.countOf(this.pieceName(a.offset)) : 0 }));
  }

  /** The name of the direct mapping or trap region installed for the piece at `offset`. */
  private pieceName(offset: number): string {
    return `${this.device}:BAR${this.index}+${hex(offset)}`;
  }

  /**
   * Plans the BAR by the VMM's policy.
   * @throws VhwError E_CONFIG when the policy refuses the BAR (kept in `refusal`).
   */
  private makePlan(region: VfioRegionInfo): BarPlan {
    const { fn, vmm } = this;
    const guest = fn.msix;
    const device = fn.deviceMsix;
    const plan = vmm.policy.planBar({
      index: this.index,
      is64: fn.barIs64(this.index),
      ...(guest && device ? { msix: { guest, device, ...(fn.relocation ? { relocation: fn.relocation } : {}) } } : {}),
      pageSize: vmm.pageSize,
      guestAddress: this.guestAddress,
      region,
      deviceInfo: fn.info,
      ...fn.msixInBar(this.index),
      barSize: this.size,
      noMsixEmulation: vmm.noMsixEmulation,
      guestPageShared: (page) => vmm.guestPageShared(this, page),
      kernelReason: (off) => fn.dev.diagnose(this.index, off) ?? VmmReason.MmapFailed,
    });
    if (isRefusal(plan)) {
      this.refusal = plan;
      throw new VhwError('E_CONFIG', `rejected by VMM ${vmm.policy.id}: ${this.device} BAR${this.index}: ${plan.why}`);
    }
    return plan;
  }

  private installPieces(): void {
    const { fn, vmm } = this;
    this.refusal = undefined;
    const P = vmm.pageSize;
    let plan = this.makePlan(this.region);
    // QEMU mmaps each area; a refused mmap leaves the area on the slow path.
    let mappings: VfioMapping[] = [];
    try {
      mappings = plan.mmapAreas.map((a) => fn.dev.mmap(this.index, a.offset, Math.ceil(a.size / P) * P));
    } catch (e) {
      if (!VhwError.is(e, 'E_MMAP_DENIED')) throw e;
      vmm.deps.events.emit('error', { source: `vmm ${this.device} BAR${this.index}`, error: e });
      plan = this.makePlan({ ...this.region, flags: this.region.flags & ~VFIO_REGION_INFO_FLAG_MMAP, caps: [] });
      mappings = [];
    }
    this.plan = plan;
    const { mmu, stats } = vmm.deps;

    for (const d of plan.directs) {
      // A run of direct pages may span several areas the VMM mmapped one by one (touching
      // sparse areas): one MMU mapping per mmap, as KVM gets one memory slot per mmap.
      let covered = 0;
      for (const m of mappings) {
        const start = Math.max(d.offset, m.offset);
        const end = Math.min(d.offset + d.size, m.offset + m.size);
        if (start >= end) continue;
        covered += end - start;
        const hostPa = this.hostAddress + start;
        vmm.checkIsolation(fn, hostPa, end - start, this);
        const name = this.pieceName(start);
        mmu.mapDirect({
          name,
          gpa: this.guestAddress + start,
          size: end - start,
          hostPa,
          handler: m.handler,
          handlerOffset: m.handlerOffset + (start - m.offset),
          owner: this.device,
        });
        this.installed.directs.push(name);
      }
      if (covered !== d.size) {
        throw new VhwError(
          'E_CONFIG',
          `VMM: ${this.device} BAR${this.index}: a direct run at ${hex(d.offset)} is not inside the areas mmapped`,
        );
      }
    }

    for (const a of plan.areas) {
      if (a.path === 'direct') continue;
      const name = this.pieceName(a.offset);
      vmm.space.mapMmio({
        name,
        base: this.guestAddress + a.offset,
        size: a.size,
        handler: this.trapRegion(a, mappings),
        constraints: BAR_REGION_CONSTRAINTS,
        owner: this.device,
        tag: stats.reasonId(a.reason),
      });
      this.installed.regions.push(name);
      // Mark the guest pages of trapped pieces so traps are counted per page with a reason.
      vmm.trapPages.acquire(this.guestAddress + a.offset, a.size, a.reason, this.device, this.installed.trapPages);
    }
  }

  /** The region type that serves a trapped area, resolved once here rather than per access. */
  private trapRegion(
    a: PlannedArea,
    mappings: readonly VfioMapping[],
  ): MsixTableRegion | MsixPbaRegion | DroppedRegion | RamDeviceRegion | VfioFdRegion {
    const vmm = this.vmm;
    const charges = vmm.charges;
    if (a.via === 'msix-table') return new MsixTableRegion(this.fn.emulator!, a.offset - this.fn.msix!.tableOffset, charges.msixTableWrite);
    if (a.via === 'msix-pba') return new MsixPbaRegion(this.fn.emulator!, a.offset - this.fn.msix!.pbaOffset);
    if (a.via === 'dropped') return new DroppedRegion();
    if (a.via === 'qemu-mmap') {
      const m = mappings.find((x) => a.offset >= x.offset && a.offset < x.offset + x.size)!;
      return new RamDeviceRegion(m.handler, m.handlerOffset + (a.offset - m.offset), charges.deviceRead, charges.deviceWrite);
    }
    return new VfioFdRegion(this.fn.dev, this.index, a.offset);
  }
}
