import {
  type AccessConstraints,
  type CompiledConstraints,
  type HighHalf,
  type MmioHandler,
  DEFAULT_CONSTRAINTS,
  accessIsValid,
  adaptedRead,
  adaptedWrite,
  allOnes,
  compileConstraints,
  passThroughSizes,
  takesAsIs,
} from './access.js';
import { VhwError, hex } from './errors.js';
import { FlatView, overlapError } from './flat-view.js';

/**
 * What happens to an access no region decodes, or one a region does not accept:
 * `ignore` answers like a PCI master abort (reads all-ones, writes dropped), `zero`
 * reads zero, `fault` throws `E_UNASSIGNED` (for tests and strict experiments).
 */
export type UnassignedPolicy = 'ignore' | 'zero' | 'fault';
export const UNASSIGNED_POLICIES: readonly UnassignedPolicy[] = ['ignore', 'zero', 'fault'];

/** Why an access was answered by the unassigned policy. */
export type UnassignedReason = 'no-region' | 'invalid-size' | 'straddle';

/** Observes unassigned accesses; called only when one happens, never on a good access. */
export type UnassignedObserver = (space: string, addr: number, size: number, isWrite: boolean, reason: UnassignedReason) => void;

export interface RegionSpec {
  name: string;
  base: number;
  size: number;
}

export interface MmioRegionSpec extends RegionSpec {
  handler: MmioHandler;
  constraints?: AccessConstraints;
  /** Free-form owner tag (device name, PE, ...) for maps and isolation checks. */
  owner?: string;
  /** Opaque per-region datum for the dispatcher's user (e.g. a trap reason id). */
  tag?: number;
}

export interface RamRegionSpec extends RegionSpec {
  buffer?: ArrayBuffer;
  owner?: string;
}

/**
 * One mapped region of an AddressSpace. The fields a dispatch reads come first, so that
 * they share the object's first cache line.
 */
export class Region {
  declare readonly base: number;
  declare readonly size: number;
  declare readonly handler: MmioHandler;
  /**
   * Bit `size` is set for each access size the handler takes as it is (valid and within
   * impl): an aligned access of such a size skips the constraint checks.
   */
  declare readonly passSizes: number;
  declare readonly tag: number;
  /** Accesses that reached this region (counted on the region, in the line the dispatch reads anyway). */
  accesses = 0;
  declare readonly constraints: CompiledConstraints;
  declare readonly name: string;
  declare readonly kind: 'ram' | 'mmio';
  declare readonly owner: string | undefined;
  /** Set for RAM regions. */
  declare readonly view: DataView | undefined;

  constructor(
    spec: RegionSpec,
    kind: 'ram' | 'mmio',
    handler: MmioHandler,
    constraints: CompiledConstraints,
    owner: string | undefined,
    tag: number,
    view: DataView | undefined,
  ) {
    this.base = spec.base;
    this.size = spec.size;
    this.handler = handler;
    this.passSizes = passThroughSizes(constraints);
    this.tag = tag;
    this.constraints = constraints;
    this.name = spec.name;
    this.kind = kind;
    this.owner = owner;
    this.view = view;
  }
}

/** Register handler over a little-endian RAM buffer. */
export class RamHandler implements MmioHandler {
  declare readonly view: DataView;
  constructor(view: DataView) {
    this.view = view;
  }
  read(offset: number, size: 1 | 2 | 4): number {
    return size === 4 ? this.view.getUint32(offset, true) : size === 2 ? this.view.getUint16(offset, true) : this.view.getUint8(offset);
  }
  write(offset: number, size: 1 | 2 | 4, value: number): void {
    if (size === 4) this.view.setUint32(offset, value >>> 0, true);
    else if (size === 2) this.view.setUint16(offset, value & 0xffff, true);
    else this.view.setUint8(offset, value & 0xff);
  }
}

const RAM_CONSTRAINTS = compileConstraints({ valid: { sizes: [1, 2, 4, 8], unaligned: true }, impl: { min: 1, max: 4 } }, 'ram');

