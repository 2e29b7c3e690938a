import {
  ContainerModule,
  type GuestMemory,
  GuestMemoryToken,
  type InterruptEvent,
  type IsolationEvent,
  Machine,
  VhwError,
  type VhwPlugin,
  definePlugin,
  guestRam,
  z,
} from '@vhw/core';
import { type BarDecl, Cfg, Command, MSIX_CAP_OFFSET, type MsixDecl, PciDeviceToken, type PciFunction, PciHostToken } from '@vhw/pci';
import { describe, expect, it } from 'vitest';
import { ToyDevice, toyDevice } from '../../../test/support/toy-device.js';
import { type Ppc64Phb, ppc64Platform } from './index.js';

type PlatformOptions = Parameters<typeof ppc64Platform>[0];

const KiB = 1024;
const PAGE = 64 * KiB;
const M32 = 0x8000_0000;

/** NVMe-16K: one 16 KiB 64-bit BAR with the table at 0x2000 and the PBA at 0x3000. */
const nvme = (name: string) =>
  toyDevice({
    name,
    bars: [{ index: 0, size: 0x4000, kind: 'mem64' }],
    msix: { vectors: 32, tableBar: 0, tableOffset: 0x2000, pbaBar: 0, pbaOffset: 0x3000 },
  });
/** igbvf-like: BAR0 16 KiB registers, BAR3 16 KiB holding the table at 0 and the PBA at 0x2000. */
const igbvf = (name: string) =>
  toyDevice({
    name,
    bars: [
      { index: 0, size: 0x4000 },
      { index: 3, size: 0x4000 },
    ],
    msix: { vectors: 3, tableBar: 3, tableOffset: 0, pbaBar: 3, pbaOffset: 0x2000 },
  });
const big = (name: string, size: number) => toyDevice({ name, bars: [{ index: 0, size, kind: 'mem64' }] });

/** A toy device that can issue DMA (through its PE's TCE table). */
class DmaToy extends ToyDevice {
  dmaWrite32(iova: number, v: number): boolean {
    return this.dma.dmaWrite32(iova, v);
  }
}
const dmaToy = definePlugin({
  name: 'dma-toy',
  kind: 'device',
  description: 'test device with DMA',
  schema: z.strictObject({ name: z.string() }),
  instance: (o) => o.name,
  module: (o) =>
    new ContainerModule(({ bind }) => {
      const bars: BarDecl[] = [{ index: 0, size: 0x4000 }];
      const msix: MsixDecl = { vectors: 2, tableBar: 0, tableOffset: 0x2000, pbaBar: 0, pbaOffset: 0x3000 };
      bind(PciDeviceToken).toConstantValue(new DmaToy(o.name, bars, msix));
    }),
});

function build(options: PlatformOptions, ...devices: VhwPlugin[]) {
  const machine = Machine.create({ plugins: [ppc64Platform(options), guestRam({}), ...devices] });
  const phb = machine.get<Ppc64Phb>(PciHostToken);
  const isolation: IsolationEvent[] = [];
  machine.events.on('isolation', (e) => isolation.push(e));
  const fn = (name: string) => phb.findFunction(name);
  const toy = (name: string) => fn(name).device as ToyDevice;
  return { machine, phb, isolation, fn, toy };
}

function thrown(f: () => unknown): VhwError {
  try {
    f();
  } catch (e) {
    if (VhwError.is(e)) return e;
    throw e;
  }
  throw new Error('expected a VhwError');
}

const page = (addr: number) => Math.floor(addr / PAGE);

/** Programs MSI-X entry `v` of `fn` (host kernel side) with the message `data` and enables MSI-X. */
function programMsix(phb: Ppc64Phb, fn: PciFunction, v: number, data: number): void {
  const m = fn.device.spec.msix!;
  const entry = fn.bar(m.tableBar)!.address + m.tableOffset + v * 16;
  phb.write(entry, 4, phb.msiAddress % 2 ** 32);
  phb.write(entry + 4, 4, Math.floor(phb.msiAddress / 2 ** 32));
  phb.write(entry + 8, 4, data);
  phb.write(entry + 12, 4, 0);
  phb.configWrite(fn, MSIX_CAP_OFFSET + 2, 2, 0x8000);
}

