import { type CostModel, type UnassignedReason, VhwError, hex } from '@vhw/core';
import {
  type BarPlacement,
  HostBridge,
  type HostBridgeOptions,
  type HostOwner,
  type IsolationGroup,
  type PciDevice,
  type PciFunction,
  barRequests,
  packBars,
  usedBytes,
} from '@vhw/pci';

/** EEH state of a PE, as the platform reports it. */
export type EehState = 'normal' | 'mmio-frozen' | 'dma-frozen' | 'frozen';

export interface Ppc64PhbOptions extends HostBridgeOptions {
  /** Patch 1: every memory BAR aligned to the page size. */
  alignBars: boolean;
  /** PEs of the PHB, including the reserved last one (PHB3: 256, PE#255 reserved). */
  peCount: number;
  /** "device": each device is its own PE (own bus under a root port); "bus": all devices share one PE. */
  peGranularity: 'device' | 'bus';
  eeh: boolean;
  /** Whether a frozen PE's MSIs are blocked (on IODA2 MSIs are DMA writes from the PE). */
  freezeBlocksMsi: boolean;
  costs: CostModel;
}

interface Segment {
  index: number;
  base: number;
  pe: IsolationGroup | undefined;
}

/**
 * A PowerNV IODA2-like PHB: the M32 window split into one segment per PE
 * (m32_segsize = M32 size / PE count), each device's BARs packed inside its PE's
 * segments with natural alignment (or page alignment under patch 1), per-PE EEH
 * freeze, per-PE MSI validation and a TCE table per PE.
 */
export class Ppc64Phb extends HostBridge {
  readonly segmentSize: number;
  readonly segments: Segment[] = [];
  private readonly o: Ppc64PhbOptions;

  constructor(o: Ppc64PhbOptions) {
    super(o);
    this.o = o;
    if (o.peCount < 2 || o.peCount > 4096) throw new VhwError('E_CONFIG', `PHB ${o.name}: peCount ${o.peCount}; allowed: 2..4096`);
    this.segmentSize = o.window.size / o.peCount;
    // Segments must be whole pages: a page straddling two segments could be mapped into
    // a guest while part of it belongs to another PE.
    if (!Number.isInteger(this.segmentSize) || this.segmentSize < o.pageSize || this.segmentSize % o.pageSize !== 0) {
      throw new VhwError(
        'E_CONFIG',
        `PHB ${o.name}: M32 size ${hex(o.window.size)} / ${o.peCount} PEs gives segments of ${this.segmentSize} bytes; allowed: a whole number of ${o.pageSize}-byte pages per segment`,
      );
    }
    if (o.window.base % o.pageSize !== 0) {
      throw new VhwError(
        'E_CONFIG',
        `PHB ${o.name}: m32Base ${hex(o.window.base)}; allowed: a multiple of the page size ${hex(o.pageSize)}`,
      );
    }
    for (let i = 0; i < o.peCount; i++) this.segments.push({ index: i, base: o.window.base + i * this.segmentSize, pe: undefined });
  }

  override get allMmioBarsPageAligned(): boolean {
    return this.o.alignBars;
  }
  override get eeh(): boolean {
    return this.o.eeh;
  }
  override get interruptIsolation(): boolean {
    return this.o.eeh;
  }

  /** The PE number reserved by the PHB (the last one). */
  get reservedPe(): number {
    return this.o.peCount - 1;
  }

  protected override minBarAlignment(): number {
    return this.o.alignBars ? this.pageSize : 0;
  }

  protected override groupIdFor(device: PciDevice, slot: number): string {
    const pe = this.o.peGranularity === 'bus' ? 0 : slot;
    if (pe >= this.reservedPe) {
      throw new VhwError(
        'E_ALLOCATION',
        `PHB ${this.name}: no PE left for "${device.name}" (PE#${this.reservedPe} is reserved; ${this.reservedPe} usable)`,
      );
    }
    return `${this.name}:pe${pe}`;
  }

  /** Each PE's BARs packed from the start of its own run of M32 segments. */
  protected override placeBars(_functions: readonly PciFunction[]): BarPlacement[] {
    const out: BarPlacement[] = [];
    const windowEnd = this.window.base + this.window.size;
    const usable = this.reservedPe; // segments of the reserved PE are never handed out
    let nextSeg = 0;
    const failed: string[] = [];
    for (const group of this.groups) {
      const reqs = barRequests(group.functions);
      if (reqs.length === 0) continue;
      const align = Math.max(...reqs.map((r) => Math.max(r.size, this.minBarAlignment())));
      // Start on a segment boundary that also satisfies the largest BAR's alignment.
      let start = this.window.base + nextSeg * this.segmentSize;
      start = Math.ceil((start - this.window.base) / align) * align + this.window.base;
      const startSeg = Math.floor((start - this.window.base) / this.segmentSize);
      const room = this.window.base + usable * this.segmentSize - start;
      let placed: BarPlacement[];
      try {
        if (room <= 0) throw new VhwError('E_ALLOCATION', 'no segment left');
        placed = packBars({ name: `${this.name} M32 for ${group.id}`, base: start, size: room }, reqs, this.minBarAlignment());
      } catch {
        failed.push(`${group.id} (${reqs.map((r) => `${r.key} ${hex(r.size)}`).join(', ')})`);
        continue;
      }
      const used = usedBytes({ name: '', base: start, size: room }, placed);
      const endSeg = Math.ceil((start + used - this.window.base) / this.segmentSize);
      for (let s = startSeg; s < endSeg; s++) this.segments[s].pe = group;
      nextSeg = endSeg;
      out.push(...placed);
    }
    if (failed.length > 0) {
      throw new VhwError(
        'E_ALLOCATION',
        `PHB ${this.name}: M32 window [${hex(this.window.base)}, ${hex(windowEnd)}) has ${usable} usable segments of ${hex(this.segmentSize)}; did not fit: ${failed.join('; ')}`,
      );
    }
    return out;
  }

