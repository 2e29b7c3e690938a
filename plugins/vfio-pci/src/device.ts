import {
  type Charge,
  type ChargeSpec,
  type CostModel,
  DEVICE_READ,
  DEVICE_WRITE,
  type MmioHandler,
  type SimClock,
  VhwError,
  allOnes,
  hex,
} from '@vhw/core';
import { Cfg, type HostBridge, MSIX_CAP_OFFSET, type PciFunction } from '@vhw/pci';
import { coveredByAreas, deviceSparseAreas } from './device-areas.js';
import { type IrqTrigger, VfioMsixIrqs } from './intrs.js';
import type { BarMmapDecision, SubPageMmapPolicy } from './policy.js';
import { Reason } from './reasons.js';
import {
  type RegionCapability,
  VFIO_DEVICE_FLAGS_PCI,
  VFIO_DEVICE_FLAGS_PCI_MSIX_MMAP,
  VFIO_DEVICE_FLAGS_PCI_PAGE_ALIGNED,
  VFIO_DEVICE_FLAGS_RESET,
  VFIO_PCI_CONFIG_REGION_INDEX,
  VFIO_PCI_NUM_IRQS,
  VFIO_PCI_NUM_REGIONS,
  VFIO_PCI_OFFSET_SHIFT,
  VFIO_REGION_INFO_CAP_MSIX_MAPPABLE,
  VFIO_REGION_INFO_CAP_SPARSE_MMAP,
  VFIO_REGION_INFO_FLAG_CAPS,
  VFIO_REGION_INFO_FLAG_MMAP,
  VFIO_REGION_INFO_FLAG_READ,
  VFIO_REGION_INFO_FLAG_WRITE,
  type VfioDeviceInfo,
  type VfioRegionInfo,
} from './uapi.js';

/** What a successful mmap of a region area returns: host memory the MMU can map direct. */
export interface VfioMapping {
  region: number;
  offset: number;
  size: number;
  hostPa: number;
  /** Reaches the mapped host MMIO; the first mapped byte is at `handlerOffset`. */
  handler: MmioHandler;
  handlerOffset: number;
}

export { type IrqTrigger, readMsixLayout } from './intrs.js';

/** One pread/pwrite on the vfio device fd: the syscall and vfio_pci_bar_rw()'s dispatch. */
export const VFIO_FD_RW: ChargeSpec = { name: 'vfio.fdRw', parameters: ['vfio.fdRwCycles'] };

/** The handler of a region index that is not a memory BAR (never reached: such accesses take the checked path). */
const NO_BAR: MmioHandler = {
  read: () => {
    throw new VhwError('E_STATE', 'vfio: no memory BAR at this region index');
  },
  write: () => {
    throw new VhwError('E_STATE', 'vfio: no memory BAR at this region index');
  },
};

/** Counters of the fd path, per device. */
export interface VfioCounters {
  regionReads: number;
  regionWrites: number;
  /** fd accesses to the MSI-X table, answered by the kernel's protection (0xff / dropped). */
  tableProtected: number;
  mmaps: number;
  mmapRefused: number;
}

/**
 * One device bound to vfio-pci: what userspace learns through the device fd (device
 * info, region info with flags and capabilities), the slow path (region read/write, the
 * pread/pwrite on the fd), the fast path (mmap of allowed areas) and MSI-X set-up
 * (VFIO_DEVICE_SET_IRQS). The mmap decisions are the policy's, made once at open.
 */
export class VfioPciDevice {
  readonly fn: PciFunction;
  readonly decisions: readonly BarMmapDecision[];
  readonly counters: VfioCounters = { regionReads: 0, regionWrites: 0, tableProtected: 0, mmaps: 0, mmapRefused: 0 };
  private readonly msixTable: { bar: number; offset: number; size: number } | undefined;
  private readonly barAddr = new Float64Array(6);
  private readonly barSize = new Float64Array(6);
  private readonly reservations: string[] = [];
  /** Each memory BAR's host handler, bound once (offsets from the BAR start). */
  private readonly barHandlers: MmioHandler[] = [NO_BAR, NO_BAR, NO_BAR, NO_BAR, NO_BAR, NO_BAR];
  /**
   * Per region index 0..5, what the fast path of regionRead/regionWrite needs: the size
   * of a memory BAR (0 for I/O BARs and absent ones) and the MSI-X table's range in it
   * (empty, [0, 0), when the table lies elsewhere).
   */
  private readonly fastSize = new Float64Array(6);
  private readonly fastTableStart = new Float64Array(6);
  private readonly fastTableEnd = new Float64Array(6);
  private highWord = 0;
  /** Bit i set: BAR i is an I/O BAR. */
  private ioBars = 0;
  private closed = false;
  private readonly irqs: VfioMsixIrqs;
  private readonly fdRw: Charge;
  private readonly devRead: Charge;
  private readonly devWrite: Charge;
  // The syscall and the device access of a plain BAR access, charged as one (one addition
  // to the clock on the fast path instead of two).
  private readonly fdAndDevRead: Charge;
  private readonly fdAndDevWrite: Charge;