describe('ppc64 platform defaults and facts', () => {
  it('uses 64 KiB pages, 256 PEs (the last reserved) and an M32 split into equal segments', () => {
    const { machine, phb } = build({}, nvme('a'));
    expect(machine.platform.pageSize).toBe(PAGE);
    expect(phb.pageSize).toBe(PAGE);
    expect(phb.segments).toHaveLength(256);
    expect(phb.segmentSize).toBe(0x8000_0000 / 256);
    expect(phb.segments[3].base).toBe(M32 + 3 * phb.segmentSize);
    expect(phb.reservedPe).toBe(255);
    expect(machine.platform).toMatchObject({ guestMsiSetup: 'rtas', vfioNoMsixEmulation: true, eeh: true });
  });

  it('sizes segments as m32Size / peCount', () => {
    const { phb } = build({ peCount: 8, m32Size: 0x80_0000, m32Base: 0xc000_0000 }, nvme('a'));
    expect(phb.segmentSize).toBe(0x10_0000);
    expect(phb.segments.map((s) => s.base)).toEqual(Array.from({ length: 8 }, (_, i) => 0xc000_0000 + i * 0x10_0000));
    expect(phb.segmentAt(0xc000_0000 + 0x18_0000)!.index).toBe(1);
    expect(phb.segmentAt(0xc080_0000)).toBeUndefined();
    expect(phb.segmentAt(0xbfff_ffff)).toBeUndefined();
  });

  it('states its facts from the options', () => {
    const off = build({}, nvme('a')).phb;
    expect([off.platform.allMmioBarsPageAligned, off.eeh, off.platform.interruptIsolation]).toEqual([false, true, true]);
    const on = build({ alignBars: true }, nvme('a')).phb;
    expect(on.platform.allMmioBarsPageAligned).toBe(true);
    const noEeh = build({ eeh: false }, nvme('a')).phb;
    expect([noEeh.eeh, noEeh.platform.interruptIsolation]).toEqual([false, false]);
  });

  it('honours a smaller page size', () => {
    const { machine, phb } = build({ pageSize: 4096, alignBars: true }, igbvf('a'));
    expect(machine.platform.pageSize).toBe(4096);
    expect(phb.findFunction('a').bars.map((b) => b.address - M32)).toEqual([0, 0x4000]);
  });
});

