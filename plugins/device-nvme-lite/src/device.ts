import type { AccessConstraints } from '@vhw/core';
import { PciDevice, type PciDeviceSpec } from '@vhw/pci';
import { NVME_LAYOUTS, type NvmeLiteInput, type NvmeLiteOptions, resolveNvmeLiteOptions } from './options.js';
import {
  AdminOpcode,
  CC_EN,
  CQE_SIZE,
  CSTS_CFS,
  CSTS_RDY,
  IoOpcode,
  NVME_NAMESPACE_BLOCKS,
  NvmeReg,
  NvmeStatus,
  SQE_SIZE,
  nvmeLbaPattern,
} from './regs.js';

/** Highest queue id (admin queue 0 plus the I/O queues). */
const MAX_QID = 64;
/** CAP: MQES 1023 (1024 entries), CQR (contiguous queues required), TO 1 (500 ms). */
const CAP_LO = 1023 | (1 << 16) | (1 << 24);
/** CAP high dword: DSTRD 0, CSS bit 37 (NVM command set), MPSMIN = MPSMAX = 0 (4 KiB). */
const CAP_HI = 1 << 5;
const VERSION_1_4 = 0x00010400;
/** NVMe registers: dword or qword, naturally aligned; the code handles dwords. */
const NVME_CONSTRAINTS: AccessConstraints = { valid: { sizes: [4, 8], unaligned: false }, impl: { min: 4, max: 4 } };

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
 * An NVMe-like controller: CAP/VS/CC/CSTS/AQA/ASQ/ACQ registers, queue doorbells from
 * 0x1000 (stride 4), an admin queue that creates and deletes I/O queues, I/O commands
 * (flush, write and read of one 4-byte word per LBA), completions with phase tag, and
 * one MSI-X interrupt per completion batch (coalesced on I/O queues). A doorbell write
 * processes the submission queue synchronously. The device knows only its own BAR
 * offsets; it does not know where it sits or whether it is passed through.
 * @example
 * const dev = new NvmeLiteDevice({ layout: 'bar0-64k' });
 * dev.spec.msix?.tableOffset; // 0x5200
 */
export class NvmeLiteDevice extends PciDevice {
  readonly options: NvmeLiteOptions;
  readonly counters: NvmeLiteDeviceCounters = {
    commands: 0,
    completions: 0,
    interrupts: 0,
    errors: 0,
    ignoredDoorbells: 0,
    dmaFailures: 0,
  };
  /** Namespace 1 content: one 4-byte word per written LBA. Media survives controller and function resets. */
  readonly media = new Map<number, number>();

  private cc = 0;
  private csts = 0;
  private aqa = 0;
  private asqLo = 0;
  private asqHi = 0;
  private acqLo = 0;
  private acqHi = 0;
  private intMask = 0;

  private readonly sqValid = new Uint8Array(MAX_QID + 1);
  private readonly sqBase = new Float64Array(MAX_QID + 1);
  private readonly sqSize = new Int32Array(MAX_QID + 1);
  private readonly sqHead = new Int32Array(MAX_QID + 1);
  private readonly sqTail = new Int32Array(MAX_QID + 1);
  private readonly sqCq = new Int32Array(MAX_QID + 1);
  private readonly cqValid = new Uint8Array(MAX_QID + 1);
  private readonly cqBase = new Float64Array(MAX_QID + 1);
  private readonly cqSize = new Int32Array(MAX_QID + 1);
  private readonly cqHead = new Int32Array(MAX_QID + 1);
  private readonly cqTail = new Int32Array(MAX_QID + 1);
  private readonly cqPhase = new Uint8Array(MAX_QID + 1);
  private readonly cqVector = new Int32Array(MAX_QID + 1);
  private readonly cqIen = new Uint8Array(MAX_QID + 1);
  /** Completions posted since the queue's last interrupt. */
  private readonly cqUnsignalled = new Int32Array(MAX_QID + 1);
  private processing = false;

  // Preallocated DMA buffers: the hot path does not allocate.
  private readonly sqe = new Uint8Array(SQE_SIZE);
  private readonly sqeView = new DataView(this.sqe.buffer);
  private readonly cqe = new Uint8Array(CQE_SIZE);
  private readonly cqeView = new DataView(this.cqe.buffer);
  private readonly word = new Uint8Array(4);
  private readonly wordView = new DataView(this.word.buffer);

