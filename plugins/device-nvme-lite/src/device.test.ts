import { Cfg, MSIX_CAP_OFFSET } from '@vhw/pci';
import { expectVhwError } from '@vhw/test-support';
import { describe, expect, it } from 'vitest';
import { NvmeLiteDevice } from './device.js';
import { nvmeLite } from './plugin.js';
import { CC_ENABLE_VALUE, CSTS_CFS, CSTS_RDY, IoOpcode, NvmeReg, cqHeadDoorbell, sqTailDoorbell } from './regs.js';
import { ASQ, DATA, rig } from '../test/device-rig.js';

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
      workload: 'io',
      mmioReadPercent: 50,
      mmioAccessSize: 4,
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
      'workload',
      'mmioReadPercent',
      'mmioAccessSize',
      'sparseAreas',
    ]);
  });

  it('validates the same way when the device is built directly', () => {
    expect(() => new NvmeLiteDevice({ vectors: 100 })).toThrow(/nvme-lite: option "vectors" is 100/);
  });
});