describe('ppc64 BAR placement in PE segments', () => {
  it("places each device's BARs in its own PE's segment(s)", () => {
    const { phb } = build({ peCount: 16, m32Size: 16 * PAGE }, nvme('a'), igbvf('b'), big('c', 4 * PAGE), nvme('d'));
    expect(phb.groups.map((g) => g.id)).toEqual(['phb0:pe0', 'phb0:pe1', 'phb0:pe2', 'phb0:pe3']);
    for (const f of phb.functions) {
      expect(f.group.functions).toEqual([f]);
      for (const b of f.bars) {
        expect(phb.segmentAt(b.address)!.pe).toBe(f.group);
        expect(phb.segmentAt(b.address + b.size - 1)!.pe).toBe(f.group);
        for (const o of phb.ownersOf(b.address, b.size)) expect(o.group).toBe(f.group.id);
      }
    }
    // The 256 KiB BAR takes four 64 KiB segments, all owned by its PE.
    const c = phb.findFunction('c');
    const segs = phb.segmentsIn(c.bar(0)!.address, 4 * PAGE);
    expect(segs).toHaveLength(4);
    for (const s of segs) expect(s).toMatchObject({ kind: 'segment', group: c.group.id, size: PAGE });
    expect(c.bar(0)!.address % (4 * PAGE)).toBe(0);
  });

  it('lists the segment among the owners of an address', () => {
    const { phb, fn } = build({}, nvme('a'));
    const a = fn('a').bar(0)!;
    expect(phb.ownersOf(a.address, PAGE)).toEqual([
      { kind: 'bar', owner: 'a', group: 'phb0:pe0', bar: 0, base: a.address, size: 0x4000 },
      { kind: 'segment', owner: 'phb0:pe0', group: 'phb0:pe0', base: M32, size: phb.segmentSize },
    ]);
    const unowned = phb.segments[10].base;
    expect(phb.ownersOf(unowned, 4)).toEqual([
      { kind: 'segment', owner: 'unowned', group: undefined, base: unowned, size: phb.segmentSize },
    ]);
  });

  it("without alignBars packs a device's 16 KiB BAR0 and BAR3 into one 64 KiB page", () => {
    const { phb } = build({ peCount: 8, m32Size: 8 * PAGE }, igbvf('a'));
    const [b0, b3] = phb.findFunction('a').bars;
    expect(page(b0.address)).toBe(page(b3.address));
    expect(phb.windowUsage.used).toBe(0x8000);
    expect(phb.segmentsUsed).toBe(1);
  });

  it('with alignBars starts every BAR on a page of its own and uses more of M32', () => {
    const { phb } = build({ peCount: 8, m32Size: 8 * PAGE, alignBars: true }, igbvf('a'));
    const bars = phb.findFunction('a').bars;
    for (const b of bars) expect(b.address % PAGE).toBe(0);
    expect(new Set(bars.map((b) => page(b.address))).size).toBe(2);
    expect(phb.windowUsage.used).toBe(PAGE + 0x4000);
    expect(phb.segmentsUsed).toBe(2);
    for (const b of bars) expect(phb.ownersOf(page(b.address) * PAGE, PAGE).filter((o) => o.kind === 'bar')).toHaveLength(1);
  });

  it("with peGranularity 'bus' puts every device in one PE, where two devices' sub-page BARs share a page without patch 1", () => {
    const { phb, fn } = build({ peGranularity: 'bus' }, nvme('a'), nvme('b'));
    expect(phb.groups.map((g) => g.id)).toEqual(['phb0:pe0']);
    expect(fn('a').group).toBe(fn('b').group);
    expect(page(fn('a').bar(0)!.address)).toBe(page(fn('b').bar(0)!.address));
    const owners = phb.ownersOf(page(fn('a').bar(0)!.address) * PAGE, PAGE).filter((o) => o.kind === 'bar');
    expect(owners.map((o) => o.owner)).toEqual(['a', 'b']);

    const aligned = build({ peGranularity: 'bus', alignBars: true }, nvme('a'), nvme('b'));
    expect(page(aligned.fn('a').bar(0)!.address)).not.toBe(page(aligned.fn('b').bar(0)!.address));
  });

  it('refuses more devices than usable PEs (peCount - 1) with E_ALLOCATION', () => {
    expect(() => build({ peCount: 4 }, nvme('d0'), nvme('d1'), nvme('d2'))).not.toThrow();
    const e = thrown(() => build({ peCount: 4 }, nvme('d0'), nvme('d1'), nvme('d2'), nvme('d3')));
    expect(e.code).toBe('E_ALLOCATION');
    expect(e.message).toContain('no PE left for "d3"');
    expect(e.message).toContain('PE#3 is reserved');
    // One PE for all: no limit from the PE count.
    expect(() => build({ peCount: 4, peGranularity: 'bus' }, nvme('d0'), nvme('d1'), nvme('d2'), nvme('d3'))).not.toThrow();
  });

  it('reports a too-small M32 as E_ALLOCATION naming the PE and the BARs that did not fit', () => {
    const e = thrown(() => build({ peCount: 4, m32Size: 4 * PAGE }, big('huge', 4 * PAGE)));
    expect(e.code).toBe('E_ALLOCATION');
    expect(e.message).toContain('3 usable segments of 0x10000');
    expect(e.message).toContain('phb0:pe0 (huge:BAR0 0x40000)');
  });

  it('shows patch 1 exhausting a small M32 that fits without it', () => {
    const opts = { peCount: 4, m32Size: 4 * PAGE };
    const packed = build(opts, igbvf('a'), igbvf('b'));
    expect(packed.phb.segmentsUsed).toBe(2);
    const e = thrown(() => build({ ...opts, alignBars: true }, igbvf('a'), igbvf('b')));
    expect(e.code).toBe('E_ALLOCATION');
    expect(e.message).toContain('phb0:pe1 (b:BAR0 0x4000, b:BAR3 0x4000)');
    expect(e.message).not.toContain('phb0:pe0');
  });
});

