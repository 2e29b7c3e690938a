import { VhwError } from './errors.js';

/** Access sizes in bytes. How each travels: see {@link HighHalf}. */
export type AccessSize = 1 | 2 | 4 | 8;

/**
 * The 8-byte convention, defined once for every layer that carries a value (guest CPU,
 * trap handler, address space, register handler, vfio fd): a 1-, 2- or 4-byte value is an
 * unsigned number. An 8-byte value travels as two 32-bit halves: a write takes them as two
 * arguments `(value, high)`; a read returns the low half and leaves the high half in the
 * reader's `high` field, to be taken right after the call. Numbers, not a bigint or a
 * per-access byte array, because those allocate and the hot path must not.
 */
export interface HighHalf {
  /** The high 32 bits of the last 8-byte read through this object. */
  high: number;
}

/**
 * The access-size fast path, defined once: whether an access goes to a handler as it is.
 * It does when it is 1, 2 or 4 bytes, of a size the handler takes unchanged (`passSizes`,
 * see {@link passThroughSizes}), and aligned to its size (`off & -size` equals `off` only
 * for an aligned integer offset below 2^31). Every dispatcher asks this before its checked
 * path (`accessIsValid` and the adapters); it is small enough for V8 to inline at each site.
 *
 * @param passSizes - mask of the sizes the handler takes unchanged.
 * @param off - offset of the access in the handler's range.
 * @param size - access size in bytes.
 * @returns true when the handler can be called with `(off, size)` as they are.
 * @example
 * takesAsIs(4 | 2 | 1, 0x10, 4); // true
 * takesAsIs(4, 0x12, 4); // false: misaligned
 */
export function takesAsIs(passSizes: number, off: number, size: number): boolean {
  return (size === 4 || size === 1 || size === 2) && (passSizes & size) !== 0 && (off & -size) === off;
}

/**
 * What a device's register handler implements. The offset is relative to the start of
 * the region the handler was mapped as; a device never sees an absolute address.
 * `size` is always one the handler declared in `impl` (never 8: 8-byte accesses are
 * split into two 4-byte ones, low half first, by the dispatcher, as QEMU does for
 * regions with `impl.max_access_size = 4`).
 */
export interface MmioHandler {
  read(offset: number, size: 1 | 2 | 4): number;
  write(offset: number, size: 1 | 2 | 4, value: number): void;
  /**
   * Optional: an 8-byte access taken as one (as QEMU's vfio region ops take 8 bytes in one
   * pread), with the halves as {@link HighHalf} says: `read64` returns the low half and
   * leaves the high half in `high`. Without them the dispatcher splits the access into two
   * 4-byte ones.
   */
  read64?(offset: number): number;
  write64?(offset: number, low: number, high: number): void;
  high?: number;
}

/** The access sizes and alignment a region accepts, as QEMU's MemoryRegionOps. */
export interface AccessConstraints {
  /** What the modelled hardware accepts from a bus master; anything else is unassigned. */
  valid: { sizes: readonly AccessSize[]; unaligned?: boolean };
  /** What the handler code implements; other valid sizes are split or widened to fit. */
  impl?: { min: 1 | 2 | 4; max: 1 | 2 | 4 };
}

export const DEFAULT_CONSTRAINTS: AccessConstraints = {
  valid: { sizes: [1, 2, 4, 8], unaligned: false },
  impl: { min: 1, max: 4 },
};

/** A compiled form of AccessConstraints used on the hot path: no arrays, only numbers. */
export interface CompiledConstraints {
  /** bit `size` is set for each valid size */
  readonly validMask: number;
  readonly unaligned: boolean;
  readonly implMin: 1 | 2 | 4;
  readonly implMax: 1 | 2 | 4;
}

export function compileConstraints(c: AccessConstraints, owner: string): CompiledConstraints {
  let validMask = 0;
  if (!Array.isArray(c.valid?.sizes) || c.valid.sizes.length === 0) {
    throw new VhwError('E_CONFIG', `${owner}: valid.sizes must list at least one of 1, 2, 4, 8`);
  }
  for (const s of c.valid.sizes) {
    if (s !== 1 && s !== 2 && s !== 4 && s !== 8) {
      throw new VhwError('E_CONFIG', `${owner}: valid.sizes contains ${String(s)}; allowed: 1, 2, 4, 8`);
    }
    validMask |= s;
  }
  const implMin = c.impl?.min ?? 1;
  const implMax = c.impl?.max ?? 4;
  for (const [field, v] of [
    ['impl.min', implMin],
    ['impl.max', implMax],
  ] as const) {
    if (v !== 1 && v !== 2 && v !== 4) {
      throw new VhwError('E_CONFIG', `${owner}: ${field} is ${String(v)}; allowed: 1, 2, 4`);
    }
  }
  if (implMin > implMax) {
    throw new VhwError('E_CONFIG', `${owner}: impl.min (${implMin}) exceeds impl.max (${implMax})`);
  }
  // Interned by value: regions with the same constraints share one object, so a large
  // map does not spread the hot path over thousands of identical records.
  const unaligned = c.valid.unaligned === true;
  const key = validMask * 1000 + (unaligned ? 100 : 0) + implMin * 10 + implMax;
  let compiled = INTERNED.get(key);
  if (compiled === undefined) {
    compiled = Object.freeze({ validMask, unaligned, implMin, implMax });
    INTERNED.set(key, compiled);
  }
  return compiled;
}

