import { type GuestCpu, VhwError, hex } from '@vhw/core';
import { type GuestContext, type GuestDriver, type GuestPciFunction, enableDeviceMem, findDriverBar } from '@vhw/guest';
import { type NvmeLiteInput, type NvmeLiteOptions, resolveNvmeLiteOptions } from './options.js';
import {
  AdminOpcode,
  CC_EN,
  CC_ENABLE_VALUE,
  CQE_SIZE,
  CSTS_CFS,
  CSTS_RDY,
  IoOpcode,
  NVME_NAMESPACE_BLOCKS,
  NvmeReg,
  SQE_SIZE,
} from './regs.js';

/** How long the driver waits before it gives up on the device. */
export interface NvmeLiteDriverTuning {
  /** Idle polls of the completion queues (and of CSTS while enabling) before a timeout. */
  pollLimit: number;
  /** Guest time one idle poll waits, in ns (charged with `cpu.work`). */
  pollIntervalNs: number;
}

/** Defaults: 1000 polls of 1 µs, i.e. a 1 ms command timeout in simulated time. */
export const NVME_DRIVER_DEFAULTS: Readonly<NvmeLiteDriverTuning> = { pollLimit: 1000, pollIntervalNs: 1000 };

/** Counters of what the driver saw, cumulative over runs. */
export interface NvmeLiteDriverCounters {
  /** Commands that completed with success status (reads: with the data that was written). */
  completed: number;
  /** Commands that failed: error status, data mismatch, timeout, or refused because the controller is dead. */
  failed: number;
  errorStatus: number;
  mismatches: number;
  /** Times the driver gave up waiting (every outstanding command then failed). */
  timeouts: number;
  /** Commands failed without being submitted because the controller was dead. */
  failedFast: number;
  /** Interrupts taken (any vector of this device). */
  interrupts: number;
  /** Completions found by polling rather than in an interrupt handler. */
  polledCompletions: number;
  /** Completion entries whose command id matched nothing outstanding. */
  spuriousCompletions: number;
}

/** The outcome of the last `recover()`: the timed-out commands it resubmitted and how they ended. */
export interface NvmeLiteRecovery {
  resubmitted: number;
  completed: number;
  failed: number;
}

const ADMIN_ENTRIES = 8;
const BUFFER_STRIDE = 64;

/**
 * The data the driver writes for pair `pair` (op 2p writes it, op 2p + 1 reads it back).
 * @param pair - write/read pair index
 * @returns a 32-bit word
 */
export function nvmeLiteWriteData(pair: number): number {
  return (Math.imul(pair + 1, 0x9e3779b1) ^ 0xa5a5a5a5) >>> 0;
}

/** One submission/completion queue pair as the driver keeps it; the command id is the slot index. */
class QueuePair {
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
}

interface Pending {
  pair: number;
  isRead: number;
  retry: number;
  order: number;
}

/**
 * The guest driver of nvme-lite, written the way Linux's nvme driver works: admin and
 * I/O queues in guest RAM, one SQ tail doorbell write per command, completions reaped
 * in the MSI-X handler with one CQ head doorbell write per batch. Operations alternate a
 * write of a 4-byte word to an LBA and a read-back of the same LBA, so data integrity is
 * checked end to end. Every register and queue access goes through the guest CPU.
 * @example
 * const driver = new NvmeLiteDriver({ name: 'nvme0' });
 * driver.probe(ctx);
 * driver.run(200); // { completed: 200, failed: 0 }
 */
export class NvmeLiteDriver implements GuestDriver {
  readonly device: string;
  readonly opName = 'command';
  readonly options: NvmeLiteOptions;
  readonly tuning: NvmeLiteDriverTuning;
  readonly counters: NvmeLiteDriverCounters = {
    completed: 0,
    failed: 0,
    errorStatus: 0,
    mismatches: 0,
    timeouts: 0,
    failedFast: 0,
    interrupts: 0,
    polledCompletions: 0,
    spuriousCompletions: 0,
  };
  lastRecovery: NvmeLiteRecovery = { resubmitted: 0, completed: 0, failed: 0 };
  /** CSTS read when the last timeout happened (0xffffffff: the device answers all-ones, e.g. a frozen PE). */
  lastCsts: number | undefined;
  /** The controller stopped answering; commands fail until `recover()`. */
  dead = false;