describe('ppc64 EEH', () => {
  it('freezes the PE on an access to its segment that no BAR decodes; the other PEs keep working', () => {
    const { phb, fn, toy, isolation } = build({}, nvme('a'), nvme('b'));
    const a = fn('a').bar(0)!.address;
    const b = fn('b').bar(0)!.address;
    phb.write(a + 0x10, 4, 0x11);
    phb.write(b + 0x10, 4, 0x22);
    const writesA = toy('a').writes;

    expect(phb.read(a + 0x8000, 4)).toBe(0xffffffff); // inside PE0's segment, past BAR0
    expect(isolation).toHaveLength(1);
    expect(isolation[0]).toMatchObject({ group: 'phb0:pe0', state: 'frozen' });
    expect(isolation[0].cause).toContain('decoded by no BAR');
    expect(phb.eehState('phb0:pe0')).toBe('frozen');
    expect(fn('a').group.freezes).toBe(1);

    expect(phb.read(a + 0x10, 4)).toBe(0xffffffff);
    expect(phb.read(a + 0x10, 1)).toBe(0xff);
    phb.write(a + 0x10, 4, 0x33);
    expect(toy('a').writes).toBe(writesA);
    expect(phb.counters.frozenMmioReads).toBe(2);
    expect(phb.counters.frozenMmioWrites).toBe(1);
    expect(phb.configRead(fn('a'), Cfg.VendorId, 2)).toBe(0xffff);
    expect(phb.configRead(fn('a'), Cfg.Command, 4)).toBe(0xffffffff);
    phb.configWrite(fn('a'), Cfg.Command, 2, 0);
    expect(fn('a').device.memoryEnabled).toBe(true);

    expect(phb.eehState('phb0:pe1')).toBe('normal');
    expect(phb.read(b + 0x10, 4)).toBe(0x22);
    expect(phb.configRead(fn('b'), Cfg.VendorId, 2)).toBe(0x1af4);
    // A second bad access changes nothing and emits nothing.
    phb.write(a + 0x8000, 4, 0);
    expect(isolation).toHaveLength(1);
  });

  it('freezes nothing for an access to a segment no PE owns, or with EEH off', () => {
    const { phb, isolation } = build({}, nvme('a'));
    expect(phb.read(phb.segments[100].base, 4)).toBe(0xffffffff);
    expect(phb.read(phb.segments[255].base, 4)).toBe(0xffffffff);
    expect(isolation).toEqual([]);
    const off = build({ eeh: false }, nvme('a'));
    const a = off.fn('a').bar(0)!.address;
    off.phb.write(a, 4, 5);
    expect(off.phb.read(a + 0x8000, 4)).toBe(0xffffffff);
    expect(off.isolation).toEqual([]);
    expect(off.phb.read(a, 4)).toBe(5);
    expect(thrown(() => off.phb.injectError('phb0:pe0')).code).toBe('E_STATE');
  });

  it('injectError + recover: events in order, clock held for eeh.slotResetHoldMs, BARs and command restored', () => {
    const { machine, phb, fn, toy, isolation } = build({}, nvme('a'), nvme('b'));
    const a = fn('a');
    const addr = a.bar(0)!.address;
    phb.write(addr + 0x20, 4, 0x99);
    machine.clock.now = 1000;
    phb.injectError('phb0:pe0');
    expect(isolation).toEqual([{ group: 'phb0:pe0', state: 'frozen', cause: 'error injection', timeNs: 1000 }]);
    expect(phb.read(addr + 0x20, 4)).toBe(0xffffffff);

    phb.recover('phb0:pe0');
    expect(isolation.slice(1).map((e) => e.state)).toEqual(['recovering', 'reset', 'normal', 'configured']);
    expect(isolation.slice(1).map((e) => e.timeNs)).toEqual([1000, 1000 + 1.25e8, 1000 + 1.25e8, 1000 + 1.25e8]);
    expect(isolation.every((e) => e.group === 'phb0:pe0')).toBe(true);
    expect(machine.clock.now).toBe(1000 + 1.25e8);
    expect(phb.eehState('phb0:pe0')).toBe('normal');

    // Reset happened: registers cleared, MSI-X off; BARs and command programmed again.
    expect(toy('a').regs.size).toBe(0);
    expect(a.device.msix!.enabled).toBe(false);
    expect(a.device.barAddress(0)).toBe(addr);
    expect(phb.configRead(a, Cfg.Bar0, 4)).toBe((addr | 0x4) >>> 0);
    expect(phb.configRead(a, Cfg.Command, 2) & (Command.Memory | Command.BusMaster)).toBe(Command.Memory | Command.BusMaster);
    phb.write(addr + 0x20, 4, 0x77);
    expect(phb.read(addr + 0x20, 4)).toBe(0x77);
    // The other PE was never touched.
    expect(isolation.some((e) => e.group === 'phb0:pe1')).toBe(false);
  });

  it('takes the slot-reset hold from the cost model (override)', () => {
    const machine = Machine.create({ plugins: [ppc64Platform({}), nvme('a')], costs: { 'eeh.slotResetHoldMs': 10 } });
    const phb = machine.get<Ppc64Phb>(PciHostToken);
    const t0 = machine.clock.now;
    phb.injectError('phb0:pe0');
    phb.recover('phb0:pe0');
    expect(machine.clock.now - t0).toBe(1e7);
    expect(machine.costs.ns('eeh.slotResetHoldMs')).toBe(1e7);
  });

  it('freezes MMIO only or DMA only on request', () => {
    const { phb, fn } = build({}, nvme('a'));
    const addr = fn('a').bar(0)!.address;
    phb.write(addr, 4, 1);
    phb.injectError('phb0:pe0', 'dma');
    expect(phb.eehState('phb0:pe0')).toBe('dma-frozen');
    expect(phb.read(addr, 4)).toBe(1);
    phb.recover('phb0:pe0');
    phb.write(addr, 4, 2);
    phb.injectError('phb0:pe0', 'mmio');
    expect(phb.eehState(fn('a').group)).toBe('mmio-frozen');
    expect(phb.read(addr, 4)).toBe(0xffffffff);
  });

  it('names the PEs when asked for an unknown one', () => {
    const { phb } = build({}, nvme('a'), nvme('b'));
    const e = thrown(() => phb.injectError('phb0:pe9'));
    expect(e.code).toBe('E_NOT_FOUND');
    expect(e.message).toContain('PEs: phb0:pe0, phb0:pe1');
  });

  it('restores devices on machine reset', () => {
    const { machine, phb, fn } = build({}, nvme('a'));
    phb.configWrite(fn('a'), Cfg.Command, 2, 0);
    machine.reset();
    expect(fn('a').device.memoryEnabled).toBe(true);
  });
});