function checkRange(spec: RegionSpec, what: string): void {
  if (typeof spec.name !== 'string' || spec.name.length === 0) {
    throw new VhwError('E_CONFIG', `${what}: name must be a non-empty string`);
  }
  if (!Number.isSafeInteger(spec.base) || spec.base < 0) {
    throw new VhwError('E_RANGE', `${what} "${spec.name}": base ${String(spec.base)} must be a non-negative safe integer`);
  }
  if (!Number.isSafeInteger(spec.size) || spec.size <= 0) {
    throw new VhwError('E_RANGE', `${what} "${spec.name}": size ${String(spec.size)} must be a positive safe integer`);
  }
  if (!Number.isSafeInteger(spec.base + spec.size)) {
    throw new VhwError('E_RANGE', `${what} "${spec.name}": end ${hex(spec.base + spec.size)} exceeds 2^53`);
  }
}

/**
 * A physical address space: regions of RAM or device MMIO, dispatched through a flat
 * view that is rebuilt only when the map changes. Accesses check the region's `valid`
 * constraints and adapt to its `impl` sizes in this one place, so handlers only ever see
 * sizes they declared. Bad accesses go to the unassigned policy and are counted.
 */
export class AddressSpace implements HighHalf {
  declare readonly name: string;
  declare policy: UnassignedPolicy;
  /** Upper 32 bits of the last 8-byte read. */
  high = 0;
  /** The `tag` of the region the last read or write landed in, or -1 when none decoded it. */
  lastTag = -1;
  /** Accesses answered by the unassigned policy, by reason: no-region, invalid-size, straddle. */
  readonly unassignedCounts = new Float64Array(3);
  onUnassigned: UnassignedObserver | undefined;

  // The mapped regions, kept sorted by base (a new region's overlap check looks at its
  // two neighbours only), and by name; both include changes a transaction has not committed.
  private regions: Region[] = [];
  private readonly byName = new Map<string, Region>();
  private view: FlatView<Region> = new FlatView([]);
  // The region of the last access, unpacked into fields of the space: a run of accesses
  // to one region (a trapped read, then the write back) skips the flat view's chain of
  // dependent loads (view → bucket → entry → region).
  private hit: Region | undefined = undefined;
  private hitBase = 0;
  private hitEnd = 0;
  private batchDepth = 0;
  private dirty = false;
  private readonly listeners: Array<() => void> = [];

  constructor(name: string, policy: UnassignedPolicy = 'ignore') {
    if (!UNASSIGNED_POLICIES.includes(policy)) {
      throw new VhwError('E_CONFIG', `address space ${name}: policy "${String(policy)}"; allowed: ${UNASSIGNED_POLICIES.join(', ')}`);
    }
    this.name = name;
    this.policy = policy;
  }

  /** Runs `fn` with map changes batched: the flat view is rebuilt once at the end. */
  transaction<T>(fn: () => T): T {
    this.batchDepth++;
    try {
      return fn();
    } finally {
      this.batchDepth--;
      if (this.batchDepth === 0 && this.dirty) this.commit();
    }
  }

  /** Called after each commit (map change). */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  mapMmio(spec: MmioRegionSpec): Region {
    checkRange(spec, `${this.name} mmio region`);
    if (typeof spec.handler?.read !== 'function' || typeof spec.handler?.write !== 'function') {
      throw new VhwError('E_CONFIG', `${this.name} mmio region "${spec.name}": handler must have read and write`);
    }
    const c = compileConstraints(spec.constraints ?? DEFAULT_CONSTRAINTS, `${this.name} region "${spec.name}"`);
    return this.add(new Region(spec, 'mmio', spec.handler, c, spec.owner, spec.tag ?? 0, undefined));
  }

  mapRam(spec: RamRegionSpec): Region {
    checkRange(spec, `${this.name} ram region`);
    const buffer = spec.buffer ?? new ArrayBuffer(spec.size);
    if (buffer.byteLength < spec.size) {
      throw new VhwError(
        'E_RANGE',
        `${this.name} ram region "${spec.name}": buffer of ${buffer.byteLength} bytes is smaller than size ${spec.size}`,
      );
    }
    const view = new DataView(buffer, 0, spec.size);
    return this.add(new Region(spec, 'ram', new RamHandler(view), RAM_CONSTRAINTS, spec.owner, 0, view));
  }

