import { PciDevice } from '@vhw/pci';
import { describe, expect, it } from 'vitest';
import { NvmeLiteDevice } from './device.js';
import { AdminOpcode, CSTS_CFS, IoOpcode, NVME_NAMESPACE_BLOCKS, NvmeReg, NvmeStatus, nvmeLbaPattern } from './regs.js';
import { IOSQ, IOCQ, DATA, rig } from '../test/device-rig.js';

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
    expect(h.dev.queues()[1]!.sq!.head).toBe(3); // the 4th command waits in the SQ
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
