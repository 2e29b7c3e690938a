import { type GuestCpu, VhwError, hex } from '@vhw/core';
import {
  type GuestContext,
  type GuestDriver,
  type GuestPciFunction,
  type LoopWrite,
  MmioLoop,
  type WorkloadKind,
  enableDeviceMem,
  findDriverBar,
} from '@vhw/guest';
import { RegisterMap } from '@vhw/pci';
import { NvmeControllerRegs } from './controller-regs.js';
import { type NvmeLiteInput, type NvmeLiteOptions, resolveNvmeLiteOptions } from './options.js';
import { type CompletionSink, type PendingCommand, QueuePair } from './queue-pair.js';
import { AdminOpcode, CQE_SIZE, IoOpcode, NVME_NAMESPACE_BLOCKS, SQE_SIZE, nvmeRegisterNames } from './regs.js';

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
export class NvmeLiteDriver implements GuestDriver, CompletionSink {
  readonly device: string;
  readonly opName: string;
  /** `mmio`: each operation is one hot-register access (`MmioLoop`), not a command. */
  readonly workload: WorkloadKind;
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
  private regs!: NvmeControllerRegs;
  private admin: QueuePair | undefined;
  private io: QueuePair[] = [];
  private entryQueues: QueuePair[][] = [];
  /** Guest vectors per MSI-X entry, from the last MSI-X set-up. */
  vectors: number[] = [];
  private adminDone = false;
  private adminStatus = 0;
  private nextOp = 0;
  private orderCounter = 0;
  private unanswered: PendingCommand[] = [];
  private running = false;
  private recoverPending = false;
  private reaping = false;
  private anyDeferred = false;
  private loop: MmioLoop | undefined;

  /**
   * @param input - the plugin's options (the driver uses name, queueDepth, ioQueues, vectors, deviceLatencyNs)
   * @param tuning - timeout tuning (tests shorten it)
   */
  constructor(input: NvmeLiteInput | NvmeLiteOptions = {}, tuning: Partial<NvmeLiteDriverTuning> = {}) {
    this.options = resolveNvmeLiteOptions(input);
    this.device = this.options.name;
    this.tuning = { ...NVME_DRIVER_DEFAULTS, ...tuning };
    this.workload = this.options.workload;
    this.opName = this.workload === 'mmio' ? 'MMIO access' : 'command';
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
    this.regs = new NvmeControllerRegs(ctx.cpu, bar.gpa, this.device, this.tuning);
    if (!this.admin) this.allocate(ctx);
    this.initController();
    if (this.workload === 'mmio') this.loop = this.mmioLoop(bar.gpa);
  }

