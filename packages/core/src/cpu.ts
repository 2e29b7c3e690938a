import { type HighHalf, accessIsValid, adaptedRead, adaptedWrite, allOnes } from './access.js';
import type { SimClock } from './clock.js';
import type { CostModel } from './cost-model.js';
import { type Charge, GUEST_WORK, INTERRUPT } from './cost-meter.js';
import type { MachineEvents } from './events.js';
import { type Mmu, MmuMapping, PageKind, type TranslationCache } from './mmu.js';
import type { GuestAccessCounts, Stats } from './stats.js';
import type { GuestInterruptHandler, TrapHandler } from './trap-handler.js';

const NO_MAPPING = new MmuMapping({ name: '(none)', kind: PageKind.Trap, base: 0, size: 0, pageSlots: new Int32Array(0) });
const EMPTY_VIEW = new DataView(new ArrayBuffer(0));
const PENDING_CAPACITY = 4096;

/**
 * The guest CPU facade: loads and stores of 1, 2, 4 or 8 bytes go through the MMU and
 * advance the simulated clock by the cost of the path they take:
 * RAM → the page's buffer; direct → the device's register handler, no exit;
 * trap → a userspace exit to the VMM's trap handler.
 * Interrupts raised during an access are queued and taken after it completes, as a CPU
 * takes them between instructions; nothing calls back into the guest mid-access.
 *
 * Translations are cached in two entries, like a tiny TLB: the last RAM mapping and the
 * last direct mapping, so a driver that alternates between descriptors in RAM and
 * registers in a BAR hits both. Each entry is kept unpacked in fields of the CPU, so an
 * access that hits reads nothing but `this` and its counters. The MMU invalidates both on
 * every map change. A third entry, checked only once both missed, holds the page of the
 * last trapped access (and counts that page's traps). While tracing is on nothing is cached, so the per-access events are
 * emitted from the miss path only and the hits carry no tracing test.
 */
export class GuestCpu implements TranslationCache, GuestAccessCounts, HighHalf {
  /** High 32 bits of the last 8-byte load. */
  high = 0;
  /**
   * RAM and direct reads and writes since the CPU was made, never reset: the one counter
   * such an access increments (trapped ones below). `Stats` reports them (since its last reset) and `SimClock`
   * charges them (see `SimClock.countAccessesOf`).
   */
  ramReads = 0;
  ramWrites = 0;
  directReads = 0;
  directWrites = 0;
  /** Trapped reads and writes, counted the same way (every trap, mapped or not). */
  trapReads = 0;
  trapWrites = 0;
  // RAM entry: [ramBase, ramEnd) is backed by ramView. Empty when ramEnd is 0.
  private ramBase = 0;
  private ramEnd = 0;
  private ramView: DataView = EMPTY_VIEW;
  // Direct entry: [directBase, directEnd) is the direct mapping `direct` up to the end of its
  // route, whose handler (and route) sees gpa - directDelta. A hit calls the route.
  private direct: MmuMapping = NO_MAPPING;
  private directBase = 0;
  private directEnd = 0;
  private directDelta = 0;
  // Trap entry, checked on the miss path only: the page of the last trapped access, in
  // mapping `trapMapping`. Its traps are counted per page without a per-page increment:
  // those since the entry was set, (traps - untracked) - trapEntryStart, go to its slot
  // of Stats.pageTrap when the entry changes or the statistics ask (flushTrapPageCounts).
  private trapMapping: MmuMapping = NO_MAPPING;
  private trapBase = 0;
  private trapEnd = 0;
  private trapSlot = -1;
  private trapEntryStart = 0;
  /** Traps not counted through the trap entry (unmapped addresses, or taken while tracing). */
  private untrackedTraps = 0;
  private trapHandler: TrapHandler | undefined;
  declare private readonly unmappedReason: number;
  private interruptHandler: GuestInterruptHandler | undefined;
  private readonly pending = new Int32Array(PENDING_CAPACITY);
  private pendingHead = 0;
  private pendingCount = 0;
  private delivering = false;
  /** Interrupts that arrived with the pending queue full (counted, never silently lost). */
  droppedInterrupts = 0;

  // Charges resolved once by the clock's meter (accesses, and the exit of a trapped one,
  // are charged by the clock from this CPU's counts at the meter's counted-access costs).
  declare private interrupt: Charge;
  declare private workCharge: Charge;

