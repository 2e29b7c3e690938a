import { GuestMemory } from '@vhw/core';
import { Cfg, MSIX_CAP_OFFSET, PciDevice, type PciDeviceBus } from '@vhw/pci';
import { describe, expect, it } from 'vitest';
import { expectVhwError } from '@vhw/test-support';
import { NvmeLiteDevice } from './device.js';
import { nvmeLite } from './plugin.js';
import {
  AdminOpcode,
  CC_ENABLE_VALUE,
  CSTS_CFS,
  CSTS_RDY,
  IoOpcode,
  NVME_NAMESPACE_BLOCKS,
  NvmeReg,
  NvmeStatus,
  cqHeadDoorbell,
  nvmeLbaPattern,
  sqTailDoorbell,
} from './regs.js';

/** A DMA bus straight onto guest memory (IOVA = GPA), with a switch that blocks DMA. */
function memoryBus(mem: GuestMemory): PciDeviceBus & { blocked: boolean } {
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

const ASQ = 0x10000;
const ACQ = 0x11000;
const IOSQ = 0x12000;
const IOCQ = 0x13000;
const DATA = 0x20000;

/** Fields of a submission queue entry the tests set. */
interface Completion {
  cid: number;
  status: number;
  sqHead: number;
  sqId: number;
  phase: number;
}

interface SqeFields {
  nsid?: number;
  prp1?: number;
  cdw10?: number;
  cdw11?: number;
  cdw12?: number;
}

/** A bare-metal harness: the device, its memory, and guest-side helpers that build queue entries. */
function rig(input: ConstructorParameters<typeof NvmeLiteDevice>[0] = {}) {
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

describe('nvme-lite registers', () => {
  it('reports CAP, VS and the doorbell stride as the driver expects', () => {
    const { regs } = rig();
    const capLo = regs.read(NvmeReg.CAP, 4);
    const capHi = regs.read(NvmeReg.CAP + 4, 4);
    expect(capLo & 0xffff).toBe(1023); // MQES: 1024 entries
    expect((capLo >>> 16) & 1).toBe(1); // CQR
    expect(capHi & 0xf).toBe(0); // DSTRD 0: 4-byte doorbell stride
    expect((capHi >>> 5) & 1).toBe(1); // CSS: NVM command set
    expect(regs.read(NvmeReg.VS, 4)).toBe(0x00010400);
    regs.write(NvmeReg.CAP, 4, 0);
    regs.write(NvmeReg.VS, 4, 0);
    expect(regs.read(NvmeReg.CAP, 4)).toBe(capLo);
    expect(regs.read(NvmeReg.VS, 4)).toBe(0x00010400);
  });

  it('sets CSTS.RDY when CC.EN goes 1 with admin queues, and drops it and every queue when CC.EN goes 0', () => {
    const h = rig();
    expect(h.regs.read(NvmeReg.CSTS, 4) & CSTS_RDY).toBe(0);
    h.enable();
    expect(h.regs.read(NvmeReg.CSTS, 4)).toBe(CSTS_RDY);
    expect(h.regs.read(NvmeReg.CC, 4)).toBe(CC_ENABLE_VALUE);
    h.createIoQueues(1, 4, 1);
    expect(h.dev.queues().map((q) => q.qid)).toEqual([0, 1]);
    h.regs.write(NvmeReg.CC, 4, 0);
    expect(h.regs.read(NvmeReg.CSTS, 4) & CSTS_RDY).toBe(0);
    expect(h.dev.queues()).toEqual([]);
    // The admin queue registers keep their values across a controller reset (NVMe 1.4 §7.3.2).
    expect(h.regs.read(NvmeReg.ASQ, 4)).toBe(ASQ);
    expect(h.regs.read(NvmeReg.AQA, 4)).toBe(7 | (7 << 16));
  });

  it('reports controller fatal status when enabled without admin queues', () => {
    const { regs } = rig();
    regs.write(NvmeReg.CC, 4, CC_ENABLE_VALUE);
    expect(regs.read(NvmeReg.CSTS, 4)).toBe(CSTS_CFS);
  });

  it('keeps INTMS/INTMC as one mask, reads zero outside registers and ignores writes there', () => {
    const { regs } = rig();
    regs.write(NvmeReg.INTMS, 4, 0b1010);
    regs.write(NvmeReg.INTMC, 4, 0b0010);
    expect(regs.read(NvmeReg.INTMS, 4)).toBe(0b1000);
    expect(regs.read(NvmeReg.INTMC, 4)).toBe(0b1000);
    for (const off of [0x18, 0x38, 0x100, 0xffc, sqTailDoorbell(0), cqHeadDoorbell(3), 0x1ffc]) {
      regs.write(off, 4, 0xdeadbeef);
      expect(regs.read(off, 4)).toBe(0);
    }
  });

  it('masks the reserved low bits of ASQ and ACQ', () => {
    const { regs } = rig();
    regs.write(NvmeReg.ASQ, 4, 0x12345fff);
    regs.write(NvmeReg.ACQ, 4, 0x00001234);
    expect(regs.read(NvmeReg.ASQ, 4)).toBe(0x12345000);
    expect(regs.read(NvmeReg.ACQ, 4)).toBe(0x00001000);
  });

  it('declares 4- and 8-byte aligned accesses only', () => {
    const c = new NvmeLiteDevice().barConstraints(0);
    expect([...c.valid.sizes].sort()).toEqual([4, 8]);
    expect(c.valid.unaligned).toBe(false);
    expect(c.impl).toEqual({ min: 4, max: 4 });
  });

  it('ignores doorbells while disabled, for unknown queues and beyond the queue size', () => {
    const h = rig();
    h.regs.write(sqTailDoorbell(0), 4, 1);
    h.enable();
    h.regs.write(sqTailDoorbell(5), 4, 1);
    h.regs.write(sqTailDoorbell(0), 4, 8);
    expect(h.dev.counters.ignoredDoorbells).toBe(3);
    expect(h.dev.counters.commands).toBe(0);
  });

  it('clears registers and queues on a function reset but keeps the media', () => {
    const h = rig();
    h.enable();
    h.createIoQueues(1, 4, 0);
    h.mem.write32(DATA, 0xcafef00d);
    h.submit(1, IoOpcode.Write, 9, { prp1: DATA, cdw10: 77 });
    h.dev.reset();
    expect(h.regs.read(NvmeReg.CC, 4)).toBe(0);
    expect(h.regs.read(NvmeReg.CSTS, 4)).toBe(0);
    expect(h.regs.read(NvmeReg.ASQ, 4)).toBe(0);
    expect(h.dev.queues()).toEqual([]);
    expect(h.dev.media.get(77)).toBe(0xcafef00d);
  });
});

describe('nvme-lite BAR and MSI-X layout', () => {
  // Typical NVMe (BAR0 16 KiB) and KIOXIA CD8P (BAR0 64 KiB, table 0x5200, PBA 0xd600).
  const cases = [
    { layout: 'bar0-16k', size: 0x4000, table: 0x2000, pba: 0x3000 },
    { layout: 'bar0-64k', size: 0x10000, table: 0x5200, pba: 0xd600 },
  ] as const;
  for (const c of cases) {
    it(`${c.layout}: BAR0 ${c.size / 1024} KiB mem64 with table at ${c.table.toString(16)} and PBA at ${c.pba.toString(16)}`, () => {
      const dev = new NvmeLiteDevice({ layout: c.layout, vectors: 16 });
      expect(dev.spec.bars).toEqual([expect.objectContaining({ index: 0, size: c.size, kind: 'mem64', prefetchable: false })]);
      expect(dev.spec.msix).toEqual({ vectors: 16, tableBar: 0, tableOffset: c.table, pbaBar: 0, pbaOffset: c.pba });
      expect(dev.spec.classCode).toBe(0x010802);
      // Config space as the guest sees it: BAR sizing and the MSI-X capability.
      dev.config.write(Cfg.Bar0, 4, 0xffffffff);
      expect((~(dev.config.read(Cfg.Bar0, 4) & 0xfffffff0) + 1) >>> 0).toBe(c.size);
      expect(dev.config.read(Cfg.Bar0, 4) & 0x6).toBe(0x4); // 64-bit
      expect(dev.config.read(MSIX_CAP_OFFSET + 2, 2) & 0x7ff).toBe(15);
      expect(dev.config.read(MSIX_CAP_OFFSET + 4, 4)).toBe(c.table);
      expect(dev.config.read(MSIX_CAP_OFFSET + 8, 4)).toBe(c.pba);
      // The table answers at its offset (entries start masked), registers below it.
      expect(dev.barHandler(0).read(c.table + 12, 4)).toBe(1);
      expect(dev.barHandler(0).read(NvmeReg.VS, 4)).toBe(0x00010400);
    });
  }

  it('puts the doorbells from 0x1000 with stride 4 in both layouts', () => {
    expect(sqTailDoorbell(0)).toBe(0x1000);
    expect(cqHeadDoorbell(0)).toBe(0x1004);
    expect(sqTailDoorbell(3)).toBe(0x1018);
    expect(cqHeadDoorbell(3)).toBe(0x101c);
  });
});

describe('nvme-lite options', () => {
  const bad: Array<[string, Record<string, unknown>, RegExp]> = [
    ['layout', { layout: 'bar0-32k' }, /nvme-lite: option "layout" is "bar0-32k"/],
    ['vectors (0)', { vectors: 0 }, /nvme-lite: option "vectors" is 0/],
    ['vectors (65)', { vectors: 65 }, /nvme-lite: option "vectors" is 65/],
    ['vectors (not an integer)', { vectors: 2.5 }, /option "vectors" is 2.5/],
    ['queueDepth', { queueDepth: 1024 }, /nvme-lite: option "queueDepth" is 1024/],
    ['ioQueues', { ioQueues: 0 }, /nvme-lite: option "ioQueues" is 0/],
    ['interruptCoalescing', { interruptCoalescing: 0 }, /option "interruptCoalescing" is 0/],
    ['deviceLatencyNs', { deviceLatencyNs: -1 }, /option "deviceLatencyNs" is -1/],
    ['name', { name: 'has space' }, /option "name" is "has space"/],
    ['unknown key', { layuot: 'bar0-16k' }, /nvme-lite: unknown option "layuot"; allowed: name, layout, vectors/],
  ];
  for (const [what, input, message] of bad) {
    it(`refuses a bad ${what} with a message naming the plugin and the field`, () => {
      expectVhwError(() => nvmeLite(input as never), 'E_CONFIG', message);
    });
  }

  it('fills defaults and uses the name as the instance', () => {
    const p = nvmeLite({ name: 'nvme7' });
    expect(p.options).toEqual({
      name: 'nvme7',
      layout: 'bar0-16k',
      vectors: 8,
      queueDepth: 32,
      ioQueues: 1,
      interruptCoalescing: 1,
      deviceLatencyNs: 0,
    });
    expect(p.instance).toBe('nvme7');
    expect(p.kind).toBe('device');
    expect(nvmeLite.describeOptions().map((o) => o.field)).toEqual([
      'name',
      'layout',
      'vectors',
      'queueDepth',
      'ioQueues',
      'interruptCoalescing',
      'deviceLatencyNs',
    ]);
  });

  it('validates the same way when the device is built directly', () => {
    expect(() => new NvmeLiteDevice({ vectors: 100 })).toThrow(/nvme-lite: option "vectors" is 100/);
  });
});

describe('nvme-lite commands, DMA and completions', () => {
  it('creates I/O queues through the admin queue and completes with phase, SQ head and command id', () => {
    const h = rig();
    h.enable();
    const admin = h.createIoQueues(1, 4, 1);
    expect(admin).toEqual([
      { cid: 1, status: 0, sqHead: 1, sqId: 0, phase: 1 },
      { cid: 2, status: 0, sqHead: 2, sqId: 0, phase: 1 },
    ]);
    expect(h.dev.queues()[1]).toEqual({ qid: 1, sq: { size: 4, head: 0, tail: 0, cq: 1 }, cq: { size: 4, head: 0, tail: 0, vector: 1 } });
  });

  it('reads a deterministic pattern from an unwritten LBA and the written word after a write', () => {
    const h = rig();
    h.enable();
    h.createIoQueues(1, 8, 0);
    h.mem.write32(DATA, 0);
    h.submit(1, IoOpcode.Read, 3, { prp1: DATA, cdw10: 1234 });
    expect(h.mem.read32(DATA)).toBe(nvmeLbaPattern(1234));
    h.mem.write32(DATA + 64, 0x11223344);
    h.submit(1, IoOpcode.Write, 4, { prp1: DATA + 64, cdw10: 1234 });
    h.submit(1, IoOpcode.Read, 5, { prp1: DATA + 128, cdw10: 1234 });
    expect(h.mem.read32(DATA + 128)).toBe(0x11223344);
    h.submit(1, IoOpcode.Flush, 6);
    expect(h.completions(1)).toEqual([
      { cid: 3, status: 0, sqHead: 1, sqId: 1, phase: 1 },
      { cid: 4, status: 0, sqHead: 2, sqId: 1, phase: 1 },
      { cid: 5, status: 0, sqHead: 3, sqId: 1, phase: 1 },
      { cid: 6, status: 0, sqHead: 4, sqId: 1, phase: 1 },
    ]);
    expect(nvmeLbaPattern(1234)).not.toBe(nvmeLbaPattern(1235));
  });

  it('completes bad commands with the NVMe status codes', () => {
    const h = rig();
    h.enable();
    h.submit(0, 0x7f, 1);
    h.submit(0, AdminOpcode.CreateIoSq, 2, { prp1: IOSQ, cdw10: 1 | (3 << 16), cdw11: 1 | (1 << 16) }); // CQ 1 does not exist
    h.submit(0, AdminOpcode.CreateIoCq, 3, { prp1: IOCQ, cdw10: 1 | (3 << 16), cdw11: 1 | 2 | (8 << 16) }); // vector 8 of 8
    h.submit(0, AdminOpcode.CreateIoCq, 4, { prp1: IOCQ + 8, cdw10: 1 | (3 << 16), cdw11: 3 }); // not page aligned
    expect(h.completions(0).map((c) => c.status)).toEqual([
      NvmeStatus.InvalidOpcode,
      NvmeStatus.CompletionQueueInvalid,
      NvmeStatus.InvalidInterruptVector,
      NvmeStatus.InvalidField,
    ]);
    h.ack(0);
    h.createIoQueues(1, 8, 0);
    h.submit(1, IoOpcode.Read, 1, { prp1: DATA, nsid: 2 });
    h.submit(1, IoOpcode.Read, 2, { prp1: DATA, cdw10: NVME_NAMESPACE_BLOCKS });
    h.submit(1, 0x55, 3);
    h.submit(1, IoOpcode.Write, 4, { prp1: 0x7ffffff0 }); // outside RAM: the DMA fails
    expect(h.completions(1).map((c) => c.status)).toEqual([
      NvmeStatus.InvalidNamespace,
      NvmeStatus.LbaOutOfRange,
      NvmeStatus.InvalidOpcode,
      NvmeStatus.DataTransferError,
    ]);
    expect(h.dev.counters.errors).toBe(8);
  });

  it('flips the phase tag when the completion queue wraps', () => {
    const h = rig();
    h.enable();
    h.createIoQueues(1, 4, 0);
    const phases: number[] = [];
    for (let i = 0; i < 6; i++) {
      h.submit(1, IoOpcode.Flush, i);
      const c = h.completions(1);
      h.ack(1);
      phases.push(...c.map((x) => x.phase));
    }
    expect(phases).toEqual([1, 1, 1, 1, 0, 0]);
  });

  it('stops at a full completion queue and continues when the host frees entries', () => {
    const h = rig();
    h.enable();
    h.createIoQueues(1, 4, 0); // 4 entries: at most 3 completions outstanding
    for (let i = 0; i < 3; i++) h.queue(1, IoOpcode.Flush, i);
    h.ring(1);
    expect(h.completions(1)).toHaveLength(3);
    h.submit(1, IoOpcode.Flush, 3);
    expect(h.dev.queues()[1].sq!.head).toBe(3); // the 4th command waits in the SQ
    expect(h.completions(1)).toHaveLength(0);
    h.ack(1);
    expect(h.completions(1)).toEqual([{ cid: 3, status: 0, sqHead: 0, sqId: 1, phase: 1 }]); // last entry before the wrap
  });

  it('reports a fatal controller status when its DMA is refused', () => {
    const h = rig();
    h.enable();
    h.bus.blocked = true;
    h.submit(0, AdminOpcode.CreateIoCq, 1, { prp1: IOCQ, cdw10: 1 | (3 << 16), cdw11: 3 });
    expect(h.regs.read(NvmeReg.CSTS, 4) & CSTS_CFS).toBe(CSTS_CFS);
    expect(h.dev.counters.dmaFailures).toBe(1);
  });
});

describe('nvme-lite MSI-X', () => {
  it('raises the completion queue vector once per doorbell batch', () => {
    const h = rig();
    h.enableMsix();
    h.enable();
    h.createIoQueues(1, 16, 3);
    expect(h.sent).toEqual([0x100, 0x100]); // admin queue: vector 0, one per command
    h.sent.length = 0;
    for (let i = 0; i < 5; i++) h.queue(1, IoOpcode.Flush, i);
    h.ring(1);
    expect(h.sent).toEqual([0x103]);
    h.completions(1);
    h.ack(1);
    h.submit(1, IoOpcode.Flush, 9);
    expect(h.sent).toEqual([0x103, 0x103]);
  });

  it('coalesces: one interrupt per interruptCoalescing completions', () => {
    const h = rig({ interruptCoalescing: 4 });
    h.enableMsix();
    h.enable();
    h.createIoQueues(1, 16, 1);
    h.sent.length = 0;
    for (let i = 0; i < 3; i++) h.submit(1, IoOpcode.Flush, i);
    expect(h.sent).toEqual([]);
    h.submit(1, IoOpcode.Flush, 3);
    expect(h.sent).toEqual([0x101]);
    for (let i = 4; i < 12; i++) h.submit(1, IoOpcode.Flush, i);
    expect(h.sent).toEqual([0x101, 0x101, 0x101]);
    expect(h.dev.counters.interrupts).toBe(2 + 3);
  });

  it('leaves a masked vector pending in the PBA and sends it once when unmasked', () => {
    const h = rig();
    h.enableMsix(true);
    h.enable();
    h.createIoQueues(1, 8, 2);
    h.submit(1, IoOpcode.Flush, 1);
    h.submit(1, IoOpcode.Flush, 2);
    expect(h.sent).toEqual([]);
    const pba = h.dev.spec.msix!.pbaOffset;
    expect(h.regs.read(pba, 4)).toBe(0b101); // vector 0 (admin) and vector 2 pending
    h.regs.write(h.dev.spec.msix!.tableOffset + 2 * 16 + 12, 4, 0);
    expect(h.sent).toEqual([0x102]);
    expect(h.regs.read(pba, 4)).toBe(0b001);
  });

  it('does not interrupt for a completion queue created without IEN', () => {
    const h = rig();
    h.enableMsix();
    h.enable();
    h.createIoQueues(1, 8, 1, false);
    h.sent.length = 0;
    h.submit(1, IoOpcode.Flush, 1);
    expect(h.completions(1)).toHaveLength(1);
    expect(h.sent).toEqual([]);
  });

  it('is a PciDevice that only knows BAR offsets', () => {
    const dev = new NvmeLiteDevice();
    expect(dev).toBeInstanceOf(PciDevice);
    expect(dev.name).toBe('nvme0');
  });
});