  constructor(
    fn: PciFunction,
    private readonly bridge: HostBridge,
    private readonly policy: SubPageMmapPolicy,
    clock: SimClock,
    costs: CostModel,
  ) {
    this.fn = fn;
    const meter = clock.meter;
    this.fdRw = meter.resolve(VFIO_FD_RW, costs);
    this.devRead = meter.resolve(DEVICE_READ, costs);
    this.devWrite = meter.resolve(DEVICE_WRITE, costs);
    this.fdAndDevRead = meter.combine([this.fdRw, this.devRead]);
    this.fdAndDevWrite = meter.combine([this.fdRw, this.devWrite]);
    const m = fn.device.spec.msix;
    this.msixTable = m ? { bar: m.tableBar, offset: m.tableOffset, size: m.vectors * 16 } : undefined;
    for (const b of fn.bars) {
      this.barAddr[b.index] = b.address;
      this.barSize[b.index] = b.size;
    }
    this.irqs = new VfioMsixIrqs(fn, bridge, this.msixTable ? this.barAddr[this.msixTable.bar]! + this.msixTable.offset : 0);
    for (const b of fn.bars) {
      const t = bridge.mmioTarget(b.address, b.size);
      const delta = b.address - t.base;
      this.barHandlers[b.index] =
        delta === 0
          ? t.handler
          : { read: (off, size) => t.handler.read(delta + off, size), write: (off, size, v) => t.handler.write(delta + off, size, v) };
    }
    // I/O BARs are not in host MMIO; the fd path reaches them through the port handler.
    for (const decl of fn.device.spec.bars) {
      if ((decl.kind ?? 'mem32') === 'io') {
        this.barSize[decl.index] = decl.size;
        this.ioBars |= 1 << decl.index;
      }
    }
    for (let i = 0; i < 6; i++) {
      this.fastSize[i] = (this.ioBars & (1 << i)) === 0 ? this.barSize[i]! : 0;
      if (this.msixTable && this.msixTable.bar === i) {
        this.fastTableStart[i] = this.msixTable.offset;
        this.fastTableEnd[i] = this.msixTable.offset + this.msixTable.size;
      }
    }
    const decisions: BarMmapDecision[] = [];
    for (const decl of fn.device.spec.bars) {
      const assigned = fn.bar(decl.index);
      decisions.push(
        policy.decide({
          index: decl.index,
          size: decl.size,
          address: assigned?.address ?? 0,
          isIo: (decl.kind ?? 'mem32') === 'io' || assigned === undefined,
          msixTable:
            this.msixTable && this.msixTable.bar === decl.index ? { offset: this.msixTable.offset, size: this.msixTable.size } : undefined,
          claimPageRemainder: () => this.claimRemainder(decl.index, assigned?.address ?? 0, decl.size),
          deviceAreas: decl.sparseAreas === undefined ? undefined : deviceSparseAreas(fn.name, decl, bridge.pageSize),
        }),
      );
    }
    this.decisions = decisions;
  }

  get name(): string {
    return this.fn.name;
  }

  /**
   * The device's I/O BARs as userspace sees them: regions the fd reaches and mmap never
   * does (`Reason.IoBar`), with the host's port address of each.
   */
  ioRegions(): Array<{ index: number; size: number; address: number; reason: Reason }> {
    return this.fn.device.spec.bars
      .filter((b) => (this.ioBars & (1 << b.index)) !== 0)
      .map((b) => ({ index: b.index, size: b.size, address: this.fn.device.barAddress(b.index), reason: Reason.IoBar }));
  }