  // Fields assigned in the constructor are created with their first real value: an emitted `x;` field starts as
  // undefined and V8 then loses the field's type and representation, which costs every access on the hot path. The
  // project compiles with useDefineForClassFields off for this reason (tsconfig.base.json); `declare` keeps it so
  // here whatever a consumer compiles these sources with.
  declare private readonly mmu: Mmu;
  declare private readonly clock: SimClock;
  declare private readonly stats: Stats;
  declare private readonly events: MachineEvents;

  constructor(mmu: Mmu, clock: SimClock, stats: Stats, events: MachineEvents, costs: CostModel) {
    this.mmu = mmu;
    this.clock = clock;
    this.stats = stats;
    this.events = events;
    this.unmappedReason = stats.reasonId('unmapped');
    // Registered before the costs are set: a second CPU is refused before it can change
    // the costs the clock charges the first one's accesses at.
    stats.countAccessesOf(this);
    clock.countAccessesOf(this);
    this.applyCosts(costs);
    mmu.addTranslationCache(this);
    events.watchTracing(() => this.invalidateTranslations());
  }

  /** Re-reads the per-path costs (after the cost model changed). */
  applyCosts(costs: CostModel): void {
    const meter = this.clock.meter;
    meter.countedAccessCharges(costs);
    this.interrupt = meter.resolve(INTERRUPT, costs);
    this.workCharge = meter.resolve(GUEST_WORK, costs);
  }

  /** The VMM registers where trapped accesses go. */
  setTrapHandler(handler: TrapHandler): void {
    this.trapHandler = handler;
  }

  /** The guest OS registers its interrupt entry point. */
  onInterrupt(handler: GuestInterruptHandler | undefined): void {
    this.interruptHandler = handler;
  }

  get now(): number {
    return this.clock.now;
  }

  /** Charges guest CPU work that is not a memory access (driver bookkeeping), in nanoseconds. */
  work(ns: number): void {
    this.workCharge.addNs(ns);
  }

  /** Drops both cached translations (the MMU calls this on every map change). */
  invalidateTranslations(): void {
    this.ramBase = 0;
    this.ramEnd = 0;
    this.ramView = EMPTY_VIEW;
    this.direct = NO_MAPPING;
    this.directBase = 0;
    this.directEnd = 0;
    this.directDelta = 0;
    this.setTrapEntry(NO_MAPPING, 0, 0, -1);
  }

  /** Adds the traps counted for the cached trap page to `Stats.pageTrap` (see the trap entry). */
  flushTrapPageCounts(): void {
    const tracked = this.trapReads + this.trapWrites - this.untrackedTraps;
    if (this.trapSlot >= 0 && tracked !== this.trapEntryStart) this.stats.pageTrap[this.trapSlot]! += tracked - this.trapEntryStart;
    this.trapEntryStart = tracked;
  }

  private setTrapEntry(m: MmuMapping, base: number, end: number, slot: number): void {
    this.flushTrapPageCounts();
    this.trapMapping = m;
    this.trapBase = base;
    this.trapEnd = end;
    this.trapSlot = slot;
  }

  // Two pairs of entry points do the same thing: load/store for memory, mmioLoad/mmioStore for device registers (a
  // guest driver's readl/writel). The MMU decides the path either way; they differ in which hit they test first and,
  // above all, in being separate functions: V8 keeps type feedback per function and compiles every inlined copy of a
  // function with the code of every path it has seen, so RAM code that shared its accessor with register code paid
  // for the register path too (about twice the cost of a RAM access; see the README's performance section).
  //
  // Each holds the two hits and nothing else, so that V8 inlines it into the caller; the hits themselves are small
  // helpers. Everything else (a trap, a miss, tracing) is in `slow`, one call away, and `slow` is too large for V8
  // to inline, so it never takes the inlining budget the hits need.

  /** Loads `size` bytes. For size 8 the return value is the low half and `high` holds the upper one. */
  load(gpa: number, size: 1 | 2 | 4 | 8): number {
    const v =
      gpa >= this.ramBase && gpa + size <= this.ramEnd
        ? this.ramRead(gpa - this.ramBase, size)
        : gpa >= this.directBase && gpa + size <= this.directEnd
          ? this.directRead(gpa - this.directDelta, size)
          : this.slow(gpa, size, false, 0, 0);
    if (this.pendingCount !== 0) this.deliverPending();
    return v;
  }