describe('ppc64 MSI validation', () => {
  it("blocks an MSI carrying another PE's IRQ, freezes the source PE and never runs the other handler", () => {
    const { machine, phb, fn, toy, isolation } = build({}, nvme('a'), nvme('b'));
    const [own] = phb.allocateMsi(fn('a'), 1);
    const [other] = phb.allocateMsi(fn('b'), 1);
    const got: number[] = [];
    phb.setIrqHandler(own.irq, (i) => got.push(i));
    phb.setIrqHandler(other.irq, (i) => got.push(i));
    const interrupts: InterruptEvent[] = [];
    machine.events.on('interrupt', (e) => interrupts.push(e));

    programMsix(phb, fn('a'), 0, own.data);
    programMsix(phb, fn('a'), 1, other.data);
    toy('a').fire(0);
    expect(got).toEqual([own.irq]);
    toy('a').fire(1);
    expect(got).toEqual([own.irq]);
    expect(phb.counters.msiBlocked).toBe(1);
    expect(phb.counters.msiCrossGroupDelivered).toBe(0);
    expect(phb.eehState('phb0:pe0')).toBe('frozen');
    expect(phb.eehState('phb0:pe1')).toBe('normal');
    expect(isolation).toHaveLength(1);
    expect(isolation[0].group).toBe('phb0:pe0');
    expect(isolation[0].cause).toContain('failed validation');
    expect(interrupts).toMatchObject([{ source: 'a', vector: other.data, delivered: false, reason: 'msi-validation' }]);
  });

  it('blocks an MSI for an IRQ no PE owns and freezes the source', () => {
    const { phb, fn, toy } = build({}, nvme('a'));
    programMsix(phb, fn('a'), 0, 0x7fff);
    toy('a').fire(0);
    expect(phb.counters.msiBlocked).toBe(1);
    expect(phb.eehState('phb0:pe0')).toBe('frozen');
  });

  it("lets devices of one PE reach each other's IRQs (peGranularity 'bus')", () => {
    const { phb, fn, toy } = build({ peGranularity: 'bus' }, nvme('a'), nvme('b'));
    const [mb] = phb.allocateMsi(fn('b'), 1);
    const got: number[] = [];
    phb.setIrqHandler(mb.irq, (i) => got.push(i));
    programMsix(phb, fn('a'), 0, mb.data);
    toy('a').fire(0);
    expect(got).toEqual([mb.irq]);
    expect(phb.eehState('phb0:pe0')).toBe('normal');
  });

  it("blocks a frozen PE's own MSIs when freezeBlocksMsi (default), and delivers them when not", () => {
    for (const freezeBlocksMsi of [true, false]) {
      const { machine, phb, fn, toy } = build({ freezeBlocksMsi }, nvme('a'));
      const [m] = phb.allocateMsi(fn('a'), 1);
      const got: number[] = [];
      phb.setIrqHandler(m.irq, (i) => got.push(i));
      const interrupts: InterruptEvent[] = [];
      machine.events.on('interrupt', (e) => interrupts.push(e));
      programMsix(phb, fn('a'), 0, m.data);
      phb.injectError('phb0:pe0');
      toy('a').fire(0);
      if (freezeBlocksMsi) {
        expect(got).toEqual([]);
        expect(phb.counters.msiBlocked).toBe(1);
        expect(interrupts).toMatchObject([{ source: 'a', delivered: false, reason: 'pe-frozen' }]);
      } else {
        expect(got).toEqual([m.irq]);
        expect(phb.counters.msiBlocked).toBe(0);
      }
    }
  });

  it('does not validate MSIs with EEH off', () => {
    const { phb, fn, toy } = build({ eeh: false }, nvme('a'), nvme('b'));
    const [mb] = phb.allocateMsi(fn('b'), 1);
    const got: number[] = [];
    phb.setIrqHandler(mb.irq, (i) => got.push(i));
    programMsix(phb, fn('a'), 0, mb.data);
    toy('a').fire(0);
    expect(got).toEqual([mb.irq]);
    expect(phb.counters.msiCrossGroupDelivered).toBe(1);
  });
});

