import { accessIsValid, adaptedRead, adaptedWrite, allOnes } from './access.js';
import type { SimClock } from './clock.js';
import type { CostModel } from './cost-model.js';
import type { MachineEvents } from './events.js';
import { type Mmu, MmuMapping, PageKind } from './mmu.js';
import { Path, type Stats } from './stats.js';

/**
 * The VMM's side of a trap: the access exits to it with the guest-physical address.
 * The handler counts the trap in `stats.trapsByReasonCounts`, because only it knows
 * the region the access lands in; `reasonId` is the MMU page's reason, its default.
 * For 8-byte reads the return value is the low half and the handler leaves the high
 * half in `high`.
 */
export interface TrapHandler {
  high: number;
  read(gpa: number, size: number, reasonId: number): number;
  write(gpa: number, size: number, value: number, high: number, reasonId: number): void;
}

/** Guest interrupt handler: called at an instruction boundary, after the access that caused it has completed. */
export type GuestInterruptHandler = (vector: number) => void;

const NO_MAPPING = new MmuMapping({ name: '(none)', kind: PageKind.Trap, base: 0, size: 0, pageSlots: new Int32Array(0) });
const PENDING_CAPACITY = 4096;
const RAM_READ = Path.Ram * 2;
const RAM_WRITE = Path.Ram * 2 + 1;
const DIRECT_READ = Path.Direct * 2;
const DIRECT_WRITE = Path.Direct * 2 + 1;
const TRAP_READ = Path.Trap * 2;
const TRAP_WRITE = Path.Trap * 2 + 1;

/**
 * The guest CPU facade: loads and stores of 1, 2, 4 or 8 bytes go through the MMU and
 * advance the simulated clock by the cost of the path they take:
 * RAM → the page's buffer; direct → the device's register handler, no exit;
 * trap → a userspace exit to the VMM's trap handler.
 * Interrupts raised during an access are queued and taken after it completes, as a CPU
 * takes them between instructions; nothing calls back into the guest mid-access.
 */
export class GuestCpu {
  /** High 32 bits of the last 8-byte load. */
  high = 0;
  private last: MmuMapping = NO_MAPPING;
  private lastGeneration = -1;
  private trapHandler: TrapHandler | undefined;
  declare private readonly unmappedReason: number;
  private interruptHandler: GuestInterruptHandler | undefined;
  private readonly pending = new Int32Array(PENDING_CAPACITY);
  private pendingHead = 0;
  private pendingCount = 0;
  private delivering = false;
  /** Interrupts that arrived with the pending queue full (counted, never silently lost). */
  droppedInterrupts = 0;

  // Costs in ns, resolved once from the cost model.
  private ramNs = 0;
  private directReadNs = 0;
  private directWriteNs = 0;
  private exitNs = 0;
  private interruptNs = 0;