  /** Stores `size` bytes; for size 8, `value` is the low half and `high` the upper one. */
  store(gpa: number, size: 1 | 2 | 4 | 8, value: number, high?: number): void {
    if (gpa >= this.ramBase && gpa + size <= this.ramEnd) this.ramWrite(gpa - this.ramBase, size, value, high);
    else if (gpa >= this.directBase && gpa + size <= this.directEnd) this.directWrite(gpa - this.directDelta, size, value, high);
    else this.slow(gpa, size, true, value, high ?? 0);
    if (this.pendingCount !== 0) this.deliverPending();
  }

  /** A device register load (readl): the same access as `load`, for register code. */
  mmioLoad(gpa: number, size: 1 | 2 | 4 | 8): number {
    const v =
      gpa >= this.directBase && gpa + size <= this.directEnd
        ? this.directRead(gpa - this.directDelta, size)
        : gpa >= this.ramBase && gpa + size <= this.ramEnd
          ? this.ramRead(gpa - this.ramBase, size)
          : this.slow(gpa, size, false, 0, 0);
    if (this.pendingCount !== 0) this.deliverPending();
    return v;
  }

  /** A device register store (writel): the same access as `store`, for register code. */
  mmioStore(gpa: number, size: 1 | 2 | 4 | 8, value: number, high?: number): void {
    if (gpa >= this.directBase && gpa + size <= this.directEnd) this.directWrite(gpa - this.directDelta, size, value, high);
    else if (gpa >= this.ramBase && gpa + size <= this.ramEnd) this.ramWrite(gpa - this.ramBase, size, value, high);
    else this.slow(gpa, size, true, value, high ?? 0);
    if (this.pendingCount !== 0) this.deliverPending();
  }

  /** A RAM-entry hit at `off` in the cached RAM mapping. */
  private ramRead(off: number, size: 1 | 2 | 4 | 8): number {
    this.ramReads++;
    return size === 4 ? this.ramView.getUint32(off, true) : this.ramLoadOther(this.ramView, off, size);
  }

  private ramWrite(off: number, size: 1 | 2 | 4 | 8, value: number, high: number | undefined): void {
    this.ramWrites++;
    if (size === 4) this.ramView.setUint32(off, value >>> 0, true);
    else this.ramStoreOther(this.ramView, off, size, value, high ?? 0);
  }

  /**
   * A direct-entry hit: an aligned access of a size the handler takes goes straight to it. The
   * test is core's `takesAsIs` written out on purpose: as a call it spends load/store's inlining
   * budget (a direct access measured 2.4x -> 3.2x raw alone, `npm run bench -- --hot-only`).
   */
  private directRead(hoff: number, size: 1 | 2 | 4 | 8): number {
    const m = this.direct;
    this.directReads++;
    return (size === 4 || size === 1 || size === 2) && (m.passSizes & size) !== 0 && (hoff & -size) === hoff
      ? m.route!.read(hoff, size)
      : this.directLoadOther(m, hoff, size);
  }

  private directWrite(hoff: number, size: 1 | 2 | 4 | 8, value: number, high: number | undefined): void {
    const m = this.direct;
    this.directWrites++;
    if ((size === 4 || size === 1 || size === 2) && (m.passSizes & size) !== 0 && (hoff & -size) === hoff)
      m.route!.write(hoff, size, value);
    else this.directStoreOther(m, hoff, size, value, high ?? 0);
  }

  /**
   * The mapping of an access that missed every entry, cached in the entry of its kind
   * unless tracing is on; NO_MAPPING when nothing maps the access or it
   * straddles the end of a mapping (it traps).
   */
  private resolve(gpa: number, size: number): MmuMapping {
    const m = this.mmu.lookup(gpa);
    if (m === undefined || gpa + size > m.end) return NO_MAPPING;
    if (this.events.tracing) return m;
    if (m.kind === PageKind.Ram) {
      this.ramBase = m.base;
      this.ramEnd = m.end;
      this.ramView = m.view!;
    } else if (m.kind === PageKind.Direct) {
      this.direct = m;
      this.directBase = m.base;
      // Up to where its route ends: the rest of the mapping misses, and `slow` sends it through the handler.
      this.directEnd = m.routeEnd;
      this.directDelta = m.base - m.handlerOffset;
    } else {
      // One page of the mapping, so that its traps are all counted for that page.
      const pageIndex = ((gpa - m.base) * this.mmu.invPageSize) | 0;
      const pageBase = m.base + pageIndex * this.mmu.pageSize;
      this.setTrapEntry(m, pageBase, pageBase + this.mmu.pageSize, m.pageSlots[pageIndex]!);
    }
    return m;
  }

