/** Access paths the MMU resolves every guest access to. */
export const Path = { Ram: 0, Direct: 1, Trap: 2 } as const;
export type PathId = (typeof Path)[keyof typeof Path];
export const PATH_NAMES = ['ram', 'direct', 'trap'] as const;

/**
 * Always-on statistics in typed arrays: counting is one increment, never an allocation.
 * Pages and trap reasons get their counter slots when they are registered (map time),
 * not when they are first hit.
 */
export class Stats {
  /** [path * 2 + (isWrite ? 1 : 0)]: reads and writes per path. */
  readonly byPath = new Float64Array(6);
  /** Guest accesses no mapping and no VMM region answered (also counted as traps). */
  unassigned = 0;
  interrupts = 0;

  private reasonNames: string[] = [];
  private readonly reasonIds = new Map<string, number>();
  trapsByReasonCounts = new Float64Array(16);

  private pageAddrs: number[] = [];
  private readonly pageSlots = new Map<number, number>();
  pageDirect = new Float64Array(64);
  pageTrap = new Float64Array(64);
  pageRam = new Float64Array(64);

  /** The counter index of a trap reason, registered on first use (at map time). */
  reasonId(reason: string): number {
    let id = this.reasonIds.get(reason);
    if (id === undefined) {
      id = this.reasonNames.length;
      this.reasonNames.push(reason);
      this.reasonIds.set(reason, id);
      if (id >= this.trapsByReasonCounts.length) this.trapsByReasonCounts = grow(this.trapsByReasonCounts);
    }
    return id;
  }

  reasonName(id: number): string {
    return this.reasonNames[id] ?? `reason#${id}`;
  }

  /** The counter slot of the page starting at `pageAddr`. */
  pageSlot(pageAddr: number): number {
    let slot = this.pageSlots.get(pageAddr);
    if (slot === undefined) {
      slot = this.pageAddrs.length;
      this.pageAddrs.push(pageAddr);
      this.pageSlots.set(pageAddr, slot);
      if (slot >= this.pageDirect.length) {
        this.pageDirect = grow(this.pageDirect);
        this.pageTrap = grow(this.pageTrap);
        this.pageRam = grow(this.pageRam);
      }
    }
    return slot;
  }

  count(path: PathId): number {
    return this.byPath[path * 2] + this.byPath[path * 2 + 1];
  }

  get trapsByReason(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 0; i < this.reasonNames.length; i++) {
      if (this.trapsByReasonCounts[i] > 0) out[this.reasonNames[i]] = this.trapsByReasonCounts[i];
    }
    return out;
  }

  /** Per-page counts for every page that saw an access, in address order. */
  pages(): Array<{ page: number; ram: number; direct: number; trap: number }> {
    const out = [];
    for (let i = 0; i < this.pageAddrs.length; i++) {
      const ram = this.pageRam[i];
      const direct = this.pageDirect[i];
      const trap = this.pageTrap[i];
      if (ram + direct + trap > 0) out.push({ page: this.pageAddrs[i], ram, direct, trap });
    }
    return out.sort((a, b) => a.page - b.page);
  }

  reset(): void {
    this.byPath.fill(0);
    this.unassigned = 0;
    this.interrupts = 0;
    this.trapsByReasonCounts.fill(0);
    this.pageDirect.fill(0);
    this.pageTrap.fill(0);
    this.pageRam.fill(0);
  }

  summary(): {
    ram: { reads: number; writes: number };
    direct: { reads: number; writes: number };
    trap: { reads: number; writes: number };
    unassigned: number;
    interrupts: number;
    trapsByReason: Record<string, number>;
  } {
    const rw = (p: number) => ({ reads: this.byPath[p * 2], writes: this.byPath[p * 2 + 1] });
    return {
      ram: rw(Path.Ram),
      direct: rw(Path.Direct),
      trap: rw(Path.Trap),
      unassigned: this.unassigned,
      interrupts: this.interrupts,
      trapsByReason: this.trapsByReason,
    };
  }
}

function grow(a: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> {
  const b = new Float64Array(a.length * 2);
  b.set(a);
  return b;
}