  private ctx: GuestContext | undefined;
  private fn: GuestPciFunction | undefined;
  private cpu!: GuestCpu;
  private bar0 = 0;
  private doorbellStride = 4;
  private admin: QueuePair | undefined;
  private io: QueuePair[] = [];
  private entryQueues: QueuePair[][] = [];
  /** Guest vectors per MSI-X entry, from the last MSI-X set-up. */
  vectors: number[] = [];
  private adminDone = false;
  private adminStatus = 0;
  private nextOp = 0;
  private orderCounter = 0;
  private unanswered: Pending[] = [];
  private running = false;
  private recoverPending = false;
  private reaping = false;
  private anyDeferred = false;

  /**
   * @param input - the plugin's options (the driver uses name, queueDepth, ioQueues, vectors, deviceLatencyNs)
   * @param tuning - timeout tuning (tests shorten it)
   */
  constructor(input: NvmeLiteInput | NvmeLiteOptions = {}, tuning: Partial<NvmeLiteDriverTuning> = {}) {
    this.options = resolveNvmeLiteOptions(input);
    this.device = this.options.name;
    this.tuning = { ...NVME_DRIVER_DEFAULTS, ...tuning };
  }

  /**
   * Finds the function, allocates queues and buffers in guest RAM, enables the
   * controller, sets up MSI-X and creates the I/O queues through the admin queue.
   * @throws VhwError E_NOT_FOUND when the function or BAR0 is missing; E_STATE when the controller does not come up
   */
  probe(ctx: GuestContext): void {
    this.ctx = ctx;
    this.cpu = ctx.cpu;
    const { fn, bar } = findDriverBar(ctx.bus, this.device, 0, 'nvme-lite');
    this.fn = fn;
    this.bar0 = bar.gpa;
    if (!this.admin) this.allocate(ctx);
    this.initController();
  }

  /**
   * Runs `ops` commands: op 2p writes word p to LBA p, op 2p + 1 reads it back and checks it.
   * @returns how many completed and failed; `completed + failed === ops`
   * @throws VhwError E_STATE before `probe`
   */
  run(ops: number): { completed: number; failed: number } {
    if (!this.admin) throw new VhwError('E_STATE', `nvme-lite driver ${this.device}: run() before probe()`);
    if (!Number.isSafeInteger(ops) || ops < 0)
      throw new VhwError('E_RANGE', `nvme-lite driver: ops ${String(ops)}; allowed: a non-negative integer`);
    const c0 = this.counters.completed;
    const f0 = this.counters.failed;
    this.running = true;
    try {
      for (let k = 0; k < ops; k++) {
        if (this.recoverPending) this.doRecover(true);
        const op = this.nextOp++;
        const pair = Math.floor(op / 2);
        const q = this.io[pair % this.io.length];
        while (!this.dead && q.outstanding >= q.depth) this.waitForProgress();
        if (this.dead) {
          this.counters.failed++;
          this.counters.failedFast++;
          continue;
        }
        this.submit(q, pair, op & 1, 0);
      }
      this.drain();
    } finally {
      this.running = false;
    }
    if (this.recoverPending) this.doRecover(false);
    return { completed: this.counters.completed - c0, failed: this.counters.failed - f0 };
  }

  /**
   * The device was reset under the driver (EEH recovery): enables the controller again,
   * re-creates the queues and MSI-X, and resubmits the commands that had timed out (they
   * were already counted failed; their new outcome is in `lastRecovery`). Called during
   * `run()` (e.g. from the VMM's error handling), it takes effect at the driver's next
   * safe point and resubmits the commands still in flight as part of that run.
   * @throws VhwError E_STATE when the controller does not come back (outside a run)
   */
  recover(): void {
    if (!this.admin) throw new VhwError('E_STATE', `nvme-lite driver ${this.device}: recover() before probe()`);
    if (this.running) {
      this.recoverPending = true;
      return;
    }
    this.doRecover(false);
  }

  // ---- set-up ----

  private allocate(ctx: GuestContext): void {
    const os = ctx.os;
    const depth = this.options.queueDepth;
    const entries = depth + 1;
    this.admin = new QueuePair(
      0,
      ADMIN_ENTRIES,
      ADMIN_ENTRIES - 1,
      os.alloc(ADMIN_ENTRIES * SQE_SIZE),
      os.alloc(ADMIN_ENTRIES * CQE_SIZE),
      0,
    );
    this.io = [];
    for (let q = 1; q <= this.options.ioQueues; q++) {
      const sq = os.alloc(entries * SQE_SIZE);
      const cq = os.alloc(entries * CQE_SIZE);
      const buffers = os.alloc(depth * BUFFER_STRIDE);
      this.io.push(new QueuePair(q, entries, depth, sq, cq, buffers));
    }
  }