  /**
   * An access that hit neither the RAM nor the direct entry: a trap (the trap entry, or a
   * lookup), a miss, or any access while tracing. Loads and stores share this one
   * function on purpose: it is too large for V8 to inline, so the inlining budget of a
   * caller goes to the hits in load and store.
   */
  private slow(gpa: number, size: 1 | 2 | 4 | 8, isWrite: boolean, value: number, high: number): number {
    let m = this.trapMapping;
    if (!(gpa >= this.trapBase && gpa + size <= this.trapEnd)) {
      m = this.resolve(gpa, size);
      // A trap the entry does not count: nothing maps the address (or the access straddles
      // the end of a mapping), or tracing is on and nothing is cached.
      if (m.kind === PageKind.Trap && (m === NO_MAPPING || m !== this.trapMapping)) this.untrackedTrap(m, gpa);
    }
    if (m.kind === PageKind.Trap) {
      // One userspace exit to the VMM's trap handler. While tracing, note when it begins
      // (before it is counted, and so charged): one tracing test per trap, here rather than
      // after the handler, so that a trace's slice spans the exit and the VMM's work whichever
      // handler serves the page (the one resolved for it, or the CPU's own).
      const startNs = this.events.tracing ? this.clock.now : -1;
      const stats = this.stats;
      if (isWrite) this.trapWrites++;
      else this.trapReads++;
      // (the exit is charged by the clock from the count, see CountedAccesses)
      const reason = m === NO_MAPPING ? this.unmappedReason : m.reasonId;
      let v = value;
      // The handler resolved for the page, when its VMM gave one; otherwise the VMM's own.
      const h = m.trapHandler ?? this.trapHandler;
      if (h === undefined) {
        // No VMM: nothing decodes the access; answer as a master abort.
        stats.countTrap(reason);
        stats.unassigned++;
        if (!isWrite) {
          this.high = 0xffffffff;
          v = size === 8 ? 0xffffffff : allOnes(size as 1 | 2 | 4);
        }
      } else if (isWrite) h.write(gpa, size, value, high, reason);
      else {
        v = h.read(gpa, size, reason);
        if (size === 8) this.high = h.high;
      }
      if (startNs >= 0) this.traceTrap(gpa, size, isWrite, v, reason, startNs);
      return isWrite ? 0 : v;
    }
    if (!this.events.tracing) {
      // Now in its entry: take the hit (through the helpers, not load/store, whose type
      // feedback should reflect their callers' accesses only).
      if (m.kind === PageKind.Ram) {
        if (!isWrite) return this.ramRead(gpa - this.ramBase, size);
        this.ramWrite(gpa - this.ramBase, size, value, high);
      } else if (gpa + size <= this.directEnd) {
        if (!isWrite) return this.directRead(gpa - this.directDelta, size);
        this.directWrite(gpa - this.directDelta, size, value, high);
      } else if (isWrite) {
        // Past the end of the mapping's route (the bytes of a sub-page BAR's page beyond the
        // BAR): the mapping's own handler, which sends them where the host decodes them.
        this.directWrites++;
        this.directStoreOther(m, gpa - this.directDelta, size, value, high);
      } else {
        this.directReads++;
        return this.directLoadOther(m, gpa - this.directDelta, size);
      }
      return 0;
    }
    // Tracing: nothing is cached; the access is done and traced here.
    const off = gpa - m.base;
    let v = value;
    if (m.kind === PageKind.Ram) {
      if (isWrite) this.ramWrites++;
      else this.ramReads++;
      const dv = m.view!;
      if (!isWrite) v = size === 4 ? dv.getUint32(off, true) : this.ramLoadOther(dv, off, size);
      else if (size === 4) dv.setUint32(off, value >>> 0, true);
      else this.ramStoreOther(dv, off, size, value, high);
    } else {
      const hoff = m.handlerOffset + off;
      if (isWrite) {
        this.directWrites++;
        this.directStoreOther(m, hoff, size, value, high);
      } else {
        this.directReads++;
        v = this.directLoadOther(m, hoff, size);
      }
    }
    this.trace(m.kind === PageKind.Ram ? 'ram' : 'direct', gpa, size, isWrite, v);
    return isWrite ? 0 : v;
  }