  /**
   * The MMIO workload's loop over the hot registers nvme-lite names: reads of CSTS (the
   * doorbells are write-only), writes of the I/O queues' doorbells with their current
   * tail and head, so the controller sees nothing new. An 8-byte access reads CSTS with
   * the dword below it and writes an SQ tail doorbell with its CQ head doorbell.
   */
  private mmioLoop(barGpa: number): MmioLoop {
    const size = this.options.mmioAccessSize;
    const hot = new RegisterMap(this.device, nvmeRegisterNames(this.options.ioQueues)).hot();
    const reads = hot.filter((r) => r.name === 'CSTS').map((r) => ({ name: r.name, offset: size === 8 ? r.offset & ~7 : r.offset }));
    const writes: LoopWrite[] = [];
    for (const r of hot) {
      const m = /^(SQ|CQ)(\d+)(TDBL|HDBL)$/.exec(r.name);
      if (!m) continue;
      const q = this.io[Number(m[2]) - 1];
      if (!q) continue;
      if (m[1] === 'SQ') {
        writes.push({ name: r.name, offset: r.offset, value: () => q.sqTail, ...(size === 8 ? { high: () => q.cqHead } : {}) });
      } else if (size === 4) writes.push({ name: r.name, offset: r.offset, value: () => q.cqHead });
    }
    return new MmioLoop(this.cpu, barGpa, reads, writes, this.options.mmioReadPercent, size);
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
    if (this.loop) {
      this.loop.run(ops);
      return { completed: ops, failed: 0 };
    }
    const c0 = this.counters.completed;
    const f0 = this.counters.failed;
    this.running = true;
    try {
      for (let k = 0; k < ops; k++) {
        if (this.recoverPending) this.doRecover(true);
        const op = this.nextOp++;
        const pair = Math.floor(op / 2);
        const q = this.io[pair % this.io.length]!;
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
    const regs = this.regs;
    enableDeviceMem(fn);
    regs.readCap(this.options.queueDepth);
    regs.disable();
    for (const q of [admin, ...this.io]) {
      q.resetRing();
      q.clearCq(cpu);
    }
    regs.enable(ADMIN_ENTRIES, admin.sq, admin.cq);

    // MSI-X: entry 0 for the admin queue, the I/O queues spread over the rest (or sharing entry 0).
    const nvec = Math.min(this.options.vectors, 1 + this.io.length);
    this.vectors = ctx.os.enableMsix(ctx.bus, fn, nvec);
    this.entryQueues = Array.from({ length: nvec }, () => [] as QueuePair[]);
    admin.entry = 0;
    this.entryQueues[0]!.push(admin);
    for (const q of this.io) {
      q.entry = nvec > 1 ? 1 + ((q.qid - 1) % (nvec - 1)) : 0;
      this.entryQueues[q.entry]!.push(q);
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

  private adminCommand(opcode: number, cdw10: number, cdw11: number, prp1: number): void {
    const q = this.admin!;
    const slot = q.claim();
    this.adminDone = false;
    q.push(this.cpu, opcode, slot, 0, prp1, cdw10, cdw11, 0);
    this.regs.ringSq(0, q.sqTail);
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
    const slot = q.claim();
    q.pair[slot] = pair;
    q.isRead[slot] = isRead;
    q.retry[slot] = retry;
    q.order[slot] = this.orderCounter++;
    const buf = q.buffers + slot * BUFFER_STRIDE;
    const data = nvmeLiteWriteData(pair);
    // A read's buffer is poisoned first, so a read that transfers nothing is caught.
    this.cpu.store(buf, 4, isRead ? ~data >>> 0 : data);
    q.push(this.cpu, isRead ? IoOpcode.Read : IoOpcode.Write, slot, 1, buf, pair % NVME_NAMESPACE_BLOCKS, 0, 0);
    // Bookkeeping is complete before the doorbell: the completion may be handled inside this store.
    this.regs.ringSq(q.qid, q.sqTail);
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
    const n = q.reap(this.cpu, this);
    if (n > 0) this.regs.ringCq(q.qid, q.cqHead);
    return n;
  }

  /**
   * A completion reaped from `q` (the driver is its queue pairs' sink): admin status, or an
   * I/O outcome checked and counted.
   * @internal
   */
  complete(q: QueuePair, cid: number, status: number): void {
    if (cid >= q.depth || q.state[cid] !== 1) {
      this.counters.spuriousCompletions++;
      return;
    }
    if (q === this.admin) {
      q.release(cid);
      this.adminStatus = status;
      this.adminDone = true;
      return;
    }
    let ok = status === 0;
    if (!ok) this.counters.errorStatus++;
    else if (q.isRead[cid] === 1) {
      const got = this.cpu.load(q.buffers + cid * BUFFER_STRIDE, 4) >>> 0;
      if (got !== nvmeLiteWriteData(q.pair[cid]!)) {
        ok = false;
        this.counters.mismatches++;
      }
    }
    if (this.options.deviceLatencyNs > 0) this.cpu.work(this.options.deviceLatencyNs);
    const retry = q.retry[cid] === 1;
    q.release(cid);
    this.account(ok, retry);
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
    this.lastCsts = this.regs.status();
    for (const p of this.takeInFlight()) {
      this.account(false, p.retry === 1);
      if (p.retry === 0) this.unanswered.push(p);
    }
    this.dead = true;
  }

  /** Removes every in-flight I/O command from the queues, in submission order. */
  private takeInFlight(): PendingCommand[] {
    const out: PendingCommand[] = [];
    for (const q of this.io) q.takeInFlight(out);
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
      const q = this.io[p.pair % this.io.length]!;
      while (!this.dead && q.outstanding >= q.depth) this.waitForProgress();
      if (this.dead) {
        this.account(false, p.retry === 1);
        continue;
      }
      this.submit(q, p.pair, p.isRead, p.retry);
    }
    if (!inRun) this.drain();
  }
}