  /** The segment containing a host address, if inside M32. */
  segmentAt(addr: number): Segment | undefined {
    if (addr < this.window.base || addr >= this.window.base + this.window.size) return undefined;
    return this.segments[Math.floor((addr - this.window.base) / this.segmentSize)];
  }

  override segmentsIn(base: number, size: number): HostOwner[] {
    const out: HostOwner[] = [];
    for (let a = base - ((base - this.window.base) % this.segmentSize); a < base + size; a += this.segmentSize) {
      const s = this.segmentAt(a);
      if (s) out.push({ kind: 'segment', owner: s.pe?.id ?? 'unowned', group: s.pe?.id, base: s.base, size: this.segmentSize });
    }
    return out;
  }

  /** Segments in use (patch 1 raises this). */
  get segmentsUsed(): number {
    return this.segments.filter((s) => s.pe !== undefined).length;
  }

  // ---- EEH ----
  protected override onUnassignedAccess(addr: number, size: number, _isWrite: boolean, reason: UnassignedReason): void {
    const seg = this.segmentAt(addr);
    if (!seg?.pe || !this.o.eeh) return;
    const cause =
      reason === 'invalid-size'
        ? `${size}-byte access at ${hex(addr)} that the BAR does not accept`
        : `access at ${hex(addr)} decoded by no BAR of the PE`;
    this.freeze(seg.pe, 'both', cause);
  }

  protected override validateMsi(source: PciFunction, owner: PciFunction | undefined): boolean {
    if (!this.o.eeh) return true;
    if (owner !== undefined && owner.group === source.group) return true;
    this.freeze(source.group, 'both', `MSI for a vector ${owner ? `of ${owner.group.id}` : 'not assigned to any PE'} failed validation`);
    return false;
  }

  protected override msiBlockedByFreeze(source: PciFunction): boolean {
    return this.o.eeh && this.o.freezeBlocksMsi && source.group.frozen;
  }

  protected override onDmaFault(fn: PciFunction, iova: number): void {
    if (this.o.eeh) this.freeze(fn.group, 'both', `DMA at ${hex(iova)} outside the PE's TCE window`);
  }

  eehState(group: IsolationGroup | string): EehState {
    const g = typeof group === 'string' ? this.group(group) : group;
    if (g.mmioFrozen && g.dmaFrozen) return 'frozen';
    if (g.mmioFrozen) return 'mmio-frozen';
    if (g.dmaFrozen) return 'dma-frozen';
    return 'normal';
  }

  group(id: string): IsolationGroup {
    const g = this.groups.find((x) => x.id === id);
    if (!g) throw new VhwError('E_NOT_FOUND', `PHB ${this.name}: no PE "${id}"; PEs: ${this.groups.map((x) => x.id).join(', ')}`);
    return g;
  }

  /** Freezes a PE (what the PHB does on an error it detects, or error injection). */
  freeze(group: IsolationGroup, what: 'mmio' | 'dma' | 'both', cause: string): void {
    const before = this.eehState(group);
    if (what !== 'dma') group.mmioFrozen = true;
    if (what !== 'mmio') group.dmaFrozen = true;
    const after = this.eehState(group);
    if (after !== before) {
      group.freezes++;
      this.events.emit('isolation', { group: group.id, state: after, cause, timeNs: this.clock.now });
    }
  }

  /** Error injection (as EEH's error-injection interface): freezes the PE. */
  injectError(groupId: string, what: 'mmio' | 'dma' | 'both' = 'both'): void {
    if (!this.o.eeh) throw new VhwError('E_STATE', `PHB ${this.name}: EEH is disabled; enable it (eeh: true) to inject errors`);
    this.freeze(this.group(groupId), what, 'error injection');
  }

  /**
   * The recovery sequence after a freeze is detected: reset the slot (hold #RST for
   * eeh.slotResetHoldMs of simulated time), unfreeze, restore BARs and configuration.
   * The driver then re-initialises its device.
   */
  override recover(groupId: string): void {
    const g = this.group(groupId);
    const emit = (state: string, cause: string) => this.events.emit('isolation', { group: g.id, state, cause, timeNs: this.clock.now });
    emit('recovering', 'freeze detected');
    for (const fn of g.functions) fn.device.reset();
    this.clock.add(this.o.costs.ns('eeh.slotResetHoldMs'));
    emit('reset', 'slot reset');
    g.mmioFrozen = false;
    g.dmaFrozen = false;
    emit('normal', 'unfrozen');
    for (const fn of g.functions) this.restoreFunction(fn);
    emit('configured', 'BARs and configuration restored');
  }
}