  private claimRemainder(index: number, address: number, size: number): boolean {
    const page = this.bridge.pageSize;
    const name = `vfio sub-page reserved ${this.fn.name} BAR${index}`;
    const ok = this.bridge.claim(name, this.fn.name, address + size, page - (size % page));
    if (ok) this.reservations.push(name);
    return ok;
  }

  /**
   * Diagnostics (as a kernel trace would show): why the byte at `offset` of region
   * `index` is not mmappable, or undefined if it is. Userspace decisions never use this;
   * the VMM asks only to label its traps for reports.
   */
  diagnose(index: number, offset: number): Reason | undefined {
    const d = this.decisions.find((x) => x.index === index);
    if (!d) return Reason.Unassigned;
    if (!d.mmap) return d.reason;
    if (d.excluded && offset >= d.excluded.offset && offset < d.excluded.offset + d.excluded.size) return d.excluded.reason;
    if (d.deviceAreas && !d.deviceAreas.some((a) => offset >= a.offset && offset < a.offset + a.size)) return Reason.DeviceSparse;
    return undefined;
  }

  /** VFIO_DEVICE_GET_INFO. */
  getDeviceInfo(): VfioDeviceInfo {
    this.assertOpen();
    let flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
    if (this.policy.reportsPageAligned) flags |= VFIO_DEVICE_FLAGS_PCI_PAGE_ALIGNED;
    if (this.policy.reportsMsixMmap) flags |= VFIO_DEVICE_FLAGS_PCI_MSIX_MMAP;
    return { flags, numRegions: VFIO_PCI_NUM_REGIONS, numIrqs: VFIO_PCI_NUM_IRQS };
  }

  /** VFIO_DEVICE_GET_REGION_INFO. Unimplemented BARs have size 0 and no flags. */
  getRegionInfo(index: number): VfioRegionInfo {
    this.assertOpen();
    if (!Number.isInteger(index) || index < 0 || index >= VFIO_PCI_NUM_REGIONS) {
      throw new VhwError('E_RANGE', `vfio ${this.name}: region index ${String(index)}; allowed: 0..${VFIO_PCI_NUM_REGIONS - 1}`);
    }
    const offset = index * 2 ** VFIO_PCI_OFFSET_SHIFT;
    if (index === VFIO_PCI_CONFIG_REGION_INDEX) {
      return { index, flags: VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE, size: 256, offset, caps: [] };
    }
    const d = this.decisions.find((x) => x.index === index);
    const decl = this.fn.device.bar(index);
    if (!d || !decl || index > 5) return { index, flags: 0, size: 0, offset, caps: [] };
    let flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
    const caps: RegionCapability[] = [];
    if (d.mmap) {
      flags |= VFIO_REGION_INFO_FLAG_MMAP;
      if (d.sparseAreas) caps.push({ id: VFIO_REGION_INFO_CAP_SPARSE_MMAP, areas: d.sparseAreas.map((a) => ({ ...a })) });
      if (d.msixMappable) caps.push({ id: VFIO_REGION_INFO_CAP_MSIX_MAPPABLE });
    }
    if (caps.length > 0) flags |= VFIO_REGION_INFO_FLAG_CAPS;
    return { index, flags, size: decl.size, offset, caps };
  }

