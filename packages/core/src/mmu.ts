import {
  type AccessConstraints,
  type CompiledConstraints,
  type MmioHandler,
  DEFAULT_CONSTRAINTS,
  compileConstraints,
  passThroughSizes,
} from './access.js';
import { VhwError, hex } from './errors.js';
import type { MachineEvents } from './events.js';
import { FlatView, overlapError } from './flat-view.js';
import { isRoutedMmio } from './mmio-route.js';
import type { Stats } from './stats.js';
import type { TrapHandler } from './trap-handler.js';

/** What a guest page resolves to. Every access resolves to exactly one of these. */
export const PageKind = { Ram: 0, Direct: 1, Trap: 2 } as const;
export type PageKindId = (typeof PageKind)[keyof typeof PageKind];
const KIND_NAMES = ['ram', 'direct', 'trap'] as const;

/** One stage-2 mapping: a run of whole guest pages of one kind. */
export class MmuMapping {
  declare readonly name: string;
  declare readonly kind: PageKindId;
  declare readonly base: number;
  declare readonly size: number;
  declare readonly end: number;
  /** RAM: the host buffer. */
  declare readonly view: DataView | undefined;
  /** Direct: the device register handler and the offset of `base` within it. */
  declare readonly handler: MmioHandler | undefined;
  declare readonly handlerOffset: number;
  /**
   * Direct: what a plain access (aligned, of a size in `passSizes`, below `routeEnd`) calls.
   * The handler itself, unless it offers a route (a `RoutedMmioHandler`): then the
   * handler's current route, re-pointed by the MMU whenever the state behind it changes
   * (a PE freezes, a BAR stops decoding), so no access tests that state.
   */
  route: MmioHandler | undefined;
  /** Direct: where plain accesses stop going to `route` (the end of the BAR behind a sub-page mapping); `end` otherwise. */
  declare readonly routeEnd: number;
  declare readonly constraints: CompiledConstraints | undefined;
  /**
   * Direct: bit `size` is set for each access size the handler (and its route) takes as it is
   * (valid and within impl); an aligned access of such a size skips the constraint checks. 0 otherwise.
   */
  declare readonly passSizes: number;
  /** Direct: the host physical address behind `base` (for maps and isolation reports). */
  declare readonly hostPa: number;
  /** Trap: the counter id of the reason this range traps. */
  declare readonly reasonId: number;
  /**
   * Trap: the handler the VMM resolved ahead of time for this range (bound to what lies
   * behind it, as QEMU's softmmu TLB points at a MemoryRegion's ops), called instead of the
   * guest CPU's trap handler; undefined while it has none. Set with `Mmu.resolveTrap`.
   */
  trapHandler: TrapHandler | undefined = undefined;
  declare readonly owner: string | undefined;
  /** Trap: the stats counter slot of each page of the mapping (trapped accesses are counted per page). */
  declare readonly pageSlots: Int32Array;

  constructor(init: {
    name: string;
    kind: PageKindId;
    base: number;
    size: number;
    view?: DataView;
    handler?: MmioHandler;
    handlerOffset?: number;
    /** Direct: the route of plain accesses and where it ends (default: the handler, to the mapping's end). */
    route?: MmioHandler;
    routeEnd?: number;
    /** Direct: the sizes the route takes as they are, on top of the constraints (default: all). */
    routeSizes?: number;
    constraints?: CompiledConstraints;
    hostPa?: number;
    reasonId?: number;
    owner?: string;
    pageSlots: Int32Array;
  }) {
    this.name = init.name;
    this.kind = init.kind;
    this.base = init.base;
    this.size = init.size;
    this.end = init.base + init.size;
    this.view = init.view;
    this.handler = init.handler;
    this.handlerOffset = init.handlerOffset ?? 0;
    this.route = init.route ?? init.handler;
    this.routeEnd = init.routeEnd ?? this.end;
    this.constraints = init.constraints;
    this.passSizes = init.constraints === undefined ? 0 : passThroughSizes(init.constraints) & (init.routeSizes ?? 7);
    this.hostPa = init.hostPa ?? -1;
    this.reasonId = init.reasonId ?? -1;
    this.owner = init.owner;
    this.pageSlots = init.pageSlots;
  }

  get kindName(): 'ram' | 'direct' | 'trap' {
    return KIND_NAMES[this.kind];
  }
}

const NO_SLOTS = new Int32Array(0);

/** What caches translations (a guest CPU's TLB): told to drop them whenever the mappings change. */
export interface TranslationCache {
  invalidateTranslations(): void;
}