  private initController(): void {
    const ctx = this.ctx!;
    const fn = this.fn!;
    const cpu = this.cpu;
    const admin = this.admin!;
    enableDeviceMem(fn);
    const capLo = cpu.mmioLoad(this.bar0 + NvmeReg.CAP, 8) >>> 0;
    const capHi = cpu.high >>> 0;
    if (capLo === 0xffffffff && capHi === 0xffffffff) {
      throw new VhwError('E_STATE', `nvme-lite driver ${this.device}: CAP reads all-ones; the device does not answer`);
    }
    const mqes = (capLo & 0xffff) + 1;
    if (this.options.queueDepth + 1 > mqes) {
      throw new VhwError(
        'E_CONFIG',
        `nvme-lite driver ${this.device}: queueDepth ${this.options.queueDepth} needs ${this.options.queueDepth + 1} entries; the controller supports ${mqes}`,
      );
    }
    this.doorbellStride = 4 << (capHi & 0xf);
    if ((this.r32(NvmeReg.CC) & CC_EN) !== 0) {
      this.w32(NvmeReg.CC, 0);
      this.waitReady(0);
    }
    for (const q of [admin, ...this.io]) {
      q.resetRing();
      for (let off = 0; off < q.entries * CQE_SIZE; off += 8) cpu.store(q.cq + off, 8, 0, 0);
    }
    this.w32(NvmeReg.AQA, (ADMIN_ENTRIES - 1) | ((ADMIN_ENTRIES - 1) << 16));
    this.w64(NvmeReg.ASQ, admin.sq);
    this.w64(NvmeReg.ACQ, admin.cq);
    this.w32(NvmeReg.CC, CC_ENABLE_VALUE);
    this.waitReady(CSTS_RDY);

    // MSI-X: entry 0 for the admin queue, the I/O queues spread over the rest (or sharing entry 0).
    const nvec = Math.min(this.options.vectors, 1 + this.io.length);
    this.vectors = ctx.os.enableMsix(ctx.bus, fn, nvec);
    this.entryQueues = Array.from({ length: nvec }, () => [] as QueuePair[]);
    admin.entry = 0;
    this.entryQueues[0].push(admin);
    for (const q of this.io) {
      q.entry = nvec > 1 ? 1 + ((q.qid - 1) % (nvec - 1)) : 0;
      this.entryQueues[q.entry].push(q);
    }
    this.vectors.forEach((v, entry) => {
      ctx.os.requestIrq(v, () => this.interrupt(entry));
    });

    for (const q of this.io) {
      const qsize = ((q.entries - 1) << 16) | q.qid;
      this.adminCommand(AdminOpcode.CreateIoCq, qsize, 1 | 2 | (q.entry << 16), q.cq);
      this.adminCommand(AdminOpcode.CreateIoSq, qsize, 1 | (q.qid << 16), q.sq);
    }
  }

  private waitReady(want: number): void {
    for (let i = 0; i < this.tuning.pollLimit; i++) {
      const csts = this.r32(NvmeReg.CSTS);
      if (csts === 0xffffffff)
        throw new VhwError('E_STATE', `nvme-lite driver ${this.device}: CSTS reads all-ones; the device does not answer`);
      if ((csts & CSTS_CFS) !== 0)
        throw new VhwError('E_STATE', `nvme-lite driver ${this.device}: controller fatal status (CSTS ${hex(csts)})`);
      if ((csts & CSTS_RDY) === want) return;
      this.cpu.work(this.tuning.pollIntervalNs);
    }
    throw new VhwError('E_STATE', `nvme-lite driver ${this.device}: CSTS.RDY did not become ${want} within ${this.tuning.pollLimit} polls`);
  }

  private adminCommand(opcode: number, cdw10: number, cdw11: number, prp1: number): void {
    const q = this.admin!;
    const slot = q.free[--q.freeTop];
    q.state[slot] = 1;
    q.outstanding++;
    this.adminDone = false;
    this.writeSqe(q, opcode, slot, 0, prp1, cdw10, cdw11, 0);
    q.sqTail = (q.sqTail + 1) % q.entries;
    this.w32(this.sqDoorbell(0), q.sqTail);
    for (let i = 0; i < this.tuning.pollLimit && !this.adminDone; i++) {
      this.reapQueue(q);
      if (!this.adminDone) this.cpu.work(this.tuning.pollIntervalNs);
    }
    if (!this.adminDone) {
      throw new VhwError(
        'E_STATE',
        `nvme-lite driver ${this.device}: admin command ${hex(opcode)} got no completion within ${this.tuning.pollLimit} polls`,
      );
    }
    if (this.adminStatus !== 0) {
      throw new VhwError(
        'E_STATE',
        `nvme-lite driver ${this.device}: admin command ${hex(opcode)} failed with status ${hex(this.adminStatus)}`,
      );
    }
  }