describe('ppc64 DMA through the TCE table', () => {
  it('freezes the PE on DMA outside its TCE window; DMA inside works before, is blocked after', () => {
    const { machine, phb, fn, isolation } = build({}, dmaToy({ name: 'a' }), dmaToy({ name: 'b' }));
    const a = fn('a');
    const dev = a.device as DmaToy;
    a.group.iommu.map(0x8000_0000, 0x10000, 0x20_0000);
    fn('b').group.iommu.map(0x8000_0000, 0x10000, 0x30_0000);
    const mem = machine.get<GuestMemory>(GuestMemoryToken);
    expect(dev.dmaWrite32(0x8000_0010, 0x1234)).toBe(true);
    expect(mem.read32(0x20_0010)).toBe(0x1234);

    expect(dev.dmaWrite32(0x8001_0000, 1)).toBe(false);
    expect(phb.counters.dmaFaults).toBe(1);
    expect(phb.eehState('phb0:pe0')).toBe('frozen');
    expect(isolation).toHaveLength(1);
    expect(isolation[0].cause).toContain('TCE');
    expect(dev.dmaWrite32(0x8000_0010, 0x5678)).toBe(false);
    expect(phb.counters.dmaBlocked).toBe(1);
    expect(mem.read32(0x20_0010)).toBe(0x1234);

    expect((fn('b').device as DmaToy).dmaWrite32(0x8000_0000, 9)).toBe(true);
    expect(mem.read32(0x30_0000)).toBe(9);
    expect(phb.eehState('phb0:pe1')).toBe('normal');
  });
});

