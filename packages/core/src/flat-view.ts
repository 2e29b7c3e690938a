import { VhwError, hex } from './errors.js';

/** Anything occupying `[base, base + size)`. */
export interface Ranged {
  readonly name: string;
  readonly base: number;
  readonly size: number;
}

/**
 * An immutable, sorted, disjoint view of ranges, built once per map change and used for
 * every lookup (QEMU's FlatView, without priorities: vhw refuses overlaps instead).
 * Lookup is a binary search over two Float64Arrays, with a one-entry last-hit cache in
 * front because guest accesses come in runs to the same region.
 */
export class FlatView<T extends Ranged> {
  readonly entries: readonly T[];
  private readonly starts: Float64Array;
  private readonly ends: Float64Array;
  private lastIndex = -1;

  constructor(items: readonly T[]) {
    const sorted = [...items].sort((a, b) => a.base - b.base);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1];
      const cur = sorted[i];
      if (cur.base < prev.base + prev.size) {
        throw overlapError(prev, cur);
      }
    }
    this.entries = sorted;
    this.starts = new Float64Array(sorted.length);
    this.ends = new Float64Array(sorted.length);
    for (let i = 0; i < sorted.length; i++) {
      this.starts[i] = sorted[i].base;
      this.ends[i] = sorted[i].base + sorted[i].size;
    }
  }

  get length(): number {
    return this.entries.length;
  }

  /** Index of the entry containing `addr`, or -1. */
  indexOf(addr: number): number {
    const li = this.lastIndex;
    if (li >= 0 && addr >= this.starts[li] && addr < this.ends[li]) return li;
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (addr < this.starts[mid]) hi = mid - 1;
      else if (addr >= this.ends[mid]) lo = mid + 1;
      else {
        this.lastIndex = mid;
        return mid;
      }
    }
    return -1;
  }

  /** The entry containing `addr`, or undefined. */
  find(addr: number): T | undefined {
    const i = this.indexOf(addr);
    return i < 0 ? undefined : this.entries[i];
  }

  /** Entries intersecting `[base, base + size)`, in address order. */
  intersecting(base: number, size: number): T[] {
    const out: T[] = [];
    const end = base + size;
    // first entry whose end is above base
    let lo = 0;
    let hi = this.ends.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ends[mid] <= base) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.entries.length && this.starts[i] < end; i++) out.push(this.entries[i]);
    return out;
  }
}

export function overlapError(a: Ranged, b: Ranged): VhwError {
  return new VhwError(
    'E_OVERLAP',
    `region "${b.name}" [${hex(b.base)}, ${hex(b.base + b.size)}) overlaps "${a.name}" [${hex(a.base)}, ${hex(a.base + a.size)})`,
  );
}
