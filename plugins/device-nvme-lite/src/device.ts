import type { AccessConstraints } from '@vhw/core';
import type { PciDeviceSpec } from '@vhw/pci';
import { NVME_LAYOUTS, type NvmeLiteInput, type NvmeLiteOptions, resolveNvmeLiteOptions } from './options.js';
import { MAX_QID, NvmeQueueEngine } from './queue-engine.js';
import {
  AdminOpcode,
  CC_EN,
  CSTS_CFS,
  CSTS_RDY,
  IoOpcode,
  NVME_NAMESPACE_BLOCKS,
  NvmeReg,
  NvmeStatus,
  nvmeLbaPattern,
  nvmeRegisterNames,
} from './regs.js';

export type { NvmeLiteDeviceCounters } from './queue-engine.js';
/** CAP: MQES 1023 (1024 entries), CQR (contiguous queues required), TO 1 (500 ms). */
const CAP_LO = 1023 | (1 << 16) | (1 << 24);
/** CAP high dword: DSTRD 0, CSS bit 37 (NVM command set), MPSMIN = MPSMAX = 0 (4 KiB). */
const CAP_HI = 1 << 5;
const VERSION_1_4 = 0x00010400;
/** NVMe registers: dword or qword, naturally aligned; the code handles dwords. */
const NVME_CONSTRAINTS: AccessConstraints = { valid: { sizes: [4, 8], unaligned: false }, impl: { min: 4, max: 4 } };

/**
 * An NVMe-like controller: CAP/VS/CC/CSTS/AQA/ASQ/ACQ registers, queue doorbells from
 * 0x1000 (stride 4), an admin queue that creates and deletes I/O queues, I/O commands
 * (flush, write and read of one 4-byte word per LBA), completions with phase tag, and
 * one MSI-X interrupt per completion batch (coalesced on I/O queues). A doorbell write
 * processes the submission queue synchronously. This class is the controller (registers,
 * enable and reset, the admin and NVM command sets); `NvmeQueueEngine` moves the queues. The device knows only its own BAR
 * offsets; it does not know where it sits or whether it is passed through.
 * @example
 * const dev = new NvmeLiteDevice({ layout: 'bar0-64k' });
 * dev.spec.msix?.tableOffset; // 0x5200
 */
export class NvmeLiteDevice extends NvmeQueueEngine {
  readonly options: NvmeLiteOptions;
  /** Namespace 1 content: one 4-byte word per written LBA. Media survives controller and function resets. */
  readonly media = new Map<number, number>();

  private cc = 0;
  private aqa = 0;
  private asqLo = 0;
  private asqHi = 0;
  private acqLo = 0;
  private acqHi = 0;
  private intMask = 0;
  // Preallocated DMA buffer of a read or write: the hot path does not allocate.
  private readonly word = new Uint8Array(4);
  private readonly wordView = new DataView(this.word.buffer);

  /**
   * @param input - plugin options (validated here; defaults filled in)
   * @throws VhwError E_CONFIG for invalid options
   */
  constructor(input: NvmeLiteInput | NvmeLiteOptions = {}) {
    const options = resolveNvmeLiteOptions(input);
    super(nvmeLiteSpec(options), options.interruptCoalescing);
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
    this.deleteQueues();
    this.csts = 0;
  }

  // ---- commands ----

  protected admin(dv: DataView): number {
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

  protected io(dv: DataView): number {
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
    bars: [
      {
        index: 0,
        size: layout.barSize,
        kind: 'mem64',
        prefetchable: false,
        label: 'registers+doorbells+msix',
        ...(options.sparseAreas === undefined ? {} : { sparseAreas: options.sparseAreas }),
      },
    ],
    msix: { vectors: options.vectors, tableBar: 0, tableOffset: layout.tableOffset, pbaBar: 0, pbaOffset: layout.pbaOffset },
    registers: nvmeRegisterNames(options.ioQueues),
  };
}