export interface DirectMappingSpec {
  name: string;
  gpa: number;
  size: number;
  /** The host physical address the guest range is backed by (page aligned). */
  hostPa: number;
  /** The register handler reached without an exit, and the offset of `gpa` within it. */
  handler: MmioHandler;
  handlerOffset: number;
  constraints?: AccessConstraints;
  owner?: string;
}

/**
 * The stage-2 MMU: guest-physical pages mapped as RAM, as direct device MMIO (an
 * mmapped BAR page: the access reaches the device with no exit) or as trap (the access
 * exits to the VMM). Addresses with no mapping trap too, as an access outside every KVM
 * memory slot exits to userspace. Mappings are whole pages of `pageSize`.
 */
export class Mmu {
  declare readonly pageSize: number;
  /** 1 / pageSize, exact because pageSize is a power of two. */
  declare readonly invPageSize: number;
  private mappings: MmuMapping[] = [];
  /** The direct mappings that follow a route, each with the function that stops following it. */
  private readonly routeWatches = new Map<MmuMapping, () => void>();
  private view: FlatView<MmuMapping> = new FlatView([]);
  private generationCounter = 0;
  private readonly caches: TranslationCache[] = [];

  declare private readonly stats: Stats;
  declare private readonly events: MachineEvents;

  constructor(pageSize: number, stats: Stats, events: MachineEvents) {
    this.stats = stats;
    this.events = events;
    if (!Number.isSafeInteger(pageSize) || pageSize < 4096 || (pageSize & (pageSize - 1)) !== 0) {
      throw new VhwError('E_CONFIG', `MMU page size ${String(pageSize)}; allowed: a power of two >= 4096 (4k, 16k, 64k, ...)`);
    }
    this.pageSize = pageSize;
    this.invPageSize = 1 / pageSize;
  }

  /** Registers a translation cache to be invalidated on every map change (a TLB shootdown). */
  addTranslationCache(cache: TranslationCache): void {
    this.caches.push(cache);
  }

  /** Bumped on every map change, so cached lookups can tell they are stale. */
  get generation(): number {
    return this.generationCounter;
  }

  isPageAligned(x: number): boolean {
    return x % this.pageSize === 0;
  }

  pageOf(addr: number): number {
    return addr - (addr % this.pageSize);
  }

  mapRam(name: string, gpa: number, size: number, buffer?: ArrayBuffer): MmuMapping {
    this.checkPages(name, gpa, size, 'RAM');
    const buf = buffer ?? new ArrayBuffer(size);
    if (buf.byteLength < size) {
      throw new VhwError('E_RANGE', `RAM mapping "${name}": buffer of ${buf.byteLength} bytes is smaller than ${size}`);
    }
    return this.add(new MmuMapping({ name, kind: PageKind.Ram, base: gpa, size, view: new DataView(buf, 0, size), pageSlots: NO_SLOTS }));
  }

  /** Maps device MMIO direct (the mmap fast path). Guest and host addresses and the size must be whole pages. */
  mapDirect(spec: DirectMappingSpec): MmuMapping {
    this.checkPages(spec.name, spec.gpa, spec.size, 'direct');
    if (!Number.isSafeInteger(spec.hostPa) || !this.isPageAligned(spec.hostPa)) {
      throw new VhwError(
        'E_ALIGNMENT',
        `direct mapping "${spec.name}": host address ${hex(spec.hostPa)} is not aligned to the ${this.pageSize}-byte page`,
      );
    }
    const constraints = compileConstraints(spec.constraints ?? DEFAULT_CONSTRAINTS, `direct mapping "${spec.name}"`);
    const h = spec.handler;
    const routed = isRoutedMmio(h) ? h : undefined;
    const m = this.add(
      new MmuMapping({
        name: spec.name,
        kind: PageKind.Direct,
        base: spec.gpa,
        size: spec.size,
        handler: h,
        handlerOffset: spec.handlerOffset,
        ...(routed
          ? {
              route: routed.route,
              routeSizes: routed.routeSizes,
              // The route's end in guest addresses, within the mapping.
              routeEnd: Math.min(spec.gpa + spec.size, Math.max(spec.gpa, spec.gpa + routed.routeEnd - spec.handlerOffset)),
            }
          : {}),
        constraints,
        hostPa: spec.hostPa,
        owner: spec.owner,
        pageSlots: NO_SLOTS,
      }),
    );
    if (routed) {
      // A state change behind the mapping re-points it (the guest CPU reads `route` on every
      // access, so nothing cached needs dropping).
      this.routeWatches.set(
        m,
        routed.watchRoute(() => {
          m.route = routed.route;
        }),
      );
    }
    return m;
  }