  /**
   * @param input - plugin options (validated here; defaults filled in)
   * @throws VhwError E_CONFIG for invalid options
   */
  constructor(input: NvmeLiteInput | NvmeLiteOptions = {}) {
    const options = resolveNvmeLiteOptions(input);
    super(nvmeLiteSpec(options));
    this.options = options;
  }

  /** NVMe registers accept 4- and 8-byte naturally aligned accesses (8-byte ones arrive as two dwords). */
  override barConstraints(_bar: number): AccessConstraints {
    return NVME_CONSTRAINTS;
  }

  /** CSTS as the host would read it (for tests). */
  get status(): number {
    return this.csts;
  }

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
        sq: this.sqValid[q] ? { size: this.sqSize[q], head: this.sqHead[q], tail: this.sqTail[q], cq: this.sqCq[q] } : undefined,
        cq: this.cqValid[q] ? { size: this.cqSize[q], head: this.cqHead[q], tail: this.cqTail[q], vector: this.cqVector[q] } : undefined,
      });
    }
    return out;
  }

  protected readRegister(_bar: number, offset: number, _size: 1 | 2 | 4): number {
    switch (offset) {
      case NvmeReg.CAP:
        return CAP_LO >>> 0;
      case NvmeReg.CAP + 4:
        return CAP_HI;
      case NvmeReg.VS:
        return VERSION_1_4;
      case NvmeReg.INTMS:
      case NvmeReg.INTMC:
        return this.intMask;
      case NvmeReg.CC:
        return this.cc;
      case NvmeReg.CSTS:
        return this.csts;
      case NvmeReg.AQA:
        return this.aqa;
      case NvmeReg.ASQ:
        return this.asqLo;
      case NvmeReg.ASQ + 4:
        return this.asqHi;
      case NvmeReg.ACQ:
        return this.acqLo;
      case NvmeReg.ACQ + 4:
        return this.acqHi;
      default:
        // Doorbells are write-only; reserved space reads zero.
        return 0;
    }
  }

  protected writeRegister(_bar: number, offset: number, _size: 1 | 2 | 4, value: number): void {
    const v = value >>> 0;
    if (offset >= NvmeReg.DOORBELLS) {
      const index = (offset - NvmeReg.DOORBELLS) >>> 2;
      const qid = index >>> 1;
      if (qid > MAX_QID || (offset & 3) !== 0) return;
      if ((index & 1) === 0) this.sqTailWrite(qid, v);
      else this.cqHeadWrite(qid, v);
      return;
    }
    switch (offset) {
      case NvmeReg.INTMS:
        this.intMask = (this.intMask | v) >>> 0;
        return;
      case NvmeReg.INTMC:
        this.intMask = (this.intMask & ~v) >>> 0;
        return;
      case NvmeReg.CC:
        this.ccWrite(v);
        return;
      case NvmeReg.AQA:
        this.aqa = v & 0x0fff0fff;
        return;
      case NvmeReg.ASQ:
        this.asqLo = v & ~0xfff;
        return;
      case NvmeReg.ASQ + 4:
        this.asqHi = v;
        return;
      case NvmeReg.ACQ:
        this.acqLo = v & ~0xfff;
        return;
      case NvmeReg.ACQ + 4:
        this.acqHi = v;
        return;
      default:
        // CAP, VS, CSTS are read-only; NSSR and reserved space ignore writes.
        return;
    }
  }

  /** Function-level reset: every register and queue goes; the namespace content stays (it is media). */
  protected resetRegisters(): void {
    this.controllerReset();
    this.cc = 0;
    this.aqa = 0;
    this.asqLo = this.asqHi = this.acqLo = this.acqHi = 0;
    this.intMask = 0;
  }

  // ---- controller state ----

  private ccWrite(v: number): void {
    const wasEnabled = (this.cc & CC_EN) !== 0;
    this.cc = v & 0x00fffff1;
    const enable = (v & CC_EN) !== 0;
    if (wasEnabled && !enable) {
      this.controllerReset();
    } else if (!wasEnabled && enable) {
      this.enable();
    }
    // Shutdown notification: report shutdown processing complete at once.
    const shn = (v >>> 14) & 3;
    this.csts = (this.csts & ~0xc) | (shn !== 0 ? 2 << 2 : 0);
  }

  private enable(): void {
    const asqs = (this.aqa & 0xfff) + 1;
    const acqs = ((this.aqa >>> 16) & 0xfff) + 1;
    const asq = this.asqLo + this.asqHi * 2 ** 32;
    const acq = this.acqLo + this.acqHi * 2 ** 32;
    if (asqs < 2 || acqs < 2 || asq === 0 || acq === 0) {
      // The controller cannot come up: report a fatal status and stay not ready.
      this.csts |= CSTS_CFS;
      return;
    }
    this.setupSq(0, asq, asqs, 0);
    this.setupCq(0, acq, acqs, 0, true);
    this.csts = (this.csts | CSTS_RDY) & ~CSTS_CFS;
  }

  /** CC.EN 1 → 0: every queue is deleted and CSTS.RDY drops; AQA/ASQ/ACQ keep their values. */
  private controllerReset(): void {
    this.sqValid.fill(0);
    this.cqValid.fill(0);
    this.cqUnsignalled.fill(0);
    this.csts = 0;
  }

  private setupSq(qid: number, base: number, size: number, cq: number): void {
    this.sqValid[qid] = 1;
    this.sqBase[qid] = base;
    this.sqSize[qid] = size;
    this.sqHead[qid] = 0;
    this.sqTail[qid] = 0;
    this.sqCq[qid] = cq;
  }

  private setupCq(qid: number, base: number, size: number, vector: number, ien: boolean): void {
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

  private sqTailWrite(qid: number, tail: number): void {
    if (!this.ready || !this.sqValid[qid] || tail >= this.sqSize[qid]) {
      this.counters.ignoredDoorbells++;
      return;
    }
    this.sqTail[qid] = tail;
    this.processSq(qid);
    this.signal(this.sqCq[qid]);
  }

  private cqHeadWrite(qid: number, head: number): void {
    if (!this.ready || !this.cqValid[qid] || head >= this.cqSize[qid]) {
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
      const cq = this.sqCq[qid];
      while (this.sqValid[qid] && this.sqHead[qid] !== this.sqTail[qid] && this.ready) {
        if (!this.cqValid[cq] || (this.cqTail[cq] + 1) % this.cqSize[cq] === this.cqHead[cq]) return; // CQ full
        const addr = this.sqBase[qid] + this.sqHead[qid] * SQE_SIZE;
        if (!this.dma.dmaRead(addr, this.sqe)) {
          this.fatal();
          return;
        }
        this.sqHead[qid] = (this.sqHead[qid] + 1) % this.sqSize[qid];
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
    const threshold = cq === 0 ? 1 : this.options.interruptCoalescing;
    if (this.cqUnsignalled[cq] >= threshold) {
      this.cqUnsignalled[cq] = 0;
      this.counters.interrupts++;
      this.raiseMsix(this.cqVector[cq]);
    }
  }

  private post(cq: number, sqid: number, cid: number, status: number, result: number): boolean {
    const dv = this.cqeView;
    dv.setUint32(0, result >>> 0, true);
    dv.setUint32(4, 0, true);
    dv.setUint32(8, (this.sqHead[sqid] | (sqid << 16)) >>> 0, true);
    dv.setUint32(12, (cid | (this.cqPhase[cq] << 16) | (status << 17)) >>> 0, true);
    if (!this.dma.dmaWrite(this.cqBase[cq] + this.cqTail[cq] * CQE_SIZE, this.cqe)) {
      this.fatal();
      return false;
    }
    this.counters.completions++;
    if (status !== 0) this.counters.errors++;
    this.cqTail[cq]++;
    if (this.cqTail[cq] === this.cqSize[cq]) {
      this.cqTail[cq] = 0;
      this.cqPhase[cq] ^= 1;
    }
    this.cqUnsignalled[cq]++;
    return true;
  }

  /** A DMA the platform refused: the controller stops and reports Controller Fatal Status. */
  private fatal(): void {
    this.counters.dmaFailures++;
    this.csts |= CSTS_CFS;
  }

  private result = 0;

  // ---- commands ----

  private admin(dv: DataView): number {
    const opcode = dv.getUint8(0);
    const prp1 = dv.getUint32(24, true) + dv.getUint32(28, true) * 2 ** 32;
    const cdw10 = dv.getUint32(40, true);
    const cdw11 = dv.getUint32(44, true);
    const qid = cdw10 & 0xffff;
    const size = (cdw10 >>> 16) + 1;
    switch (opcode) {
      case AdminOpcode.CreateIoCq: {
        if (qid === 0 || qid > MAX_QID || this.cqValid[qid]) return NvmeStatus.InvalidQueueId;
        if (size < 2 || size > (CAP_LO & 0xffff) + 1) return NvmeStatus.InvalidQueueSize;
        if ((cdw11 & 1) === 0 || prp1 % 4096 !== 0) return NvmeStatus.InvalidField;
        const vector = cdw11 >>> 16;
        if (vector >= this.options.vectors) return NvmeStatus.InvalidInterruptVector;
        this.setupCq(qid, prp1, size, vector, (cdw11 & 2) !== 0);
        return NvmeStatus.Success;
      }
      case AdminOpcode.CreateIoSq: {
        if (qid === 0 || qid > MAX_QID || this.sqValid[qid]) return NvmeStatus.InvalidQueueId;
        if (size < 2 || size > (CAP_LO & 0xffff) + 1) return NvmeStatus.InvalidQueueSize;
        if (((this.cc >>> 16) & 0xf) !== 6) return NvmeStatus.InvalidQueueSize; // CC.IOSQES must say 64 bytes
        if ((cdw11 & 1) === 0 || prp1 % 4096 !== 0) return NvmeStatus.InvalidField;
        const cq = cdw11 >>> 16;
        if (cq === 0 || cq > MAX_QID || !this.cqValid[cq]) return NvmeStatus.CompletionQueueInvalid;
        this.setupSq(qid, prp1, size, cq);
        return NvmeStatus.Success;
      }
      case AdminOpcode.DeleteIoSq:
        if (qid === 0 || qid > MAX_QID || !this.sqValid[qid]) return NvmeStatus.InvalidQueueId;
        this.sqValid[qid] = 0;
        return NvmeStatus.Success;
      case AdminOpcode.DeleteIoCq:
        if (qid === 0 || qid > MAX_QID || !this.cqValid[qid]) return NvmeStatus.InvalidQueueId;
        for (let s = 1; s <= MAX_QID; s++) if (this.sqValid[s] && this.sqCq[s] === qid) return NvmeStatus.InvalidQueueDeletion;
        this.cqValid[qid] = 0;
        return NvmeStatus.Success;
      default:
        return NvmeStatus.InvalidOpcode;
    }
  }

  private io(dv: DataView): number {
    const opcode = dv.getUint8(0);
    if (dv.getUint32(4, true) !== 1) return NvmeStatus.InvalidNamespace;
    if (opcode === IoOpcode.Flush) return NvmeStatus.Success;
    if (opcode !== IoOpcode.Read && opcode !== IoOpcode.Write) return NvmeStatus.InvalidOpcode;
    const prp1 = dv.getUint32(24, true) + dv.getUint32(28, true) * 2 ** 32;
    const lba = dv.getUint32(40, true) + dv.getUint32(44, true) * 2 ** 32;
    const blocks = (dv.getUint32(48, true) & 0xffff) + 1;
    if (lba + blocks > NVME_NAMESPACE_BLOCKS) return NvmeStatus.LbaOutOfRange;
    if (opcode === IoOpcode.Write) {
      if (!this.dma.dmaRead(prp1, this.word)) return NvmeStatus.DataTransferError;
      this.media.set(lba, this.wordView.getUint32(0, true));
      return NvmeStatus.Success;
    }
    const stored = this.media.get(lba);
    this.wordView.setUint32(0, stored === undefined ? nvmeLbaPattern(lba) : stored, true);
    return this.dma.dmaWrite(prp1, this.word) ? NvmeStatus.Success : NvmeStatus.DataTransferError;
  }
}

/**
 * The PCI declaration of an nvme-lite function for `options`: class 01:08:02 (NVMe),
 * BAR0 64-bit non-prefetchable as NVMe's MLBAR/MUBAR, MSI-X table and PBA in BAR0.
 * IDs are QEMU's emulated NVMe (1b36:0010); nothing matches on them.
 * @param options - validated options
 * @returns the device spec for the PciDevice base
 */
export function nvmeLiteSpec(options: NvmeLiteOptions): PciDeviceSpec {
  const layout = NVME_LAYOUTS[options.layout];
  return {
    name: options.name,
    vendorId: 0x1b36,
    deviceId: 0x0010,
    classCode: 0x010802,
    revision: 2,
    bars: [{ index: 0, size: layout.barSize, kind: 'mem64', prefetchable: false, label: 'registers+doorbells+msix' }],
    msix: { vectors: options.vectors, tableBar: 0, tableOffset: layout.tableOffset, pbaBar: 0, pbaOffset: layout.pbaOffset },
  };
}
