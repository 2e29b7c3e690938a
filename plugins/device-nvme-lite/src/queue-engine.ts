import { PciDevice, type PciDeviceSpec } from '@vhw/pci';
import { CQE_SIZE, CSTS_CFS, CSTS_RDY, SQE_SIZE } from './regs.js';

/** Highest queue id (admin queue 0 plus the I/O queues). */
export const MAX_QID = 64;

/** What the controller did, for tests and reports. */
export interface NvmeLiteDeviceCounters {
  commands: number;
  completions: number;
  /** MSI-X raises (each may be sent, left pending while masked, or dropped while MSI-X is off). */
  interrupts: number;
  /** Completions posted with a non-zero status. */
  errors: number;
  /** Doorbell writes that were ignored (controller off, no such queue, value out of range). */
  ignoredDoorbells: number;
  /** DMA the platform refused (IOMMU fault or frozen); the controller then reports CSTS.CFS. */
  dmaFailures: number;
}

/**
 * The queue engine of an NVMe controller: the submission and completion queues the host
 * created, the doorbells that move them, fetching each command from guest RAM by DMA,
 * posting its completion with the phase tag, and interrupt coalescing per completion
 * queue. What a command does is the controller's business (`admin`, `io`); so are the
 * registers, except CSTS, whose RDY and CFS bits the engine reads and sets.
 */
export abstract class NvmeQueueEngine extends PciDevice {
  readonly counters: NvmeLiteDeviceCounters = {
    commands: 0,
    completions: 0,
    interrupts: 0,
    errors: 0,
    ignoredDoorbells: 0,
    dmaFailures: 0,
  };
  /** Controller Status: RDY, CFS and SHST. */
  protected csts = 0;
  protected readonly sqValid = new Uint8Array(MAX_QID + 1);
  protected readonly sqBase = new Float64Array(MAX_QID + 1);
  protected readonly sqSize = new Int32Array(MAX_QID + 1);
  protected readonly sqHead = new Int32Array(MAX_QID + 1);
  protected readonly sqTail = new Int32Array(MAX_QID + 1);
  protected readonly sqCq = new Int32Array(MAX_QID + 1);
  protected readonly cqValid = new Uint8Array(MAX_QID + 1);
  protected readonly cqBase = new Float64Array(MAX_QID + 1);
  protected readonly cqSize = new Int32Array(MAX_QID + 1);
  protected readonly cqHead = new Int32Array(MAX_QID + 1);
  protected readonly cqTail = new Int32Array(MAX_QID + 1);
  protected readonly cqPhase = new Uint8Array(MAX_QID + 1);
  protected readonly cqVector = new Int32Array(MAX_QID + 1);
  protected readonly cqIen = new Uint8Array(MAX_QID + 1);
  /** Completions posted since the queue's last interrupt. */
  protected readonly cqUnsignalled = new Int32Array(MAX_QID + 1);
  private processing = false;

  // Preallocated DMA buffers of the entries: the hot path does not allocate.
  private readonly sqe = new Uint8Array(SQE_SIZE);
  private readonly sqeView = new DataView(this.sqe.buffer);
  private readonly cqe = new Uint8Array(CQE_SIZE);
  private readonly cqeView = new DataView(this.cqe.buffer);
  /** Dword 0 of the completion of the command being executed (set by `admin`/`io`). */
  protected result = 0;

  /**
   * @param spec - the PCI declaration of the function
   * @param interruptCoalescing - completions per interrupt on I/O completion queues
   */
  constructor(
    spec: PciDeviceSpec,
    private readonly interruptCoalescing: number,
  ) {
    super(spec);
  }

  /** Executes an admin command (its 64-byte entry in `dv`); returns the completion status. */
  protected abstract admin(dv: DataView): number;
  /** Executes an I/O command; returns the completion status. */
  protected abstract io(dv: DataView): number;

  /** The I/O and admin queues that exist, for tests and reports. */
  queues(): Array<{
    qid: number;
    sq?: { size: number; head: number; tail: number; cq: number };
    cq?: { size: number; head: number; tail: number; vector: number };
  }> {
    const out = [];
    for (let q = 0; q <= MAX_QID; q++) {
      if (!this.sqValid[q] && !this.cqValid[q]) continue;
      out.push({
        qid: q,
        sq: this.sqValid[q] ? { size: this.sqSize[q]!, head: this.sqHead[q]!, tail: this.sqTail[q]!, cq: this.sqCq[q]! } : undefined,
        cq: this.cqValid[q]
          ? { size: this.cqSize[q]!, head: this.cqHead[q]!, tail: this.cqTail[q]!, vector: this.cqVector[q]! }
          : undefined,
      });
    }
    return out;
  }

  /** Every queue goes and nothing is left to signal (controller reset). */
  protected deleteQueues(): void {
    this.sqValid.fill(0);
    this.cqValid.fill(0);
    this.cqUnsignalled.fill(0);
  }