  unmap(nameOrRegion: string | Region): void {
    const name = typeof nameOrRegion === 'string' ? nameOrRegion : nameOrRegion.name;
    const r = this.byName.get(name);
    if (r === undefined || (typeof nameOrRegion !== 'string' && r !== nameOrRegion)) {
      throw new VhwError('E_NOT_FOUND', `${this.name}: no region ${name} to unmap`);
    }
    this.regions.splice(this.regions.indexOf(r, this.firstAtOrAbove(r.base)), 1);
    this.byName.delete(name);
    this.changed();
  }

  /** The regions in address order (the current flat view). */
  get entries(): readonly Region[] {
    return this.view.entries;
  }

  find(addr: number): Region | undefined {
    return this.view.find(addr);
  }

  intersecting(base: number, size: number): Region[] {
    return this.view.intersecting(base, size);
  }

  private add(region: Region): Region {
    // Check against the pending set, not the last committed view, so a transaction
    // cannot sneak an overlap in.
    const i = this.firstAtOrAbove(region.base);
    const prev = this.regions[i - 1];
    const next = this.regions[i];
    if (this.byName.has(region.name)) throw new VhwError('E_CONFIG', `${this.name}: a region named "${region.name}" is already mapped`);
    if (prev !== undefined && region.base < prev.base + prev.size) throw overlapError(prev, region);
    if (next !== undefined && next.base < region.base + region.size) throw overlapError(next, region);
    if (i === this.regions.length) this.regions.push(region);
    else this.regions.splice(i, 0, region);
    this.byName.set(region.name, region);
    this.changed();
    return region;
  }

  /** Index of the first region whose base is at or above `base` (regions are sorted by base). */
  private firstAtOrAbove(base: number): number {
    let lo = 0;
    let hi = this.regions.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.regions[mid]!.base < base) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private changed(): void {
    this.dirty = true;
    if (this.batchDepth === 0) this.commit();
  }

  private commit(): void {
    this.view = new FlatView(this.regions);
    this.hit = undefined;
    this.hitBase = 0;
    this.hitEnd = 0;
    this.dirty = false;
    for (const l of this.listeners) l();
  }

  /** Reads `size` bytes at `addr`. For size 8 returns the low half; the high half is in `this.high`. */
  read(addr: number, size: number): number {
    let r = this.hit!;
    if (!(addr >= this.hitBase && addr < this.hitEnd)) {
      const found = this.view.find(addr);
      if (found === undefined) {
        this.lastTag = -1;
        return this.unassignedRead(addr, size, 'no-region');
      }
      r = this.remember(found);
    }
    this.lastTag = r.tag;
    const off = addr - this.hitBase; // r.base, without reading a boxed number from the region
    // An aligned access of a size the handler takes as it is, inside the region, goes
    // straight to it (`off & -size` equals off only for an aligned integer offset below 2^31).
    if (takesAsIs(r.passSizes, off, size) && off + size <= r.size) {
      r.accesses++;
      return r.handler.read(off, size as 1 | 2 | 4);
    }
    return this.readOther(r, addr, off, size);
  }

  /** Writes `size` bytes at `addr`; for size 8, `value` is the low half and `high` the upper one. */
  write(addr: number, size: number, value: number, high = 0): void {
    let r = this.hit!;
    if (!(addr >= this.hitBase && addr < this.hitEnd)) {
      const found = this.view.find(addr);
      if (found === undefined) {
        this.lastTag = -1;
        this.unassignedWrite(addr, size, 'no-region');
        return;
      }
      r = this.remember(found);
    }
    this.lastTag = r.tag;
    const off = addr - this.hitBase; // r.base, without reading a boxed number from the region
    if (takesAsIs(r.passSizes, off, size) && off + size <= r.size) {
      r.accesses++;
      r.handler.write(off, size as 1 | 2 | 4, value);
      return;
    }
    this.writeOther(r, addr, off, size, value, high);
  }

