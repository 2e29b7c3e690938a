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
 * front because guest accesses come in runs to the same region. A bucket index over the
 * covered span narrows the search to the few entries of one bucket, so a lookup costs
 * about the same with 16 entries as with 16 thousand (QEMU gets the same from its
 * page-table-shaped AddressSpaceDispatch).
 */
export class FlatView<T extends Ranged> {
  declare readonly entries: readonly T[];
  declare private readonly starts: Float64Array;
  declare private readonly ends: Float64Array;
  /**
   * Bucket index: bucket b covers `[min + b * width, min + (b + 1) * width)`, and
   * `bucketFirst[b]` is the first entry whose end lies above the bucket's start. An
   * entry containing an address of bucket b then has an index in
   * `[bucketFirst[b], bucketFirst[b + 1]]`. Empty when the view cannot use it.
   */
  declare private readonly bucketFirst: Int32Array;
  /**
   * Per bucket, the only entry that intersects it (undefined when none or several do): a
   * lookup in such a bucket reads one slot and the entry, two cache lines, which is what
   * keeps a view of thousands of entries about as fast as one of sixteen.
   */
  declare private readonly bucketSole: Array<T | undefined>;
  /**
   * Per bucket, the sole entry's start and end (pairs, [0, 0) when it has none): the
   * fast path tests these instead of the entry's own `base`, which for an address above
   * 2^31 is a boxed number in a line of its own.
   */
  declare private readonly soleBounds: Float64Array;
  /** Bounds of the entry the last successful `find` returned (read from this view's arrays). */
  foundBase = 0;
  foundEnd = 0;
  declare private readonly min: number;
  declare private readonly maxEnd: number;
  /** 1 / bucket width; the width is a power of two, so the bucket of an address is exact. */
  declare private readonly invWidth: number;
  private lastIndex = -1;

  constructor(items: readonly T[]) {
    const sorted = [...items].sort((a, b) => a.base - b.base);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1]!;
      const cur = sorted[i]!;
      if (cur.base < prev.base + prev.size) {
        throw overlapError(prev, cur);
      }
    }
    this.entries = sorted;
    this.starts = new Float64Array(sorted.length);
    this.ends = new Float64Array(sorted.length);
    for (let i = 0; i < sorted.length; i++) {
      const item = sorted[i]!;
      this.starts[i] = item.base;
      this.ends[i] = item.base + item.size;
    }
    const n = sorted.length;
    this.min = n > 0 ? this.starts[0]! : 0;
    this.maxEnd = n > 0 ? this.ends[n - 1]! : 0;
    // Buckets need exact arithmetic: non-negative safe integers only (every vhw map).
    let exact = n > 0;
    for (let i = 0; i < n && exact; i++) {
      exact = Number.isSafeInteger(this.starts[i]) && this.starts[i]! >= 0 && Number.isSafeInteger(this.ends[i]);
    }
    if (!exact) {
      this.bucketFirst = new Int32Array(0);
      this.bucketSole = [];
      this.soleBounds = new Float64Array(0);
      this.invWidth = 0;
      return;
    }
    let buckets = 1;
    while (buckets < 2 * n) buckets *= 2;
    const span = this.maxEnd - this.min;
    let width = 1;
    while (width * buckets < span) width *= 2;
    buckets = Math.max(1, Math.ceil(span / width));
    this.invWidth = 1 / width;
    const first = new Int32Array(buckets + 1);
    let i = 0;
    for (let b = 0; b < buckets; b++) {
      const bucketStart = this.min + b * width;
      while (i < n && this.ends[i]! <= bucketStart) i++;
      first[b] = i;
    }
    first[buckets] = n;
    this.bucketFirst = first;
    const sole = new Array<T | undefined>(buckets);
    const bounds = new Float64Array(2 * buckets);
    for (let b = 0; b < buckets; b++) {
      const j = first[b]!;
      const bucketEnd = this.min + (b + 1) * width;
      // entry j is the first to end above the bucket's start; it is the only one in the
      // bucket when it starts inside it (or before) and the next starts at or after its end.
      const only = j < n && this.starts[j]! < bucketEnd && (j + 1 === n || this.starts[j + 1]! >= bucketEnd);
      sole[b] = only ? sorted[j] : undefined;
      if (only) {
        bounds[2 * b] = this.starts[j]!;
        bounds[2 * b + 1] = this.ends[j]!;
      }
    }
    this.bucketSole = sole;
    this.soleBounds = bounds;
  }

  get length(): number {
    return this.entries.length;
  }

  /** Index of the entry containing `addr`, or -1. */
  indexOf(addr: number): number {
    // Fast path, small enough to be inlined: the first entry of the address's bucket.
    const first = this.bucketFirst;
    if (first.length !== 0 && addr >= this.min && addr < this.maxEnd) {
      const i = first[Math.floor((addr - this.min) * this.invWidth)]!;
      // Read the entry itself (the caller reads it next anyway): one cache line fewer than starts/ends.
      const e = this.entries[i]!;
      if (addr >= e.base && addr < e.base + e.size) return i;
    }
    return this.search(addr);
  }

  private search(addr: number): number {
    const li = this.lastIndex;
    if (li >= 0 && addr >= this.starts[li]! && addr < this.ends[li]!) return li;
    let lo = 0;
    let hi = this.starts.length - 1;
    const first = this.bucketFirst;
    if (first.length !== 0) {
      if (!(addr >= this.min && addr < this.maxEnd)) return -1; // also NaN
      const b = Math.floor((addr - this.min) * this.invWidth);
      lo = first[b]!;
      const next = first[b + 1]!;
      if (next < hi) hi = next;
    }
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (addr < this.starts[mid]!) hi = mid - 1;
      else if (addr < this.ends[mid]!) {
        this.lastIndex = mid;
        return mid;
      } else lo = mid + 1; // also NaN, which no range contains
    }
    return -1;
  }

  /** The entry containing `addr`, or undefined. */
  find(addr: number): T | undefined {
    // Fast path, small enough to be inlined: the bucket's sole entry, tested against the
    // bucket's bounds (one line) before the entry is read.
    const bounds = this.soleBounds;
    if (bounds.length !== 0 && addr >= this.min && addr < this.maxEnd) {
      const b = Math.floor((addr - this.min) * this.invWidth);
      const start = bounds[2 * b]!;
      const end = bounds[2 * b + 1]!;
      if (addr >= start && addr < end) {
        this.foundBase = start;
        this.foundEnd = end;
        return this.bucketSole[b];
      }
    }
    return this.findBySearch(addr);
  }

  private findBySearch(addr: number): T | undefined {
    const i = this.search(addr);
    if (i < 0) return undefined;
    this.foundBase = this.starts[i]!;
    this.foundEnd = this.ends[i]!;
    return this.entries[i];
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
      if (this.ends[mid]! <= base) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.entries.length && this.starts[i]! < end; i++) out.push(this.entries[i]!);
    return out;
  }
}

export function overlapError(a: Ranged, b: Ranged): VhwError {
  return new VhwError(
    'E_OVERLAP',
    `region "${b.name}" [${hex(b.base)}, ${hex(b.base + b.size)}) overlaps "${a.name}" [${hex(a.base)}, ${hex(a.base + a.size)})`,
  );
}