  protected setupSq(qid: number, base: number, size: number, cq: number): void {
    this.sqValid[qid] = 1;
    this.sqBase[qid] = base;
    this.sqSize[qid] = size;
    this.sqHead[qid] = 0;
    this.sqTail[qid] = 0;
    this.sqCq[qid] = cq;
  }

  protected setupCq(qid: number, base: number, size: number, vector: number, ien: boolean): void {
    this.cqValid[qid] = 1;
    this.cqBase[qid] = base;
    this.cqSize[qid] = size;
    this.cqHead[qid] = 0;
    this.cqTail[qid] = 0;
    this.cqPhase[qid] = 1;
    this.cqVector[qid] = vector;
    this.cqIen[qid] = ien ? 1 : 0;
    this.cqUnsignalled[qid] = 0;
  }

  private get ready(): boolean {
    return (this.csts & (CSTS_RDY | CSTS_CFS)) === CSTS_RDY;
  }

  // ---- doorbells ----

  protected sqTailWrite(qid: number, tail: number): void {
    if (!this.ready || !this.sqValid[qid] || tail >= this.sqSize[qid]!) {
      this.counters.ignoredDoorbells++;
      return;
    }
    this.sqTail[qid] = tail;
    this.processSq(qid);
    this.signal(this.sqCq[qid]!);
  }

  protected cqHeadWrite(qid: number, head: number): void {
    if (!this.ready || !this.cqValid[qid] || head >= this.cqSize[qid]!) {
      this.counters.ignoredDoorbells++;
      return;
    }
    this.cqHead[qid] = head;
    // Everything posted has been consumed: nothing is left to signal.
    if (head === this.cqTail[qid]) this.cqUnsignalled[qid] = 0;
    // Room in the CQ again: submission queues that stalled on it continue.
    for (let s = 0; s <= MAX_QID; s++) {
      if (this.sqValid[s] && this.sqCq[s] === qid && this.sqHead[s] !== this.sqTail[s]) this.processSq(s);
    }
    this.signal(qid);
  }

  /** Executes every command between head and tail, as long as the completion queue has room. */
  private processSq(qid: number): void {
    if (this.processing) return; // a completion cannot re-enter the device; guard anyway
    this.processing = true;
    try {
      const cq = this.sqCq[qid]!;
      while (this.sqValid[qid] && this.sqHead[qid] !== this.sqTail[qid] && this.ready) {
        if (!this.cqValid[cq] || (this.cqTail[cq]! + 1) % this.cqSize[cq]! === this.cqHead[cq]!) return; // CQ full
        const addr = this.sqBase[qid]! + this.sqHead[qid]! * SQE_SIZE;
        if (!this.dma.dmaRead(addr, this.sqe)) {
          this.fatal();
          return;
        }
        this.sqHead[qid] = (this.sqHead[qid]! + 1) % this.sqSize[qid]!;
        this.counters.commands++;
        const dv = this.sqeView;
        const cid = dv.getUint16(2, true);
        this.result = 0;
        const status = qid === 0 ? this.admin(dv) : this.io(dv);
        if (!this.post(cq, qid, cid, status, this.result)) return;
      }
    } finally {
      this.processing = false;
    }
  }

  /** Raises the CQ's vector when enough completions are unsignalled (1 on the admin queue). */
  private signal(cq: number): void {
    if (!this.cqValid[cq] || !this.cqIen[cq]) return;
    const threshold = cq === 0 ? 1 : this.interruptCoalescing;
    if (this.cqUnsignalled[cq]! >= threshold) {
      this.cqUnsignalled[cq] = 0;
      this.counters.interrupts++;
      this.raiseMsix(this.cqVector[cq]!);
    }
  }

  private post(cq: number, sqid: number, cid: number, status: number, result: number): boolean {
    const dv = this.cqeView;
    dv.setUint32(0, result >>> 0, true);
    dv.setUint32(4, 0, true);
    dv.setUint32(8, (this.sqHead[sqid]! | (sqid << 16)) >>> 0, true);
    dv.setUint32(12, (cid | (this.cqPhase[cq]! << 16) | (status << 17)) >>> 0, true);
    if (!this.dma.dmaWrite(this.cqBase[cq]! + this.cqTail[cq]! * CQE_SIZE, this.cqe)) {
      this.fatal();
      return false;
    }
    this.counters.completions++;
    if (status !== 0) this.counters.errors++;
    this.cqTail[cq]!++;
    if (this.cqTail[cq] === this.cqSize[cq]) {
      this.cqTail[cq] = 0;
      this.cqPhase[cq]! ^= 1;
    }
    this.cqUnsignalled[cq]!++;
    return true;
  }

  /** A DMA the platform refused: the controller stops and reports Controller Fatal Status. */
  private fatal(): void {
    this.counters.dmaFailures++;
    this.csts |= CSTS_CFS;
  }
}