  /**
   * mmap of `[offset, offset + size)` of a BAR region. Allowed only for mmappable BARs,
   * page-aligned, within the BAR rounded up to a page, and outside the excluded table
   * pages. A sub-page BAR maps its whole page (its remainder is the device's).
   * @throws VhwError E_MMAP_DENIED naming the rule that refused it.
   */
  mmap(index: number, offset: number, size: number): VfioMapping {
    this.assertOpen();
    const deny = (why: string): never => {
      this.counters.mmapRefused++;
      throw new VhwError(
        'E_MMAP_DENIED',
        `vfio ${this.name}: mmap of region ${index} [${hex(offset)}, ${hex(offset + size)}) refused: ${why}`,
      );
    };
    const d = this.decisions.find((x) => x.index === index);
    if (!d || this.barSize[index] === 0) return deny('the region does not exist or has size 0');
    if (!d.mmap) return deny(`the region is not mmappable (${d.reason})`);
    const page = this.bridge.pageSize;
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(size) || size <= 0 || offset % page !== 0 || size % page !== 0) {
      return deny(`offset and size must be whole ${page}-byte pages`);
    }
    const physLen = Math.ceil(this.barSize[index]! / page) * page;
    if (offset + size > physLen) return deny(`beyond the region's ${physLen} mappable bytes`);
    if (d.excluded && offset < d.excluded.offset + d.excluded.size && d.excluded.offset < offset + size) {
      return deny(
        `overlaps the MSI-X table pages [${hex(d.excluded.offset)}, ${hex(d.excluded.offset + d.excluded.size)}) (${d.excluded.reason})`,
      );
    }
    // A driver that reports its own list enforces it in its mmap op (nvgrace-gpu refuses an
    // mmap past the memory its one area covers).
    if (d.deviceAreas && !coveredByAreas(d.sparseAreas ?? [], offset, size, page)) {
      return deny(`outside the sparse-mmap areas the device reports (${Reason.DeviceSparse})`);
    }
    const hostPa = this.barAddr[index]! + offset;
    // Defence in depth: whatever the policy decided, never hand out a page holding
    // another device's BAR or reservation or another group's segment. An mmap maps whole
    // page frames, so a BAR off a page boundary would expose what precedes it in its page.
    const pageStart = hostPa - (hostPa % page);
    const foreign = this.bridge.resources.foreignOwners(pageStart, size, { name: this.fn.name, group: this.fn.group.id })[0];
    if (foreign) return deny(`the pages hold ${foreign.kind} of ${foreign.owner} at ${hex(foreign.base)}`);
    if (pageStart !== hostPa) return deny(`the BAR starts at ${hex(hostPa)}, not on a page boundary`);
    this.counters.mmaps++;
    const target = this.bridge.mmioTarget(hostPa, size);
    return { region: index, offset, size, hostPa, handler: target.handler, handlerOffset: hostPa - target.base };
  }

  /**
   * pread on the device fd (the slow path): a BAR or config access. The MSI-X table is
   * protected whatever the toggles: reads give 0xff bytes, writes are dropped.
   * Charges the syscall and, when the device is touched, the device access.
   */
  regionRead(index: number, offset: number, size: number): number {
    this.counters.regionReads++;
    if (this.isPlainBarAccess(index, offset, size)) {
      this.fdAndDevRead.add();
      return this.barHandlers[index]!.read(offset, size as 1 | 2 | 4);
    }
    this.fdRw.add();
    return this.regionReadOther(index, offset, size);
  }

  /**
   * The common fd access, and the only one the fast paths of regionRead/regionWrite take:
   * 1, 2 or 4 bytes inside a memory BAR, clear of the MSI-X table. Everything it lets
   * through, the full checks let through the same way.
   */
  private isPlainBarAccess(index: number, offset: number, size: number): boolean {
    const end = offset + size;
    return (
      index >= 0 &&
      index < 6 &&
      (size === 4 || size === 1 || size === 2) &&
      offset >>> 0 === offset &&
      end <= this.fastSize[index]! &&
      (end <= this.fastTableStart[index]! || offset >= this.fastTableEnd[index]!)
    );
  }

  private regionReadOther(index: number, offset: number, size: number): number {
    this.checkRange('read', index, offset, size);
    if (index === VFIO_PCI_CONFIG_REGION_INDEX) return this.bridge.configRead(this.fn, offset, size as 1 | 2 | 4);
    if ((this.ioBars & (1 << index)) !== 0) return this.ioAccess(index, offset, size, false, 0);
    if (this.inTable(index, offset, size)) {
      this.counters.tableProtected++;
      if (size === 8) this.highWord = 0xffffffff;
      return size === 8 ? 0xffffffff : allOnes(size as 1 | 2 | 4);
    }
    this.devRead.add();
    const h = this.barHandlers[index]!;
    if (size === 8) {
      const lo = h.read(offset, 4);
      this.highWord = h.read(offset + 4, 4);
      return lo;
    }
    return h.read(offset, size as 1 | 2 | 4);
  }

  /** Upper half of the last 8-byte regionRead. */
  get high(): number {
    return this.highWord;
  }

  /** pwrite on the device fd. */
  regionWrite(index: number, offset: number, size: number, value: number, high = 0): void {
    this.counters.regionWrites++;
    if (this.isPlainBarAccess(index, offset, size)) {
      this.fdAndDevWrite.add();
      this.barHandlers[index]!.write(offset, size as 1 | 2 | 4, value);
    } else {
      this.fdRw.add();
      this.regionWriteOther(index, offset, size, value, high);
    }
  }

  private regionWriteOther(index: number, offset: number, size: number, value: number, high: number): void {
    this.checkRange('write', index, offset, size);
    if (index === VFIO_PCI_CONFIG_REGION_INDEX) {
      this.configWrite(offset, size as 1 | 2 | 4, value);
      return;
    }
    if ((this.ioBars & (1 << index)) !== 0) {
      this.ioAccess(index, offset, size, true, value);
      return;
    }
    if (this.inTable(index, offset, size)) {
      this.counters.tableProtected++;
      return;
    }
    this.devWrite.add();
    const h = this.barHandlers[index]!;
    if (size === 8) {
      h.write(offset, 4, value >>> 0);
      h.write(offset + 4, 4, high >>> 0);
      return;
    }
    h.write(offset, size as 1 | 2 | 4, value);
  }

  /** Config writes: BARs and the MSI-X control stay the host's (vfio virtualizes them). */
  private configWrite(offset: number, size: 1 | 2 | 4, value: number): void {
    if (offset >= Cfg.Bar0 && offset < Cfg.Bar0 + 24) return;
    if (this.fn.device.msix && offset >= MSIX_CAP_OFFSET && offset < MSIX_CAP_OFFSET + 12) return;
    this.bridge.configWrite(this.fn, offset, size, value);
  }

  /** A region access must lie inside the region (the kernel returns -EINVAL otherwise). */
  private checkRange(what: 'read' | 'write', index: number, offset: number, size: number): void {
    const len = index === VFIO_PCI_CONFIG_REGION_INDEX ? 256 : index >= 0 && index <= 5 ? (this.barSize[index] ?? 0) : 0;
    if (!Number.isInteger(offset) || offset < 0 || offset + size > len || (size !== 1 && size !== 2 && size !== 4 && size !== 8)) {
      throw new VhwError('E_RANGE', `vfio ${this.name}: ${what} of ${size} bytes at ${hex(offset)} outside region ${index} (size ${len})`);
    }
  }

  /** Port I/O through the fd: the device's handler, unless the group is frozen. */
  private ioAccess(index: number, offset: number, size: number, isWrite: boolean, value: number): number {
    const h = this.fn.device.barHandler(index);
    if (this.fn.group.mmioFrozen) return isWrite ? 0 : allOnes(Math.min(size, 4) as 1 | 2 | 4);
    if (isWrite) {
      h.write(offset, Math.min(size, 4) as 1 | 2 | 4, value);
      return 0;
    }
    return h.read(offset, Math.min(size, 4) as 1 | 2 | 4);
  }

  private inTable(index: number, offset: number, size: number): boolean {
    const t = this.msixTable;
    return t !== undefined && t.bar === index && offset < t.offset + t.size && t.offset < offset + size;
  }

  /**
   * VFIO_DEVICE_SET_IRQS for MSI-X: enables vectors `0..triggers.length-1` with a trigger
   * each, or disables MSI-X when `triggers` is empty (see `VfioMsixIrqs.set`).
   */
  setMsixIrqs(triggers: ReadonlyArray<IrqTrigger | undefined>): void {
    this.assertOpen();
    this.irqs.set(triggers);
  }

  /** Host IRQ numbers currently set up for the device's MSI-X vectors. */
  get msixIrqs(): number[] {
    return this.irqs.hostIrqs;
  }

  /** VFIO_DEVICE_RESET: function reset, then the host's BARs and command restored. */
  reset(): void {
    this.assertOpen();
    this.fn.device.reset();
    this.bridge.restoreFunction(this.fn);
    // The kernel restores the MSI-X state it set up (pci_restore_msi_state()).
    this.irqs.restore();
  }

  /**
   * After the platform reset the device (EEH recovery): the kernel restores the MSI-X
   * set-up it owns, as after VFIO_DEVICE_RESET.
   */
  restoreAfterPlatformReset(): void {
    this.assertOpen();
    this.irqs.restore();
  }

  /** Closing the fd releases MSI-X and the sub-page reservations (vfio_pci_core_disable()). */
  close(): void {
    if (this.closed) return;
    this.irqs.disable();
    for (const r of this.reservations) this.bridge.release(r);
    this.reservations.length = 0;
    this.closed = true;
  }

  private assertOpen(): void {
    if (this.closed) throw new VhwError('E_STATE', `vfio ${this.name}: the device fd is closed`);
  }
}