  /** Counts a trap the trap entry will not: by its page when it has one, and as untracked. */
  private untrackedTrap(m: MmuMapping, gpa: number): void {
    this.untrackedTraps++;
    if (m !== NO_MAPPING) this.stats.pageTrap[m.pageSlots[((gpa - m.base) * this.mmu.invPageSize) | 0]!]!++;
  }

  private ramLoadOther(dv: DataView, off: number, size: 1 | 2 | 8): number {
    if (size === 8) {
      this.high = dv.getUint32(off + 4, true);
      return dv.getUint32(off, true);
    }
    return size === 2 ? dv.getUint16(off, true) : dv.getUint8(off);
  }

  private ramStoreOther(dv: DataView, off: number, size: 1 | 2 | 8, value: number, high: number): void {
    if (size === 8) {
      dv.setUint32(off, value >>> 0, true);
      dv.setUint32(off + 4, high >>> 0, true);
    } else if (size === 2) dv.setUint16(off, value & 0xffff, true);
    else dv.setUint8(off, value & 0xff);
  }

  /** A direct load the handler does not take as it is: adapted, split (8 bytes) or refused. */
  private directLoadOther(m: MmuMapping, hoff: number, size: 1 | 2 | 4 | 8): number {
    const c = m.constraints!;
    if (!accessIsValid(c, hoff, size)) {
      // The device does not decode this access: the bus answers with all-ones.
      this.stats.unassigned++;
      this.high = 0xffffffff;
      return size === 8 ? 0xffffffff : allOnes(size);
    }
    if (size !== 8) return adaptedRead(m.handler!, c, hoff, size);
    // 8 bytes: two 4-byte accesses, low half first
    const v = adaptedRead(m.handler!, c, hoff, 4);
    this.high = adaptedRead(m.handler!, c, hoff + 4, 4);
    return v;
  }

  private directStoreOther(m: MmuMapping, hoff: number, size: 1 | 2 | 4 | 8, value: number, high: number): void {
    const c = m.constraints!;
    if (!accessIsValid(c, hoff, size)) {
      this.stats.unassigned++;
      return;
    }
    if (size !== 8) {
      adaptedWrite(m.handler!, c, hoff, size, value);
      return;
    }
    adaptedWrite(m.handler!, c, hoff, 4, value >>> 0);
    adaptedWrite(m.handler!, c, hoff + 4, 4, high >>> 0);
  }

  /**
   * Queues a device interrupt for the guest (called by the interrupt path, e.g. the VMM's
   * irqfd). Taken after the current access completes.
   */
  raiseInterrupt(vector: number): void {
    if (this.pendingCount === PENDING_CAPACITY) {
      this.droppedInterrupts++;
      return;
    }
    this.pending[(this.pendingHead + this.pendingCount) % PENDING_CAPACITY] = vector;
    this.pendingCount++;
    if (this.events.tracing) {
      this.events.emit('interrupt', { source: 'guest', vector, delivered: true, timeNs: this.clock.now });
    }
  }

  /** Interrupts raised and not yet taken. */
  get pendingInterrupts(): number {
    return this.pendingCount;
  }

  /** Takes every pending interrupt now (the guest idles until they arrive). */
  deliverPending(): void {
    if (this.delivering) return;
    this.delivering = true;
    try {
      while (this.pendingCount > 0) {
        const vector = this.pending[this.pendingHead]!;
        this.pendingHead = (this.pendingHead + 1) % PENDING_CAPACITY;
        this.pendingCount--;
        this.stats.interrupts++;
        this.interrupt.add();
        if (this.interruptHandler !== undefined) this.interruptHandler(vector);
      }
    } finally {
      this.delivering = false;
    }
  }

  /** Drops pending interrupts and the lookup cache (machine reset). */
  reset(): void {
    this.pendingCount = 0;
    this.pendingHead = 0;
    this.invalidateTranslations();
    this.high = 0;
  }

  private trace(path: 'ram' | 'direct', gpa: number, size: number, isWrite: boolean, value: number): void {
    this.events.emit('access', { path, gpa, size, isWrite, value, timeNs: this.clock.now });
  }

  private traceTrap(gpa: number, size: number, isWrite: boolean, value: number, reasonId: number, startNs: number): void {
    const timeNs = this.clock.now;
    this.events.emit('access', { path: 'trap', gpa, size, isWrite, value, timeNs });
    this.events.emit('trap', { gpa, size, isWrite, reason: this.stats.reasonName(reasonId), startNs, timeNs });
  }
}