  /** Marks whole pages as trapping with a reason (the access still exits; this names why and counts it per page). */
  mapTrap(name: string, gpa: number, size: number, reason: string, owner?: string): MmuMapping {
    this.checkPages(name, gpa, size, 'trap');
    return this.add(
      new MmuMapping({
        name,
        kind: PageKind.Trap,
        base: gpa,
        size,
        reasonId: this.stats.reasonId(reason),
        owner,
        pageSlots: this.slots(gpa, size),
      }),
    );
  }

  unmap(name: string): void {
    const i = this.mappings.findIndex((m) => m.name === name);
    if (i < 0)
      throw new VhwError(
        'E_NOT_FOUND',
        `MMU: no mapping named "${name}"; mapped: ${this.mappings.map((m) => m.name).join(', ') || 'none'}`,
      );
    const m = this.mappings.splice(i, 1)[0]!;
    this.routeWatches.get(m)?.();
    this.routeWatches.delete(m);
    this.rebuild();
    this.events.emit('map', { action: 'unmap', kind: m.kindName, name: m.name, gpa: m.base, size: m.size });
  }

  /**
   * Gives the trap mapping `name` a handler resolved ahead of time (or takes it away with
   * undefined): its accesses exit to it rather than to the guest CPU's trap handler. The
   * guest CPU reads it on every trap, so nothing cached needs dropping.
   * @throws VhwError E_NOT_FOUND when no trap mapping has that name.
   */
  resolveTrap(name: string, handler: TrapHandler | undefined): void {
    const m = this.mappings.find((x) => x.name === name && x.kind === PageKind.Trap);
    if (m === undefined) throw new VhwError('E_NOT_FOUND', `MMU: no trap mapping named "${name}"`);
    m.trapHandler = handler;
  }

  /** The mapping containing `gpa`, or undefined (unmapped: the access traps). */
  lookup(gpa: number): MmuMapping | undefined {
    return this.view.find(gpa);
  }

  /** All mappings in guest-physical order. */
  get entries(): readonly MmuMapping[] {
    return this.view.entries;
  }

  /** Where an access to `gpa` goes, for explanations (not the hot path). */
  translate(gpa: number): { path: 'ram' | 'direct' | 'trap'; mapping: MmuMapping | undefined; hostPa?: number } {
    const m = this.lookup(gpa);
    if (m === undefined) return { path: 'trap', mapping: undefined };
    if (m.kind === PageKind.Direct) return { path: 'direct', mapping: m, hostPa: m.hostPa + (gpa - m.base) };
    return { path: m.kindName, mapping: m };
  }

  private checkPages(name: string, gpa: number, size: number, what: string): void {
    if (typeof name !== 'string' || name.length === 0) throw new VhwError('E_CONFIG', `${what} mapping: name must be a non-empty string`);
    if (!Number.isSafeInteger(gpa) || gpa < 0)
      throw new VhwError('E_RANGE', `${what} mapping "${name}": gpa ${String(gpa)} must be a non-negative safe integer`);
    if (!Number.isSafeInteger(size) || size <= 0)
      throw new VhwError('E_RANGE', `${what} mapping "${name}": size ${String(size)} must be a positive safe integer`);
    if (!this.isPageAligned(gpa) || !this.isPageAligned(size)) {
      throw new VhwError(
        'E_ALIGNMENT',
        `${what} mapping "${name}" [${hex(gpa)}, ${hex(gpa + size)}): guest address and size must be whole ${this.pageSize}-byte pages`,
      );
    }
  }

  private slots(gpa: number, size: number): Int32Array {
    const n = size / this.pageSize;
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.stats.pageSlot(gpa + i * this.pageSize);
    return out;
  }

  private add(m: MmuMapping): MmuMapping {
    for (const other of this.mappings) {
      if (m.base < other.end && other.base < m.end) throw overlapError(other, m);
      if (other.name === m.name) throw new VhwError('E_CONFIG', `MMU: a mapping named "${m.name}" exists already`);
    }
    this.mappings.push(m);
    this.rebuild();
    this.events.emit('map', { action: 'map', kind: m.kindName, name: m.name, gpa: m.base, size: m.size });
    return m;
  }

  private rebuild(): void {
    this.view = new FlatView(this.mappings);
    this.generationCounter++;
    for (const c of this.caches) c.invalidateTranslations();
  }
}