const INTERNED = new Map<number, CompiledConstraints>();

/**
 * The sizes (a mask of 1, 2, 4) a handler with these constraints takes unchanged when the
 * access is aligned: valid, and within impl. Dispatchers test this first and call the
 * handler straight away; everything else goes through `accessIsValid` and the adapters.
 */
export function passThroughSizes(c: CompiledConstraints): number {
  let mask = 0;
  for (const size of [1, 2, 4] as const) if ((c.validMask & size) !== 0 && size >= c.implMin && size <= c.implMax) mask |= size;
  return mask;
}

/** True when an access of `size` at `offset` is one the region accepts. */
export function accessIsValid(c: CompiledConstraints, offset: number, size: number): boolean {
  // Only 1, 2, 4 and 8 are access sizes: a bit test alone would pass 3 (1|2) or 12 (4|8).
  if ((size !== 1 && size !== 2 && size !== 4 && size !== 8) || (c.validMask & size) === 0) return false;
  // A bit test rather than `%` (a float modulo on the hot path); non-integer offsets
  // stay misaligned, as they were with `offset % size`.
  if (!c.unaligned && ((offset & (size - 1)) !== 0 || !Number.isInteger(offset))) return false;
  return true;
}

/** All-ones for an access size: what a master abort (or a frozen PE) returns. */
export function allOnes(size: 1 | 2 | 4): number {
  return size === 4 ? 0xffffffff : size === 2 ? 0xffff : 0xff;
}

/**
 * Reads `size` bytes at `offset` through `h`, adapting to its impl sizes: a narrower
 * access is served by a wider aligned read and a shift; a wider one by little-endian
 * pieces of `implMax`. Sizes up to 4 only (8 is split by the caller).
 */
export function adaptedRead(h: MmioHandler, c: CompiledConstraints, offset: number, size: 1 | 2 | 4): number {
  // The common case stays small enough for V8 to inline into the dispatcher.
  return size >= c.implMin && size <= c.implMax ? h.read(offset, size) : resizedRead(h, c, offset, size);
}

function resizedRead(h: MmioHandler, c: CompiledConstraints, offset: number, size: 1 | 2 | 4): number {
  if (size < c.implMin) {
    const w = c.implMin;
    const base = offset - (offset % w);
    const shift = (offset - base) * 8;
    // An unaligned access that crosses an impl word is served byte by byte.
    if (offset - base + size > w) return (resizedRead(h, c, offset, 1) | (resizedRead(h, c, offset + 1, 1) << 8)) >>> 0;
    const v = h.read(base, w);
    return size === 1 ? (v >>> shift) & 0xff : (v >>> shift) & 0xffff;
  }
  // size > implMax: little-endian pieces
  let v = 0;
  const step = c.implMax;
  for (let i = 0; i < size; i += step) {
    v += h.read(offset + i, step) * 2 ** (i * 8);
  }
  return v >>> 0;
}

/**
 * Writes through `h` adapting to its impl sizes. A narrower write is widened with the
 * value shifted into place and the other bytes zero (QEMU's access_with_adjusted_size
 * does the same; devices that care declare impl.min = 1).
 */
export function adaptedWrite(h: MmioHandler, c: CompiledConstraints, offset: number, size: 1 | 2 | 4, value: number): void {
  if (size >= c.implMin && size <= c.implMax) h.write(offset, size, value);
  else resizedWrite(h, c, offset, size, value);
}

function resizedWrite(h: MmioHandler, c: CompiledConstraints, offset: number, size: 1 | 2 | 4, value: number): void {
  if (size < c.implMin) {
    const w = c.implMin;
    const base = offset - (offset % w);
    const shift = (offset - base) * 8;
    // An unaligned access that crosses an impl word is written byte by byte.
    if (offset - base + size > w) {
      resizedWrite(h, c, offset, 1, value & 0xff);
      resizedWrite(h, c, offset + 1, 1, (value >>> 8) & 0xff);
      return;
    }
    // Only the accessed bytes carry the value; the rest of the wider access is zero.
    const v = value & (size === 1 ? 0xff : 0xffff);
    // `>>> 0` last: values travel unsigned (`& 0xffffffff` would turn bit 31 into a sign).
    h.write(base, w, w === 4 ? (v << shift) >>> 0 : (v << shift) & 0xffff);
    return;
  }
  const step = c.implMax;
  const mask = step === 1 ? 0xff : 0xffff;
  for (let i = 0; i < size; i += step) {
    h.write(offset + i, step, (value >>> (i * 8)) & mask);
  }
}
