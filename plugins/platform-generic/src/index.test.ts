import { type InterruptEvent, type IsolationEvent, Machine, type VhwPlugin, guestRam } from '@vhw/core';
import { PciHostToken } from '@vhw/pci';
import { describe, expect, it } from 'vitest';
import { expectVhwError, programMsix, type ToyDevice, toyIgbvf, toyNvme16k } from '@vhw/test-support';
import { genericPlatform } from './index.js';

type Options = Parameters<typeof genericPlatform>[0];

const nvme = (name: string) => toyNvme16k(name, 4);
const igbvf = toyIgbvf;

function build(options: Options, ...devices: VhwPlugin[]) {
  const machine = Machine.create({ plugins: [genericPlatform(options), guestRam({}), ...devices] });
  const bridge = machine.get(PciHostToken);
  const isolation: IsolationEvent[] = [];
  machine.events.on('isolation', (e) => isolation.push(e));
  const fn = (name: string) => bridge.findFunction(name);
  const toy = (name: string) => fn(name).device as ToyDevice;
  return { machine, bridge, isolation, fn, toy };
}

describe('generic platform', () => {
  it('uses 4 KiB pages by default and states no EEH or interrupt isolation', () => {
    const { machine, bridge } = build({}, nvme('a'));
    expect(machine.platform.pageSize).toBe(4096);
    expect(bridge.pageSize).toBe(4096);
    expect([bridge.platform.allMmioBarsPageAligned, bridge.eeh, bridge.platform.interruptIsolation]).toEqual([false, false, false]);
    expect(machine.platform).toMatchObject({ guestMsiSetup: 'msix-table', vfioNoMsixEmulation: false, eeh: false });
  });

  it('states the facts its options give', () => {
    const { bridge } = build({ alignBars: true, interruptRemapping: true, pageSize: 65536 }, nvme('a'));
    expect([bridge.platform.allMmioBarsPageAligned, bridge.eeh, bridge.platform.interruptIsolation, bridge.pageSize]).toEqual([
      true,
      false,
      true,
      65536,
    ]);
  });

  it('packs every device into one flat window, one group per device, no segments', () => {
    const { bridge, fn } = build({}, nvme('a'), igbvf('b'), nvme('c'));
    expect(bridge.groups).toHaveLength(3);
    expect(fn('a').bar(0)!.address).toBe(0x8000_0000);
    const addrs = bridge.functions.flatMap((f) => f.bars.map((b) => b.address - 0x8000_0000)).sort((x, y) => x - y);
    expect(addrs).toEqual([0, 0x4000, 0x8000, 0xc000]);
    expect(bridge.windowUsage).toEqual({ window: 'host0 MMIO', size: 0x4000_0000, used: 0x10000 });
    expect(bridge.ownersOf(0x8000_0000, 0x10000).map((o) => o.kind)).toEqual(['bar', 'bar', 'bar', 'bar']);
  });

  it('page-aligns BARs with alignBars (like pci=resource_alignment)', () => {
    const { bridge } = build({ alignBars: true, pageSize: 65536 }, igbvf('b'));
    expect(bridge.findFunction('b').bars.map((x) => x.address - 0x8000_0000)).toEqual([0, 0x10000]);
  });

  it('refuses a window that is too small', () => {
    expectVhwError(() => build({ mmioSize: 0x4000 }, nvme('a'), nvme('b')), 'E_ALLOCATION', 'b:BAR0');
  });

  it('answers an unassigned access with all-ones and freezes nothing (no EEH)', () => {
    const { bridge, fn, isolation } = build({}, nvme('a'));
    const a = fn('a').bar(0)!.address;
    bridge.write(a + 0x10, 4, 0x42);
    expect(bridge.read(a + 0x8000, 4)).toBe(0xffffffff);
    bridge.write(a + 0x8000, 4, 1);
    expect(bridge.hostSpace.unassignedCounts[0]).toBe(2);
    expect(isolation).toEqual([]);
    expect(bridge.groups.every((g) => !g.frozen && g.freezes === 0)).toBe(true);
    expect(bridge.read(a + 0x10, 4)).toBe(0x42);
    expect(bridge.configRead(fn('a'), 0, 2)).toBe(0x1af4);
  });

  it('without interrupt remapping DELIVERS a cross-device MSI to the other device and counts it', () => {
    const { bridge, fn, toy, isolation } = build({}, nvme('a'), nvme('b'));
    const [mb] = bridge.allocateMsi(fn('b'), 1);
    const got: number[] = [];
    bridge.setIrqHandler(mb!.irq, (i) => got.push(i));
    programMsix(bridge, fn('a'), 0, mb!.data);
    toy('a').fire(0);
    expect(got).toEqual([mb!.irq]);
    expect(bridge.counters.msiCrossGroupDelivered).toBe(1);
    expect(bridge.counters.msiDelivered).toBe(1);
    expect(bridge.counters.msiBlocked).toBe(0);
    expect(isolation).toEqual([]);
  });

  it('with interrupt remapping blocks it and counts it, freezing nothing; own MSIs still arrive', () => {
    const { machine, bridge, fn, toy, isolation } = build({ interruptRemapping: true }, nvme('a'), nvme('b'));
    const [ma] = bridge.allocateMsi(fn('a'), 1);
    const [mb] = bridge.allocateMsi(fn('b'), 1);
    const got: number[] = [];
    bridge.setIrqHandler(ma!.irq, (i) => got.push(i));
    bridge.setIrqHandler(mb!.irq, (i) => got.push(i));
    const interrupts: InterruptEvent[] = [];
    machine.events.on('interrupt', (e) => interrupts.push(e));
    programMsix(bridge, fn('a'), 0, mb!.data);
    programMsix(bridge, fn('a'), 1, ma!.data);
    toy('a').fire(0);
    expect(got).toEqual([]);
    expect(bridge.counters.msiBlocked).toBe(1);
    expect(bridge.counters.msiCrossGroupDelivered).toBe(0);
    expect(interrupts).toMatchObject([{ source: 'a', vector: mb!.data, delivered: false, reason: 'msi-validation' }]);
    expect(isolation).toEqual([]);
    expect(bridge.groups.every((g) => !g.frozen)).toBe(true);
    toy('a').fire(1);
    expect(got).toEqual([ma!.irq]);
    // Device a is still reachable after the blocked MSI.
    bridge.write(fn('a').bar(0)!.address, 4, 3);
    expect(bridge.read(fn('a').bar(0)!.address, 4)).toBe(3);
  });

  it('blocks an MSI for an IRQ nobody owns under remapping', () => {
    const { bridge, fn, toy } = build({ interruptRemapping: true }, nvme('a'));
    programMsix(bridge, fn('a'), 0, 0x7fff);
    toy('a').fire(0);
    expect(bridge.counters.msiBlocked).toBe(1);
    expect(bridge.counters.msiSpurious).toBe(0);
  });

  it('refuses bad options naming the plugin and the field', () => {
    for (const [o, field] of [
      [{ pageSize: 12345 }, '"pageSize"'],
      [{ eeh: true }, '"eeh"'],
      [{ mmioSize: 0 }, '"mmioSize"'],
    ] as const) {
      const err = expectVhwError(() => genericPlatform(o as Options), 'E_CONFIG', 'platform-generic');
      expect(err.message).toContain(field);
    }
  });
});