  /** Caches `r`, just returned by the view's `find` (whose bounds are at hand, unboxed). */
  private remember(r: Region): Region {
    this.hit = r;
    this.hitBase = this.view.foundBase;
    this.hitEnd = this.view.foundEnd;
    return r;
  }

  /** A read the fast path does not take: checked against the region's rules, then adapted, split or refused. */
  private readOther(r: Region, addr: number, off: number, size: number): number {
    if (off + size > r.size) return this.unassignedRead(addr, size, 'straddle');
    if (!accessIsValid(r.constraints, off, size)) return this.unassignedRead(addr, size, 'invalid-size');
    r.accesses++;
    return size === 8 ? this.read8(r, off) : adaptedRead(r.handler, r.constraints, off, size as 1 | 2 | 4);
  }

  private writeOther(r: Region, addr: number, off: number, size: number, value: number, high: number): void {
    if (off + size > r.size) {
      this.unassignedWrite(addr, size, 'straddle');
      return;
    }
    if (!accessIsValid(r.constraints, off, size)) {
      this.unassignedWrite(addr, size, 'invalid-size');
      return;
    }
    r.accesses++;
    if (size === 8) this.write8(r, off, value, high);
    else adaptedWrite(r.handler, r.constraints, off, size as 1 | 2 | 4, value);
  }

  /** An 8-byte access is two 4-byte ones, low half first. */
  private read8(r: Region, off: number): number {
    const h = r.handler;
    if (h.read64 !== undefined) {
      const v = h.read64(off);
      this.high = h.high ?? 0;
      return v;
    }
    const lo = adaptedRead(r.handler, r.constraints, off, 4);
    this.high = adaptedRead(r.handler, r.constraints, off + 4, 4);
    return lo;
  }

  private write8(r: Region, off: number, value: number, high: number): void {
    if (r.handler.write64 !== undefined) {
      r.handler.write64(off, value >>> 0, high >>> 0);
      return;
    }
    adaptedWrite(r.handler, r.constraints, off, 4, value >>> 0);
    adaptedWrite(r.handler, r.constraints, off + 4, 4, high >>> 0);
  }

  /** Accesses counted for a region (by name); 0 for a name not mapped. */
  countOf(name: string): number {
    return this.byName.get(name)?.accesses ?? 0;
  }

  /** Zeroes every region's access count (e.g. after a warm-up). */
  resetCounts(): void {
    for (const r of this.regions) r.accesses = 0;
  }

  /**
   * Answers a read the way this space answers one it does not accept (policy, counters,
   * observer): for callers that checked a region's rules themselves on a fast path.
   */
  rejectRead(addr: number, size: number, reason: UnassignedReason): number {
    return this.unassignedRead(addr, size, reason);
  }

  /** Like `rejectRead`, for a write. */
  rejectWrite(addr: number, size: number, reason: UnassignedReason): void {
    this.unassignedWrite(addr, size, reason);
  }

  private unassignedRead(addr: number, size: number, reason: UnassignedReason): number {
    this.noteUnassigned(addr, size, false, reason);
    if (this.policy === 'zero') {
      this.high = 0;
      return 0;
    }
    if (size === 8) {
      this.high = 0xffffffff;
      return 0xffffffff;
    }
    return allOnes(size as 1 | 2 | 4);
  }

  private unassignedWrite(addr: number, size: number, reason: UnassignedReason): void {
    this.noteUnassigned(addr, size, true, reason);
  }

  private noteUnassigned(addr: number, size: number, isWrite: boolean, reason: UnassignedReason): void {
    this.unassignedCounts[reason === 'no-region' ? 0 : reason === 'invalid-size' ? 1 : 2]!++;
    if (this.onUnassigned !== undefined) this.onUnassigned(this.name, addr, size, isWrite, reason);
    if (this.policy === 'fault') {
      throw new VhwError('E_UNASSIGNED', `${this.name}: ${isWrite ? 'write' : 'read'} of ${size} bytes at ${hex(addr)} (${reason})`);
    }
  }
}