  // Fields assigned in the constructor are `declare`d so they are created with their
  // first real value: an emitted `x;` field starts as undefined and V8 then loses the
  // field's type and representation, which costs every access on the hot path.
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
    this.applyCosts(costs);
  }

  /** Re-reads the per-path costs (after the cost model changed). */
  applyCosts(costs: CostModel): void {
    this.ramNs = costs.ns('mem.ramAccessNs');
    this.directReadNs = costs.ns('dev.mmioReadNs');
    this.directWriteNs = costs.ns('dev.mmioWriteNs');
    this.exitNs = costs.userspaceExitNs;
    this.interruptNs = costs.interruptNs;
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
    this.clock.now += ns;
  }

  /** The mapping of an access that missed the one-entry cache (or NO_MAPPING: it traps). */
  private resolve(gpa: number, size: number): MmuMapping {
    const m = this.mmu.lookup(gpa) ?? NO_MAPPING;
    if (gpa + size > m.end) return NO_MAPPING; // straddles the end of a mapping: the VMM handles it
    this.last = m;
    this.lastGeneration = this.mmu.generation;
    return m;
  }

  // load and store are kept small so that V8 inlines them, and the path taken, into the caller.

  /** Loads `size` bytes. For size 8 the return value is the low half and `high` holds the upper one. */
  load(gpa: number, size: 1 | 2 | 4 | 8): number {
    let m = this.last;
    if (!(this.lastGeneration === this.mmu.generation && gpa >= m.base && gpa + size <= m.end)) m = this.resolve(gpa, size);
    const v =
      m.kind === PageKind.Ram
        ? this.ramLoad(m, gpa, size)
        : m.kind === PageKind.Direct
          ? this.directLoad(m, gpa, size)
          : this.trapRead(m, gpa, size, gpa - m.base);
    if (this.pendingCount !== 0) this.deliverPending();
    return v;
  }

  /** Stores `size` bytes; for size 8, `value` is the low half and `high` the upper one. */
  store(gpa: number, size: 1 | 2 | 4 | 8, value: number, high = 0): void {
    let m = this.last;
    if (!(this.lastGeneration === this.mmu.generation && gpa >= m.base && gpa + size <= m.end)) m = this.resolve(gpa, size);
    if (m.kind === PageKind.Ram) this.ramStore(m, gpa, size, value, high);
    else if (m.kind === PageKind.Direct) this.directStore(m, gpa, size, value, high);
    else this.trapWrite(m, gpa, size, value, high, gpa - m.base);
    if (this.pendingCount !== 0) this.deliverPending();
  }

  /** Convenience 8-byte load as a bigint (allocates; not for hot loops). */
  load64(gpa: number): bigint {
    const lo = this.load(gpa, 8);
    return (BigInt(this.high >>> 0) << 32n) | BigInt(lo >>> 0);
  }

  /** Convenience 8-byte store of a bigint (allocates; not for hot loops). */
  store64(gpa: number, value: bigint): void {
    this.store(gpa, 8, Number(value & 0xffffffffn), Number((value >> 32n) & 0xffffffffn));
  }

  private ramLoad(m: MmuMapping, gpa: number, size: 1 | 2 | 4 | 8): number {
    const off = gpa - m.base;
    const stats = this.stats;
    stats.byPath[RAM_READ]++;
    stats.pageRam[m.pageSlots[(off * this.mmu.invPageSize) | 0]]++;
    this.clock.now += this.ramNs;
    const v = size === 4 ? m.view!.getUint32(off, true) : this.ramLoadOther(m.view!, off, size);
    if (this.events.tracing) this.trace('ram', gpa, size, false, v);
    return v;
  }

  private ramLoadOther(dv: DataView, off: number, size: 1 | 2 | 8): number {
    if (size === 8) {
      this.high = dv.getUint32(off + 4, true);
      return dv.getUint32(off, true);
    }
    return size === 2 ? dv.getUint16(off, true) : dv.getUint8(off);
  }

  private ramStore(m: MmuMapping, gpa: number, size: 1 | 2 | 4 | 8, value: number, high: number): void {
    const off = gpa - m.base;
    const stats = this.stats;
    stats.byPath[RAM_WRITE]++;
    stats.pageRam[m.pageSlots[(off * this.mmu.invPageSize) | 0]]++;
    this.clock.now += this.ramNs;
    if (size === 4) m.view!.setUint32(off, value >>> 0, true);
    else this.ramStoreOther(m.view!, off, size, value, high);
    if (this.events.tracing) this.trace('ram', gpa, size, true, value);
  }

  private ramStoreOther(dv: DataView, off: number, size: 1 | 2 | 8, value: number, high: number): void {
    if (size === 8) {
      dv.setUint32(off, value >>> 0, true);
      dv.setUint32(off + 4, high >>> 0, true);
    } else if (size === 2) dv.setUint16(off, value & 0xffff, true);
    else dv.setUint8(off, value & 0xff);
  }

  private directLoad(m: MmuMapping, gpa: number, size: 1 | 2 | 4 | 8): number {
    const off = gpa - m.base;
    const stats = this.stats;
    stats.byPath[DIRECT_READ]++;
    stats.pageDirect[m.pageSlots[(off * this.mmu.invPageSize) | 0]]++;
    this.clock.now += this.directReadNs;
    const hoff = m.handlerOffset + off;
    const c = m.constraints!;
    let v: number;
    if (size === 8 || !accessIsValid(c, hoff, size)) v = this.directLoadOther(m, hoff, size);
    else v = adaptedRead(m.handler!, c, hoff, size);
    if (this.events.tracing) this.trace('direct', gpa, size, false, v);
    return v;
  }

  private directLoadOther(m: MmuMapping, hoff: number, size: 1 | 2 | 4 | 8): number {
    const c = m.constraints!;
    if (!accessIsValid(c, hoff, size)) {
      // The device does not decode this access: the bus answers with all-ones.
      this.stats.unassigned++;
      this.high = 0xffffffff;
      return size === 8 ? 0xffffffff : allOnes(size);
    }
    // 8 bytes: two 4-byte accesses, low half first
    const v = adaptedRead(m.handler!, c, hoff, 4);
    this.high = adaptedRead(m.handler!, c, hoff + 4, 4);
    return v;
  }

  private directStore(m: MmuMapping, gpa: number, size: 1 | 2 | 4 | 8, value: number, high: number): void {
    const off = gpa - m.base;
    const stats = this.stats;
    stats.byPath[DIRECT_WRITE]++;
    stats.pageDirect[m.pageSlots[(off * this.mmu.invPageSize) | 0]]++;
    this.clock.now += this.directWriteNs;
    const hoff = m.handlerOffset + off;
    const c = m.constraints!;
    if (size === 8 || !accessIsValid(c, hoff, size)) this.directStoreOther(m, hoff, size, value, high);
    else adaptedWrite(m.handler!, c, hoff, size, value);
    if (this.events.tracing) this.trace('direct', gpa, size, true, value);
  }

  private directStoreOther(m: MmuMapping, hoff: number, size: 1 | 2 | 4 | 8, value: number, high: number): void {
    const c = m.constraints!;
    if (!accessIsValid(c, hoff, size)) {
      this.stats.unassigned++;
      return;
    }
    adaptedWrite(m.handler!, c, hoff, 4, value >>> 0);
    adaptedWrite(m.handler!, c, hoff + 4, 4, high >>> 0);
  }

  private trapRead(m: MmuMapping, gpa: number, size: number, off: number): number {
    this.stats.byPath[TRAP_READ]++;
    if (m !== NO_MAPPING) this.stats.pageTrap[m.pageSlots[(off * this.mmu.invPageSize) | 0]]++;
    this.clock.now += this.exitNs;
    const reason = m === NO_MAPPING ? this.unmappedReason : m.reasonId;
    let v: number;
    const h = this.trapHandler;
    if (h === undefined) {
      // No VMM: nothing decodes the access; answer as a master abort.
      this.stats.trapsByReasonCounts[reason]++;
      this.stats.unassigned++;
      this.high = 0xffffffff;
      v = size === 8 ? 0xffffffff : allOnes(size as 1 | 2 | 4);
    } else {
      v = h.read(gpa, size, reason);
      if (size === 8) this.high = h.high;
    }
    if (this.events.tracing) this.traceTrap(gpa, size, false, v, reason);
    return v;
  }

  private trapWrite(m: MmuMapping, gpa: number, size: number, value: number, high: number, off: number): void {
    this.stats.byPath[TRAP_WRITE]++;
    if (m !== NO_MAPPING) this.stats.pageTrap[m.pageSlots[(off * this.mmu.invPageSize) | 0]]++;
    this.clock.now += this.exitNs;
    const reason = m === NO_MAPPING ? this.unmappedReason : m.reasonId;
    const h = this.trapHandler;
    if (h === undefined) {
      this.stats.trapsByReasonCounts[reason]++;
      this.stats.unassigned++;
    } else h.write(gpa, size, value, high, reason);
    if (this.events.tracing) this.traceTrap(gpa, size, true, value, reason);
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
        const vector = this.pending[this.pendingHead];
        this.pendingHead = (this.pendingHead + 1) % PENDING_CAPACITY;
        this.pendingCount--;
        this.stats.interrupts++;
        this.clock.now += this.interruptNs;
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
    this.last = NO_MAPPING;
    this.lastGeneration = -1;
    this.high = 0;
  }

  private trace(path: 'ram' | 'direct', gpa: number, size: number, isWrite: boolean, value: number): void {
    this.events.emit('access', { path, gpa, size, isWrite, value, timeNs: this.clock.now });
  }

  private traceTrap(gpa: number, size: number, isWrite: boolean, value: number, reasonId: number): void {
    this.events.emit('access', { path: 'trap', gpa, size, isWrite, value, timeNs: this.clock.now });
    this.events.emit('trap', { gpa, size, isWrite, reason: this.stats.reasonName(reasonId), timeNs: this.clock.now });
  }
}
