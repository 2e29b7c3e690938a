import { GuestMemoryToken, type InterruptEvent, Machine } from '@vhw/core';
import { Cfg, Command, PciHostToken } from '@vhw/pci';
import { describe, expect, it } from 'vitest';
import { expectVhwError } from '@vhw/test-support';
import { type DmaToy, aimMsi, build, dmaToy, nvme, programMsix } from '../test/phb-fixtures.js';
import { type Ppc64Phb, ppc64Platform } from './index.js';

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
    expect(isolation[0]!.cause).toContain('decoded by no BAR');
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
    expect(phb.read(phb.segments[100]!.base, 4)).toBe(0xffffffff);
    expect(phb.read(phb.segments[255]!.base, 4)).toBe(0xffffffff);
    expect(isolation).toEqual([]);
    const off = build({ eeh: false }, nvme('a'));
    const a = off.fn('a').bar(0)!.address;
    off.phb.write(a, 4, 5);
    expect(off.phb.read(a + 0x8000, 4)).toBe(0xffffffff);
    expect(off.isolation).toEqual([]);
    expect(off.phb.read(a, 4)).toBe(5);
    expectVhwError(() => off.phb.injectError('phb0:pe0'), 'E_STATE');
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

  it('holds an error that arrives while the PE is in reset and freezes the PE again when recovery unfreezes it', () => {
    const { machine, phb, fn, isolation } = build({}, nvme('a'), nvme('b'));
    const a = fn('a');
    const addr = a.bar(0)!.address;
    phb.injectError('phb0:pe0');
    const freezes = a.group.freezes;
    let once = true;
    machine.events.on('isolation', (e) => {
      if (e.state === 'reset' && once) {
        once = false;
        phb.injectError('phb0:pe0', 'mmio');
      }
    });
    phb.recover('phb0:pe0');
    expect(isolation.slice(1).map((e) => [e.state, e.cause])).toEqual([
      ['recovering', 'freeze detected'],
      ['reset', 'slot reset'],
      ['normal', 'unfrozen'],
      ['mmio-frozen', 'error injection (during recovery)'],
    ]);
    expect(a.group.freezes).toBe(freezes + 1);
    expect(phb.eehState('phb0:pe0')).toBe('mmio-frozen');
    expect(phb.read(addr, 4)).toBe(0xffffffff);
    // The next recovery, with no new error, brings it back.
    phb.recover('phb0:pe0');
    expect(phb.eehState('phb0:pe0')).toBe('normal');
    expect(isolation.at(-1)!.state).toBe('configured');
  });

  it('takes the slot-reset hold from the cost model (override)', () => {
    const machine = Machine.create({ plugins: [ppc64Platform({}), nvme('a')], costs: { 'eeh.slotResetHoldMs': 10 } });
    const phb = machine.get(PciHostToken) as Ppc64Phb;
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
    expectVhwError(() => phb.injectError('phb0:pe9'), 'E_NOT_FOUND', 'PEs: phb0:pe0, phb0:pe1');
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
    const own = phb.allocateMsi(fn('a'), 1)[0]!;
    const other = phb.allocateMsi(fn('b'), 1)[0]!;
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
    expect(isolation[0]!.group).toBe('phb0:pe0');
    expect(isolation[0]!.cause).toContain('failed validation');
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
    const { msg: mb, got } = aimMsi(phb, fn('a'), fn('b'));
    toy('a').fire(0);
    expect(got).toEqual([mb.irq]);
    expect(phb.eehState('phb0:pe0')).toBe('normal');
  });

  it("blocks a frozen PE's own MSIs when freezeBlocksMsi (default), and delivers them when not", () => {
    for (const freezeBlocksMsi of [true, false]) {
      const { machine, phb, fn, toy } = build({ freezeBlocksMsi }, nvme('a'));
      const interrupts: InterruptEvent[] = [];
      machine.events.on('interrupt', (e) => interrupts.push(e));
      const { msg: m, got } = aimMsi(phb, fn('a'), fn('a'));
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
    const { msg: mb, got } = aimMsi(phb, fn('a'), fn('b'));
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
    const mem = machine.get(GuestMemoryToken);
    expect(dev.dmaWrite32(0x8000_0010, 0x1234)).toBe(true);
    expect(mem.read32(0x20_0010)).toBe(0x1234);

    expect(dev.dmaWrite32(0x8001_0000, 1)).toBe(false);
    expect(phb.counters.dmaFaults).toBe(1);
    expect(phb.eehState('phb0:pe0')).toBe('frozen');
    expect(isolation).toHaveLength(1);
    expect(isolation[0]!.cause).toContain('TCE');
    expect(dev.dmaWrite32(0x8000_0010, 0x5678)).toBe(false);
    expect(phb.counters.dmaBlocked).toBe(1);
    expect(mem.read32(0x20_0010)).toBe(0x1234);

    expect((fn('b').device as DmaToy).dmaWrite32(0x8000_0000, 9)).toBe(true);
    expect(mem.read32(0x30_0000)).toBe(9);
    expect(phb.eehState('phb0:pe1')).toBe('normal');
  });
});