  // ---- I/O ----

  private submit(q: QueuePair, pair: number, isRead: number, retry: number): void {
    const slot = q.free[--q.freeTop];
    q.state[slot] = 1;
    q.pair[slot] = pair;
    q.isRead[slot] = isRead;
    q.retry[slot] = retry;
    q.order[slot] = this.orderCounter++;
    q.outstanding++;
    const buf = q.buffers + slot * BUFFER_STRIDE;
    const data = nvmeLiteWriteData(pair);
    // A read's buffer is poisoned first, so a read that transfers nothing is caught.
    this.cpu.store(buf, 4, isRead ? ~data >>> 0 : data);
    this.writeSqe(q, isRead ? IoOpcode.Read : IoOpcode.Write, slot, 1, buf, pair % NVME_NAMESPACE_BLOCKS, 0, 0);
    q.sqTail = (q.sqTail + 1) % q.entries;
    // Bookkeeping is complete before the doorbell: the completion may be handled inside this store.
    this.w32(this.sqDoorbell(q.qid), q.sqTail);
  }

  private writeSqe(
    q: QueuePair,
    opcode: number,
    cid: number,
    nsid: number,
    prp1: number,
    cdw10: number,
    cdw11: number,
    cdw12: number,
  ): void {
    const cpu = this.cpu;
    const e = q.sq + q.sqTail * SQE_SIZE;
    cpu.store(e, 8, (opcode | (cid << 16)) >>> 0, nsid);
    cpu.store(e + 8, 8, 0, 0);
    cpu.store(e + 16, 8, 0, 0);
    cpu.store(e + 24, 8, prp1 % 2 ** 32, Math.floor(prp1 / 2 ** 32));
    cpu.store(e + 32, 8, 0, 0);
    cpu.store(e + 40, 8, cdw10 >>> 0, cdw11 >>> 0);
    cpu.store(e + 48, 8, cdw12 >>> 0, 0);
    cpu.store(e + 56, 8, 0, 0);
  }

  /** The MSI-X handler of table entry `entry`. */
  private interrupt(entry: number): void {
    this.counters.interrupts++;
    const queues = this.entryQueues[entry];
    if (!queues) return;
    for (const q of queues) this.reapQueue(q);
  }

  /** Reaps `q`, and any queue whose interrupt arrived meanwhile. Returns the completions reaped. */
  private reapQueue(q: QueuePair): number {
    if (this.reaping) {
      q.deferred = true;
      this.anyDeferred = true;
      return 0;
    }
    this.reaping = true;
    let n = 0;
    try {
      n = this.reapOne(q);
      while (this.anyDeferred) {
        this.anyDeferred = false;
        for (const d of [this.admin!, ...this.io]) {
          if (d.deferred) {
            d.deferred = false;
            n += this.reapOne(d);
          }
        }
      }
    } finally {
      this.reaping = false;
    }
    return n;
  }

  private reapOne(q: QueuePair): number {
    const cpu = this.cpu;
    let n = 0;
    // At most entries - 1 completions can be posted before the head doorbell moves.
    while (n < q.entries - 1) {
      const e = q.cq + q.cqHead * CQE_SIZE;
      const dw3 = cpu.load(e + 12, 4);
      if (((dw3 >>> 16) & 1) !== q.phase) break;
      q.sqHead = cpu.load(e + 8, 4) & 0xffff;
      this.complete(q, dw3 & 0xffff, (dw3 >>> 17) & 0x7fff);
      if (++q.cqHead === q.entries) {
        q.cqHead = 0;
        q.phase ^= 1;
      }
      n++;
    }
    if (n > 0) this.w32(this.cqDoorbell(q.qid), q.cqHead);
    return n;
  }

  private complete(q: QueuePair, cid: number, status: number): void {
    if (cid >= q.depth || q.state[cid] !== 1) {
      this.counters.spuriousCompletions++;
      return;
    }
    if (q === this.admin) {
      this.release(q, cid);
      this.adminStatus = status;
      this.adminDone = true;
      return;
    }
    let ok = status === 0;
    if (!ok) this.counters.errorStatus++;
    else if (q.isRead[cid] === 1) {
      const got = this.cpu.load(q.buffers + cid * BUFFER_STRIDE, 4) >>> 0;
      if (got !== nvmeLiteWriteData(q.pair[cid])) {
        ok = false;
        this.counters.mismatches++;
      }
    }
    if (this.options.deviceLatencyNs > 0) this.cpu.work(this.options.deviceLatencyNs);
    const retry = q.retry[cid] === 1;
    this.release(q, cid);
    this.account(ok, retry);
  }

