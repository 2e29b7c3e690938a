import type { GuestCpu } from '@vhw/core';
import { CQE_SIZE, SQE_SIZE } from './regs.js';

/** An I/O command taken out of its queue (at a timeout or a reset), to fail or resubmit. */
export interface PendingCommand {
  pair: number;
  isRead: number;
  retry: number;
  /** Submission order across all queues. */
  order: number;
}

/** Where a queue pair hands each completion it reaps. */
export interface CompletionSink {
  complete(q: QueuePair, cid: number, status: number): void;
}

/**
 * One submission/completion queue pair in guest RAM as the driver keeps it (Linux's
 * `struct nvme_queue`): the SQ ring it fills, the CQ ring it reaps by phase tag, and
 * what it knows of each command in flight. The command id is the slot index. Every
 * ring access goes through the guest CPU; the doorbells are the controller's, rung by
 * the driver.
 */
export class QueuePair {
  sqTail = 0;
  cqHead = 0;
  phase = 1;
  /** SQ head as last reported by a completion. */
  sqHead = 0;
  outstanding = 0;
  /** MSI-X table entry of the CQ. */
  entry = 0;
  /** An interrupt for this queue arrived while the driver was already reaping. */
  deferred = false;
  readonly state: Uint8Array;
  readonly pair: Float64Array;
  readonly isRead: Uint8Array;
  readonly retry: Uint8Array;
  readonly order: Float64Array;
  readonly free: Int32Array;
  freeTop: number;

  constructor(
    readonly qid: number,
    /** Queue size in entries (depth + 1). */
    readonly entries: number,
    readonly depth: number,
    readonly sq: number,
    readonly cq: number,
    readonly buffers: number,
  ) {
    this.state = new Uint8Array(depth);
    this.pair = new Float64Array(depth);
    this.isRead = new Uint8Array(depth);
    this.retry = new Uint8Array(depth);
    this.order = new Float64Array(depth);
    this.free = new Int32Array(depth);
    this.freeTop = 0;
    this.resetRing();
  }

  /** Empty rings and no command in flight, as after the controller deleted the queue. */
  resetRing(): void {
    this.sqTail = 0;
    this.cqHead = 0;
    this.phase = 1;
    this.sqHead = 0;
    this.outstanding = 0;
    this.deferred = false;
    this.state.fill(0);
    for (let i = 0; i < this.depth; i++) this.free[i] = this.depth - 1 - i;
    this.freeTop = this.depth;
  }

  /** Zeroes the CQ ring in guest RAM, so no stale entry carries the phase the driver expects. */
  clearCq(cpu: GuestCpu): void {
    for (let off = 0; off < this.entries * CQE_SIZE; off += 8) cpu.store(this.cq + off, 8, 0, 0);
  }

  /** Takes a free command id and marks it in flight. */
  claim(): number {
    const slot = this.free[--this.freeTop]!;
    this.state[slot] = 1;
    this.outstanding++;
    return slot;
  }

  /** Gives command id `cid` back once its completion was handled. */
  release(cid: number): void {
    this.state[cid] = 0;
    this.free[this.freeTop++] = cid;
    this.outstanding--;
  }

  /**
   * Writes a 64-byte submission entry at the SQ tail and advances the tail; the caller
   * rings the SQ tail doorbell with the new `sqTail`.
   */
  push(cpu: GuestCpu, opcode: number, cid: number, nsid: number, prp1: number, cdw10: number, cdw11: number, cdw12: number): void {
    const e = this.sq + this.sqTail * SQE_SIZE;
    cpu.store(e, 8, (opcode | (cid << 16)) >>> 0, nsid);
    cpu.store(e + 8, 8, 0, 0);
    cpu.store(e + 16, 8, 0, 0);
    cpu.store(e + 24, 8, prp1 % 2 ** 32, Math.floor(prp1 / 2 ** 32));
    cpu.store(e + 32, 8, 0, 0);
    cpu.store(e + 40, 8, cdw10 >>> 0, cdw11 >>> 0);
    cpu.store(e + 48, 8, cdw12 >>> 0, 0);
    cpu.store(e + 56, 8, 0, 0);
    this.sqTail = (this.sqTail + 1) % this.entries;
  }

  /**
   * Hands every new completion (its phase tag is the expected one) to `sink`, advancing
   * the CQ head; the caller rings the CQ head doorbell when this returns more than 0.
   * @returns the completions reaped
   */
  reap(cpu: GuestCpu, sink: CompletionSink): number {
    let n = 0;
    // At most entries - 1 completions can be posted before the head doorbell moves.
    while (n < this.entries - 1) {
      const e = this.cq + this.cqHead * CQE_SIZE;
      const dw3 = cpu.load(e + 12, 4);
      if (((dw3 >>> 16) & 1) !== this.phase) break;
      this.sqHead = cpu.load(e + 8, 4) & 0xffff;
      sink.complete(this, dw3 & 0xffff, (dw3 >>> 17) & 0x7fff);
      if (++this.cqHead === this.entries) {
        this.cqHead = 0;
        this.phase ^= 1;
      }
      n++;
    }
    return n;
  }

  /** Moves every command in flight to `out` and empties the rings. */
  takeInFlight(out: PendingCommand[]): void {
    for (let cid = 0; cid < this.depth; cid++) {
      if (this.state[cid] === 1)
        out.push({ pair: this.pair[cid]!, isRead: this.isRead[cid]!, retry: this.retry[cid]!, order: this.order[cid]! });
    }
    this.resetRing();
  }
}
