/**
 * NVMe register map, opcodes and status codes as far as nvme-lite models them
 * (NVM Express base specification 1.4 numbering).
 */

import type { RegisterName, RegisterNames } from '@vhw/pci';

/** Controller registers in BAR0 (byte offsets). 8-byte registers are listed by their low dword. */
export const NvmeReg = {
  /** Controller Capabilities (8 bytes, read-only). */
  CAP: 0x00,
  /** Version (read-only). */
  VS: 0x08,
  /** Interrupt Mask Set (pin/MSI only; recorded, not applied to MSI-X, as the spec says). */
  INTMS: 0x0c,
  /** Interrupt Mask Clear. */
  INTMC: 0x10,
  /** Controller Configuration: EN bit 0, IOSQES 19:16, IOCQES 23:20, SHN 15:14. */
  CC: 0x14,
  /** Controller Status: RDY bit 0, CFS bit 1, SHST 3:2. */
  CSTS: 0x1c,
  /** NVM Subsystem Reset (not modelled: reads 0, writes ignored). */
  NSSR: 0x20,
  /** Admin Queue Attributes: ASQS 11:0, ACQS 27:16 (both 0's based). */
  AQA: 0x24,
  /** Admin Submission Queue base (8 bytes). */
  ASQ: 0x28,
  /** Admin Completion Queue base (8 bytes). */
  ACQ: 0x30,
  /** First doorbell (CAP.DSTRD = 0: 4-byte stride). */
  DOORBELLS: 0x1000,
} as const;

export const CC_EN = 1 << 0;
export const CSTS_RDY = 1 << 0;
export const CSTS_CFS = 1 << 1;
/** CC value the driver writes: EN, NVM command set, 4 KiB pages, 64-byte SQEs (2^6), 16-byte CQEs (2^4). */
export const CC_ENABLE_VALUE = CC_EN | (6 << 16) | (4 << 20);

/** Submission queue y tail doorbell offset (DSTRD = 0). */
export function sqTailDoorbell(qid: number): number {
  return NvmeReg.DOORBELLS + 8 * qid;
}

/** Completion queue y head doorbell offset (DSTRD = 0). */
export function cqHeadDoorbell(qid: number): number {
  return NvmeReg.DOORBELLS + 8 * qid + 4;
}

export const SQE_SIZE = 64;
export const CQE_SIZE = 16;

export const AdminOpcode = { DeleteIoSq: 0x00, CreateIoSq: 0x01, DeleteIoCq: 0x04, CreateIoCq: 0x05 } as const;
export const IoOpcode = { Flush: 0x00, Write: 0x01, Read: 0x02 } as const;

/** Status field values: (status code type << 8) | status code. 0 is success. */
export const NvmeStatus = {
  Success: 0x000,
  InvalidOpcode: 0x001,
  InvalidField: 0x002,
  DataTransferError: 0x004,
  InvalidNamespace: 0x00b,
  LbaOutOfRange: 0x080,
  CompletionQueueInvalid: 0x100,
  InvalidQueueId: 0x101,
  InvalidQueueSize: 0x102,
  InvalidInterruptVector: 0x108,
  InvalidQueueDeletion: 0x10c,
} as const;

/** Blocks in namespace 1. */
export const NVME_NAMESPACE_BLOCKS = 1 << 24;

/**
 * The 4-byte pattern a read of a never-written LBA returns: a deterministic hash of
 * the LBA, so a driver can check a read went to the right block.
 * @param lba - logical block address
 * @returns the pattern, an unsigned 32-bit number
 * @example
 * nvmeLbaPattern(0) !== nvmeLbaPattern(1); // true
 */
export function nvmeLbaPattern(lba: number): number {
  let x = ((lba % 2 ** 32) ^ Math.floor(lba / 2 ** 32) ^ 0x5bd1e995) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * BAR0's register names as the NVMe specification spells them, for reports and `vhw
 * explain nvme0:SQ1TDBL`: the controller registers, then each queue pair's doorbells
 * (`SQyTDBL`, `CQyHDBL`, 4-byte stride). The I/O queues' doorbells and CSTS are marked hot:
 * a driver rings the doorbells on every command and polls CSTS.
 * @param ioQueues - I/O queue pairs the controller offers doorbells for (admin queue 0 always)
 * @returns the table for `PciDeviceSpec.registers`
 */
export function nvmeRegisterNames(ioQueues: number): RegisterNames {
  const regs: RegisterName[] = [
    { name: 'CAP', offset: NvmeReg.CAP, size: 8 },
    { name: 'VS', offset: NvmeReg.VS, size: 4 },
    { name: 'INTMS', offset: NvmeReg.INTMS, size: 4 },
    { name: 'INTMC', offset: NvmeReg.INTMC, size: 4 },
    { name: 'CC', offset: NvmeReg.CC, size: 4 },
    { name: 'CSTS', offset: NvmeReg.CSTS, size: 4, hot: true },
    { name: 'NSSR', offset: NvmeReg.NSSR, size: 4 },
    { name: 'AQA', offset: NvmeReg.AQA, size: 4 },
    { name: 'ASQ', offset: NvmeReg.ASQ, size: 8 },
    { name: 'ACQ', offset: NvmeReg.ACQ, size: 8 },
  ];
  for (let q = 0; q <= ioQueues; q++) {
    regs.push({ name: `SQ${q}TDBL`, offset: sqTailDoorbell(q), size: 4, hot: q > 0 });
    regs.push({ name: `CQ${q}HDBL`, offset: cqHeadDoorbell(q), size: 4, hot: q > 0 });
  }
  return { 0: regs };
}
