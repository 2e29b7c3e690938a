import { type CountedAccesses, NO_COUNTED_ACCESSES } from './cost-meter.js';
import { VhwError } from './errors.js';

/**
 * What the guest CPU counts on itself and the statistics report: the counted accesses of
 * every path, and the trapped accesses of the page it has cached, which it adds to
 * `Stats.pageTrap` when it moves to another page or when asked to.
 */
export interface GuestAccessCounts extends CountedAccesses {
  /** Adds the trapped accesses counted for the cached page to `Stats.pageTrap`. */
  flushTrapPageCounts(): void;
}

const NO_GUEST_ACCESSES: GuestAccessCounts = Object.freeze({ ...NO_COUNTED_ACCESSES, flushTrapPageCounts: () => {} });

/** Access paths the MMU resolves every guest access to. */
export const Path = { Ram: 0, Direct: 1, Trap: 2 } as const;
export type PathId = (typeof Path)[keyof typeof Path];
export const PATH_NAMES = ['ram', 'direct', 'trap'] as const;

/**
 * Always-on statistics: counting is one addition to a number field or a typed-array slot,
 * never an allocation. Pages and trap reasons get their counter slots when they are
 * registered (map time), not when they are first hit.
 *
 * The per-path counters are plain number fields rather than slots of one typed array: a
 * typed-array slot must be re-read after every RAM store (the store might alias it), and
 * that chain through memory was most of the cost of a RAM access. RAM accesses are
 * counted once, by the guest CPU on itself (each further counter per access cost about
 * as much as the access), and so are direct and trapped accesses; the statistics and the
 * clock read those counts. Trapped accesses are counted per page too, by the CPU for the
 * page it has cached and added here when it moves on (`GuestAccessCounts`). Per-page counts are kept
 * for trapped pages only (the ones the experiments look at, and an exit costs thousands of
 * times more than the count); RAM and direct accesses are counted per path, and a trace
 * (tracing on) gives them per address.
 */
export class Stats {
  private counts: GuestAccessCounts = NO_GUEST_ACCESSES;
  private ramReadsBase = 0;
  private ramWritesBase = 0;
  private directReadsBase = 0;
  private directWritesBase = 0;
  private trapReadsBase = 0;
  private trapWritesBase = 0;
  /** Guest accesses no mapping and no VMM region answered (also counted as traps). */
  unassigned = 0;
  interrupts = 0;

  private reasonNames: string[] = [];
  private readonly reasonIds = new Map<string, number>();
  /** Trapped accesses per reason id: written by `countTrap` only (one owner, one writer). */
  private trapCounts = new Float64Array(16);

  private pageAddrs: number[] = [];
  private readonly pageSlots = new Map<number, number>();
  /**
   * Trapped accesses per page slot. The guest CPU adds the count of the page it has cached
   * when it moves on, so read it through `pages()` (which asks for that count first).
   */
  pageTrap = new Float64Array(64);

  /** RAM reads since the last reset (counted by the guest CPU on itself, see `countAccessesOf`). */
  get ramReads(): number {
    return this.counts.ramReads - this.ramReadsBase;
  }

  get ramWrites(): number {
    return this.counts.ramWrites - this.ramWritesBase;
  }

  /** Direct (mapped MMIO) reads since the last reset (counted by the guest CPU, as RAM accesses are). */
  get directReads(): number {
    return this.counts.directReads - this.directReadsBase;
  }

  get directWrites(): number {
    return this.counts.directWrites - this.directWritesBase;
  }

  /** Trapped reads since the last reset (counted by the guest CPU, as RAM accesses are). */
  get trapReads(): number {
    return this.counts.trapReads - this.trapReadsBase;
  }

  get trapWrites(): number {
    return this.counts.trapWrites - this.trapWritesBase;
  }

  /**
   * Reports the RAM and direct accesses `counts` makes from now on (the machine's guest
   * CPU registers itself).
   * @throws VhwError E_STATE when another guest CPU reports here already (one per machine).
   */
  countAccessesOf(counts: GuestAccessCounts): void {
    if (this.counts !== NO_GUEST_ACCESSES && this.counts !== counts) {
      throw new VhwError('E_STATE', 'Stats: another guest CPU reports accesses here already (one guest CPU per machine)');
    }
    this.counts = counts;
    this.takeCountBases();
  }

  private takeCountBases(): void {
    this.ramReadsBase = this.counts.ramReads;
    this.ramWritesBase = this.counts.ramWrites;
    this.directReadsBase = this.counts.directReads;
    this.directWritesBase = this.counts.directWrites;
    this.trapReadsBase = this.counts.trapReads;
    this.trapWritesBase = this.counts.trapWrites;
  }

  /** A snapshot of reads and writes per path, indexed `path * 2 + (isWrite ? 1 : 0)`. */
  get byPath(): Float64Array {
    return Float64Array.of(this.ramReads, this.ramWrites, this.directReads, this.directWrites, this.trapReads, this.trapWrites);
  }

  /** The counter index of a trap reason, registered on first use (at map time). */
  reasonId(reason: string): number {
    let id = this.reasonIds.get(reason);
    if (id === undefined) {
      id = this.reasonNames.length;
      this.reasonNames.push(reason);
      this.reasonIds.set(reason, id);
      if (id >= this.trapCounts.length) this.trapCounts = grow(this.trapCounts);
    }
    return id;
  }

  /**
   * Counts one trapped access by its reason id (from `reasonId`): the one way traps are
   * counted, by whoever handled the trap (the VMM, or the guest CPU when no VMM is
   * attached), since only the handler knows which region took it.
   */
  countTrap(reasonId: number): void {
    this.trapCounts[reasonId]!++;
  }

  /** Trapped accesses counted for the reason id since the last reset. */
  trapsOfReason(reasonId: number): number {
    return this.trapCounts[reasonId] ?? 0;
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
      if (slot >= this.pageTrap.length) this.pageTrap = grow(this.pageTrap);
    }
    return slot;
  }

  /** Reads plus writes on one path. */
  count(path: PathId): number {
    return path === Path.Ram
      ? this.ramReads + this.ramWrites
      : path === Path.Direct
        ? this.directReads + this.directWrites
        : this.trapReads + this.trapWrites;
  }

  get trapsByReason(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 0; i < this.reasonNames.length; i++) {
      if (this.trapCounts[i]! > 0) out[this.reasonNames[i]!] = this.trapCounts[i]!;
    }
    return out;
  }

  /** Trapped accesses per page, for every page that saw one, in address order. */
  pages(): Array<{ page: number; trap: number }> {
    this.counts.flushTrapPageCounts();
    const out = [];
    for (let i = 0; i < this.pageAddrs.length; i++) {
      const trap = this.pageTrap[i]!;
      if (trap > 0) out.push({ page: this.pageAddrs[i]!, trap });
    }
    return out.sort((a, b) => a.page - b.page);
  }

  reset(): void {
    this.takeCountBases();
    this.unassigned = 0;
    this.interrupts = 0;
    this.trapCounts.fill(0);
    this.counts.flushTrapPageCounts(); // what the CPU counted before the reset goes too
    this.pageTrap.fill(0);
  }

  summary(): {
    ram: { reads: number; writes: number };
    direct: { reads: number; writes: number };
    trap: { reads: number; writes: number };
    unassigned: number;
    interrupts: number;
    trapsByReason: Record<string, number>;
  } {
    return {
      ram: { reads: this.ramReads, writes: this.ramWrites },
      direct: { reads: this.directReads, writes: this.directWrites },
      trap: { reads: this.trapReads, writes: this.trapWrites },
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
