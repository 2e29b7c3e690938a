/**
 * A bare-metal harness for nvme-lite's device tests: the device on a DMA bus straight onto
 * guest memory, and guest-side helpers that build queue entries and read completions.
 */
import { GuestMemory } from '@vhw/core';
import { MSIX_CAP_OFFSET, type PciDeviceBus } from '@vhw/pci';
import { NvmeLiteDevice } from '../src/device.js';
import { AdminOpcode, CC_ENABLE_VALUE, NvmeReg, cqHeadDoorbell, sqTailDoorbell } from '../src/regs.js';

/** A DMA bus straight onto guest memory (IOVA = GPA), with a switch that blocks DMA. */
export function memoryBus(mem: GuestMemory): PciDeviceBus & { blocked: boolean } {
  return {
    blocked: false,
    dmaRead32(iova) {
      return this.blocked ? 0xffffffff : mem.read32(iova);
    },
    dmaWrite32(iova, value) {
      if (this.blocked) return false;
      mem.write32(iova, value);
      return true;
    },
    dmaRead(iova, out) {
      if (this.blocked || !mem.contains(iova, out.length)) {
        out.fill(0xff);
        return false;
      }
      mem.readBytes(iova, out);
      return true;
    },
    dmaWrite(iova, data) {
      if (this.blocked || !mem.contains(iova, data.length)) return false;
      mem.writeBytes(iova, data);
      return true;
    },
  };
}

export const ASQ = 0x10000;
export const ACQ = 0x11000;
export const IOSQ = 0x12000;
export const IOCQ = 0x13000;
export const DATA = 0x20000;

/** Fields of a submission queue entry the tests set. */
export interface Completion {
  cid: number;
  status: number;
  sqHead: number;
  sqId: number;
  phase: number;
}

export interface SqeFields {
  nsid?: number;
  prp1?: number;
  cdw10?: number;
  cdw11?: number;
  cdw12?: number;
}

/** A bare-metal harness: the device, its memory, and guest-side helpers that build queue entries. */
export function rig(input: ConstructorParameters<typeof NvmeLiteDevice>[0] = {}) {
  const dev = new NvmeLiteDevice(input);
  const mem = new GuestMemory();
  mem.add('ram', 0, 1 << 20);
  const bus = memoryBus(mem);
  dev.attach(bus);
  const regs = dev.barHandler(0);
  const sent: number[] = [];
  dev.msix!.sink = (_lo, _hi, data) => sent.push(data);
  const tails = new Map<number, number>();
  const heads = new Map<number, number>();
  const phases = new Map<number, number>();
  const sizes = new Map<number, { sq: number; cq: number; sqBase: number; cqBase: number }>();
  const h = {
    dev,
    mem,
    bus,
    regs,
    sent,
    /** Enables MSI-X and programs entry i with data 0x100 + i, unmasked. */
    enableMsix(masked = false) {
      dev.config.write(MSIX_CAP_OFFSET + 2, 2, 0x8000);
      const t = dev.spec.msix!.tableOffset;
      for (let i = 0; i < dev.spec.msix!.vectors; i++) {
        regs.write(t + i * 16, 4, 0xfee00000);
        regs.write(t + i * 16 + 8, 4, 0x100 + i);
        regs.write(t + i * 16 + 12, 4, masked ? 1 : 0);
      }
    },
    enable(sqEntries = 8, cqEntries = 8) {
      regs.write(NvmeReg.AQA, 4, (sqEntries - 1) | ((cqEntries - 1) << 16));
      regs.write(NvmeReg.ASQ, 4, ASQ);
      regs.write(NvmeReg.ASQ + 4, 4, 0);
      regs.write(NvmeReg.ACQ, 4, ACQ);
      regs.write(NvmeReg.ACQ + 4, 4, 0);
      regs.write(NvmeReg.CC, 4, CC_ENABLE_VALUE);
      sizes.set(0, { sq: sqEntries, cq: cqEntries, sqBase: ASQ, cqBase: ACQ });
    },
    /** Writes an SQE at the queue's tail (does not ring). */
    queue(qid: number, opcode: number, cid: number, f: SqeFields = {}): void {
      const s = sizes.get(qid)!;
      const tail = tails.get(qid) ?? 0;
      const e = s.sqBase + tail * 64;
      for (let i = 0; i < 64; i += 4) mem.write32(e + i, 0);
      mem.write32(e, opcode | (cid << 16));
      mem.write32(e + 4, f.nsid ?? (qid === 0 ? 0 : 1));
      mem.write32(e + 24, f.prp1 ?? 0);
      mem.write32(e + 40, f.cdw10 ?? 0);
      mem.write32(e + 44, f.cdw11 ?? 0);
      mem.write32(e + 48, f.cdw12 ?? 0);
      tails.set(qid, (tail + 1) % s.sq);
    },
    ring(qid: number) {
      regs.write(sqTailDoorbell(qid), 4, tails.get(qid) ?? 0);
    },
    submit(qid: number, opcode: number, cid: number, f: SqeFields = {}): void {
      h.queue(qid, opcode, cid, f);
      h.ring(qid);
    },
    /** Reads the completions the device posted (by phase), without ringing the head doorbell. */
    completions(qid: number): Completion[] {
      const s = sizes.get(qid)!;
      const out: Completion[] = [];
      let head = heads.get(qid) ?? 0;
      let phase = phases.get(qid) ?? 1;
      for (;;) {
        const e = s.cqBase + head * 16;
        const dw3 = mem.read32(e + 12);
        if (((dw3 >>> 16) & 1) !== phase) break;
        const dw2 = mem.read32(e + 8);
        out.push({ cid: dw3 & 0xffff, status: (dw3 >>> 17) & 0x7fff, sqHead: dw2 & 0xffff, sqId: dw2 >>> 16, phase });
        if (++head === s.cq) {
          head = 0;
          phase ^= 1;
        }
      }
      heads.set(qid, head);
      phases.set(qid, phase);
      return out;
    },
    ack(qid: number) {
      regs.write(cqHeadDoorbell(qid), 4, heads.get(qid) ?? 0);
    },
    createIoQueues(qid: number, entries: number, vector: number, ien = true): Completion[] {
      h.submit(0, AdminOpcode.CreateIoCq, 1, { prp1: IOCQ, cdw10: qid | ((entries - 1) << 16), cdw11: 1 | (ien ? 2 : 0) | (vector << 16) });
      h.submit(0, AdminOpcode.CreateIoSq, 2, { prp1: IOSQ, cdw10: qid | ((entries - 1) << 16), cdw11: 1 | (qid << 16) });
      const c = h.completions(0);
      h.ack(0);
      sizes.set(qid, { sq: entries, cq: entries, sqBase: IOSQ, cqBase: IOCQ });
      return c;
    },
  };
  return h;
}
