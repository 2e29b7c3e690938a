import { VhwError, hex } from '@vhw/core';
import { type BarPlacement, type HostOwner, type IsolationGroup, type MmioWindowSpec, barRequests, packBars, usedBytes } from '@vhw/pci';

/** One M32 segment and the PE it belongs to (undefined: not handed out). */
export interface Segment {
  index: number;
  base: number;
  pe: IsolationGroup | undefined;
}

/**
 * The M32 window of an IODA2 PHB split into one segment per PE (m32_segsize = M32 size /
 * PE count). A PE owns the run of segments its BARs were packed into; the last PE is
 * reserved by the PHB and its segment is never handed out.
 */
export class M32Segments {
  readonly segmentSize: number;
  readonly segments: Segment[] = [];

  /**
   * @param phb The PHB's name, for messages.
   * @param window The M32 window.
   * @param peCount PEs of the PHB, the reserved last one included.
   * @param pageSize Host page size: a segment must be whole pages.
   * @throws VhwError E_CONFIG when a segment is not a whole number of pages or M32 is not page aligned.
   */
  constructor(
    private readonly phb: string,
    readonly window: MmioWindowSpec,
    readonly peCount: number,
    pageSize: number,
  ) {
    if (peCount < 2 || peCount > 4096) throw new VhwError('E_CONFIG', `PHB ${phb}: peCount ${peCount}; allowed: 2..4096`);
    this.segmentSize = window.size / peCount;
    // Segments must be whole pages: a page straddling two segments could be mapped into
    // a guest while part of it belongs to another PE.
    if (!Number.isInteger(this.segmentSize) || this.segmentSize < pageSize || this.segmentSize % pageSize !== 0) {
      throw new VhwError(
        'E_CONFIG',
        `PHB ${phb}: M32 size ${hex(window.size)} / ${peCount} PEs gives segments of ${this.segmentSize} bytes; allowed: a whole number of ${pageSize}-byte pages per segment`,
      );
    }
    if (window.base % pageSize !== 0) {
      throw new VhwError('E_CONFIG', `PHB ${phb}: m32Base ${hex(window.base)}; allowed: a multiple of the page size ${hex(pageSize)}`);
    }
    for (let i = 0; i < peCount; i++) this.segments.push({ index: i, base: window.base + i * this.segmentSize, pe: undefined });
  }

  /** The PE number reserved by the PHB (the last one). */
  get reservedPe(): number {
    return this.peCount - 1;
  }

  /**
   * Each PE's BARs packed from the start of its own run of segments, each BAR aligned to
   * its size or `alignment` if larger; the segments used are given to the PE.
   * @throws VhwError E_ALLOCATION listing every PE that did not fit.
   */
  placeBars(groups: readonly IsolationGroup[], alignment: number): BarPlacement[] {
    const { window, segmentSize } = this;
    const out: BarPlacement[] = [];
    const usable = this.reservedPe; // segments of the reserved PE are never handed out
    let nextSeg = 0;
    const failed: string[] = [];
    for (const group of groups) {
      const reqs = barRequests(group.functions);
      if (reqs.length === 0) continue;
      const align = Math.max(...reqs.map((r) => Math.max(r.size, alignment)));
      // Start on a segment boundary that also satisfies the largest BAR's alignment.
      let start = window.base + nextSeg * segmentSize;
      start = Math.ceil((start - window.base) / align) * align + window.base;
      const startSeg = Math.floor((start - window.base) / segmentSize);
      const room = window.base + usable * segmentSize - start;
      let placed: BarPlacement[];
      try {
        if (room <= 0) throw new VhwError('E_ALLOCATION', 'no segment left');
        placed = packBars({ name: `${this.phb} M32 for ${group.id}`, base: start, size: room }, reqs, alignment);
      } catch {
        failed.push(`${group.id} (${reqs.map((r) => `${r.key} ${hex(r.size)}`).join(', ')})`);
        continue;
      }
      const used = usedBytes({ name: '', base: start, size: room }, placed);
      const endSeg = Math.ceil((start + used - window.base) / segmentSize);
      for (let s = startSeg; s < endSeg; s++) this.segments[s]!.pe = group;
      nextSeg = endSeg;
      out.push(...placed);
    }
    if (failed.length > 0) {
      throw new VhwError(
        'E_ALLOCATION',
        `PHB ${this.phb}: M32 window [${hex(window.base)}, ${hex(window.base + window.size)}) has ${usable} usable segments of ${hex(segmentSize)}; did not fit: ${failed.join('; ')}`,
      );
    }
    return out;
  }

  /** The segment containing a host address, if inside M32. */
  segmentAt(addr: number): Segment | undefined {
    if (addr < this.window.base || addr >= this.window.base + this.window.size) return undefined;
    return this.segments[Math.floor((addr - this.window.base) / this.segmentSize)];
  }

  /** The segments in `[base, base + size)` as host owners (their PE, or `unowned`). */
  segmentsIn(base: number, size: number): HostOwner[] {
    const out: HostOwner[] = [];
    for (let a = base - ((base - this.window.base) % this.segmentSize); a < base + size; a += this.segmentSize) {
      const s = this.segmentAt(a);
      if (s) out.push({ kind: 'segment', owner: s.pe?.id ?? 'unowned', group: s.pe?.id, base: s.base, size: this.segmentSize });
    }
    return out;
  }

  /** Segments in use (patch 1 raises this). */
  get used(): number {
    return this.segments.filter((s) => s.pe !== undefined).length;
  }
}