describe('ppc64 options', () => {
  const configError = (o: unknown) => {
    const e = thrown(() => ppc64Platform(o as PlatformOptions));
    expect(e.code).toBe('E_CONFIG');
    expect(e.message).toContain('platform-ppc64');
    return e.message;
  };

  it('refuses a page size that is not a power of two >= 4096', () => {
    const m = configError({ pageSize: 12345 });
    expect(m).toContain('"pageSize"');
    expect(m).toContain('12345');
  });

  it('refuses unknown keys, listing the allowed ones', () => {
    const m = configError({ pageAlignedBar: true });
    expect(m).toContain('"pageAlignedBar"');
    expect(m).toContain('alignBars');
  });

  it('refuses peCount 1 and an unknown PE granularity', () => {
    expect(configError({ peCount: 1 })).toContain('"peCount"');
    expect(configError({ peGranularity: 'slot' })).toContain('"peGranularity"');
  });

  it('refuses an M32 whose segments would be smaller than a page', () => {
    const e = thrown(() => build({ peCount: 4, m32Size: 0x10000 }, nvme('a')));
    expect(e.code).toBe('E_CONFIG');
    expect(e.message).toContain('segments of 16384 bytes');
  });
});

describe('ppc64 segments are whole pages (no page may straddle two PEs)', () => {
  it('refuses an M32 base off a page boundary', () => {
    expect(() =>
      Machine.create({ plugins: [ppc64Platform({ m32Base: 0x8000_8000 }), toyDevice({ name: 'a', bars: [{ index: 0, size: 0x4000 }] })] }),
    ).toThrow(/platform-ppc64: option "m32Base" is 2147516416: allowed: a multiple of the page size \(65536\)/);
  });

  it('refuses segments that are not a whole number of pages', () => {
    expect(() =>
      Machine.create({
        plugins: [
          ppc64Platform({ peCount: 4, m32Size: 0x60000 - 0x4000 * 4 }),
          toyDevice({ name: 'a', bars: [{ index: 0, size: 0x4000 }] }),
        ],
      }),
    ).toThrow(/allowed: a whole number of 65536-byte pages per segment/);
  });

  it('a reservation for a device never extends into another PE segment', () => {
    const m = Machine.create({
      plugins: [
        ppc64Platform({ peCount: 4, m32Size: 0x40000 }),
        toyDevice({ name: 'a', bars: [{ index: 0, size: 0x4000 }] }),
        toyDevice({ name: 'b', bars: [{ index: 0, size: 0x4000 }] }),
      ],
    });
    const phb = m.get<Ppc64Phb>(PciHostToken);
    const a = phb.findFunction('a').bar(0)!.address;
    const b = phb.findFunction('b').bar(0)!.address;
    expect(phb.claim('x', 'a', b + 0x4000, 0x1000)).toBe(false);
    expect(phb.claim('x', 'a', a + 0x4000, 0x1000)).toBe(true);
  });
});