  private release(q: QueuePair, cid: number): void {
    q.state[cid] = 0;
    q.free[q.freeTop++] = cid;
    q.outstanding--;
  }

  private account(ok: boolean, retry: boolean): void {
    if (retry) {
      if (ok) this.lastRecovery.completed++;
      else this.lastRecovery.failed++;
    } else if (ok) this.counters.completed++;
    else this.counters.failed++;
  }

  private ioOutstanding(): number {
    let n = 0;
    for (const q of this.io) n += q.outstanding;
    return n;
  }

  private drain(): void {
    while (!this.dead && this.ioOutstanding() > 0) this.waitForProgress();
  }

  /**
   * Waits for at least one completion by polling the completion queues in guest RAM (as
   * Linux's nvme_timeout polls before aborting); coalesced completions that raised no
   * interrupt are found this way. After `pollLimit` idle polls every outstanding command
   * fails and the controller is considered dead.
   */
  private waitForProgress(): void {
    const before = this.ioOutstanding();
    for (let i = 0; i < this.tuning.pollLimit; i++) {
      if (this.recoverPending) {
        this.doRecover(true);
        return;
      }
      for (const q of this.io) this.counters.polledCompletions += this.reapQueue(q);
      if (this.ioOutstanding() < before) return;
      this.cpu.work(this.tuning.pollIntervalNs);
    }
    this.timeout();
  }

  /** No completion arrived: read CSTS (all-ones: the device is gone or frozen), fail everything outstanding. */
  private timeout(): void {
    this.counters.timeouts++;
    this.lastCsts = this.r32(NvmeReg.CSTS);
    for (const p of this.takeInFlight()) {
      this.account(false, p.retry === 1);
      if (p.retry === 0) this.unanswered.push(p);
    }
    this.dead = true;
  }

  /** Removes every in-flight I/O command from the queues, in submission order. */
  private takeInFlight(): Pending[] {
    const out: Pending[] = [];
    for (const q of this.io) {
      for (let cid = 0; cid < q.depth; cid++) {
        if (q.state[cid] === 1) out.push({ pair: q.pair[cid], isRead: q.isRead[cid], retry: q.retry[cid], order: q.order[cid] });
      }
      q.resetRing();
    }
    return out.sort((a, b) => a.order - b.order);
  }

  private doRecover(inRun: boolean): void {
    this.recoverPending = false;
    const wasDead = this.dead;
    const inFlight = this.takeInFlight();
    const retries = this.unanswered;
    this.unanswered = [];
    this.lastRecovery = { resubmitted: retries.length, completed: 0, failed: 0 };
    try {
      this.initController();
    } catch (e) {
      for (const p of inFlight) this.account(false, p.retry === 1);
      this.lastRecovery.failed += retries.length;
      this.dead = true;
      if (!inRun) throw e;
      return;
    }
    this.dead = false;
    this.lastCsts = undefined;
    // A read-back whose write was refused while dead would fail for no fault of the device: start a new pair.
    if (wasDead && this.nextOp % 2 === 1) this.nextOp++;
    for (const p of [...retries.map((r) => ({ ...r, retry: 1 })), ...inFlight]) {
      const q = this.io[p.pair % this.io.length];
      while (!this.dead && q.outstanding >= q.depth) this.waitForProgress();
      if (this.dead) {
        this.account(false, p.retry === 1);
        continue;
      }
      this.submit(q, p.pair, p.isRead, p.retry);
    }
    if (!inRun) this.drain();
  }

  // ---- registers ----

  private sqDoorbell(qid: number): number {
    return NvmeReg.DOORBELLS + 2 * qid * this.doorbellStride;
  }

  private cqDoorbell(qid: number): number {
    return NvmeReg.DOORBELLS + (2 * qid + 1) * this.doorbellStride;
  }

  private r32(offset: number): number {
    return this.cpu.mmioLoad(this.bar0 + offset, 4) >>> 0;
  }

  private w32(offset: number, value: number): void {
    this.cpu.mmioStore(this.bar0 + offset, 4, value >>> 0);
  }

  private w64(offset: number, value: number): void {
    this.cpu.mmioStore(this.bar0 + offset, 8, value % 2 ** 32, Math.floor(value / 2 ** 32));
  }
}
