import { type InterruptEvent, type IsolationEvent, Machine, type VhwPlugin, guestRam } from '@vhw/core';
import { PciHostToken } from '@vhw/pci';
import { type ToyDevice, aimMsi, expectVhwError, programMsix, toyIgbvf, toyNvme16k } from '@vhw/test-support';
import { describe, expect, it } from 'vitest';
import { ITS_TRANSLATER, arm64Platform } from './index.js';

type Options = Parameters<typeof arm64Platform>[0];

const nvme = (name: string) => toyNvme16k(name, 4);

function build(options: Options, ...devices: VhwPlugin[]) {
  const machine = Machine.create({ plugins: [arm64Platform(options), guestRam({}), ...devices] });
  const bridge = machine.get(PciHostToken);
  const isolation: IsolationEvent[] = [];
  const interrupts: InterruptEvent[] = [];
  machine.events.on('isolation', (e) => isolation.push(e));
  machine.events.on('interrupt', (e) => interrupts.push(e));
  const fn = (name: string) => bridge.findFunction(name);
  const toy = (name: string) => fn(name).device as ToyDevice;
  return { machine, bridge, isolation, interrupts, fn, toy };
}

describe('arm64 platform: facts', () => {
  it('uses 64 KiB pages by default; no EEH, ITS isolation, a virt guest that programs the MSI-X table', () => {
    const { machine, bridge } = build({}, nvme('a'));
    expect(machine.platform).toMatchObject({
      name: 'arm64',
      pageSize: 65536,
      unassignedPolicy: 'ignore',
      allMmioBarsPageAligned: false,
      eeh: false,
      interruptIsolation: true,
      // As the generic host, unlike pSeries ('rtas', vfioNoMsixEmulation true): the VMM emulates the table.
      guestMsiSetup: 'msix-table',
      vfioNoMsixEmulation: false,
    });
    expect(bridge.pageSize).toBe(65536);
    expect(bridge.msiAddress).toBe(ITS_TRANSLATER);
  });

  it.each([4096, 16384, 65536])('takes the %i-byte granule', (pageSize) => {
    const { machine, bridge } = build({ pageSize }, nvme('a'));
    expect([machine.platform.pageSize, bridge.pageSize]).toEqual([pageSize, pageSize]);
  });

  it('refuses a page size arm64 has no granule for, and other bad options, naming the field', () => {
    for (const [o, field, allowed] of [
      [{ pageSize: 8192 }, '"pageSize"', /4096, 16384, 65536/],
      [{ pageSize: 131072 }, '"pageSize"', /4096, 16384, 65536/],
      [{ smmuGrouping: 'slot' }, '"smmuGrouping"', /acs/],
      [{ eeh: true }, '"eeh"', /./],
      [{ vfioNoMsixEmulation: true }, '"vfioNoMsixEmulation"', /./],
    ] as const) {
      const err = expectVhwError(() => arm64Platform(o as unknown as Options), 'E_CONFIG', 'platform-arm64');
      expect(err.message).toContain(field);
      expect(err.message).toMatch(allowed);
    }
  });

  it('states patch 1 (pci=resource_alignment) and aligns every memory BAR to the page', () => {
    const off = build({}, toyIgbvf('nic'), nvme('a'));
    const base = 0x1000_0000;
    const offsets = (b: typeof off.bridge) => b.functions.flatMap((f) => f.bars.map((x) => x.address - base)).sort((x, y) => x - y);
    // Packed the Linux way: the igbvf's two 16 KiB BARs and the NVMe BAR share one 64 KiB page.
    expect(offsets(off.bridge)).toEqual([0, 0x4000, 0x8000]);
    const on = build({ alignBars: true }, toyIgbvf('nic'), nvme('a'));
    expect(on.machine.platform.allMmioBarsPageAligned).toBe(true);
    expect(offsets(on.bridge)).toEqual([0, 0x10000, 0x20000]);
    const at16k = build({ alignBars: true, pageSize: 16384 }, toyIgbvf('nic'), nvme('a'));
    expect(offsets(at16k.bridge)).toEqual([0, 0x4000, 0x8000]);
  });
});

describe('arm64 platform: SMMU isolation groups', () => {
  it('gives each device its own group when the path has ACS (the default)', () => {
    const { bridge, fn } = build({}, nvme('a'), toyIgbvf('b'), nvme('c'));
    expect(bridge.groups.map((g) => g.id)).toEqual(['smmu0:grp0', 'smmu0:grp1', 'smmu0:grp2']);
    expect(fn('b').group.functions.map((f) => f.name)).toEqual(['b']);
    // No segments: the isolation rule looks at BARs and reservations only.
    expect(bridge.segmentsIn(0x1000_0000, 0x10_0000)).toEqual([]);
  });

  it('puts every device of the bus in one group without ACS', () => {
    const { bridge, fn } = build({ smmuGrouping: 'bus' }, nvme('a'), toyIgbvf('b'), nvme('c'));
    expect(bridge.groups.map((g) => g.id)).toEqual(['smmu0:grp0']);
    expect(fn('c').group.functions.map((f) => f.name)).toEqual(['a', 'b', 'c']);
  });
});

describe('arm64 platform: GICv3 ITS isolated MSI', () => {
  it("drops and counts a device's write of another device's vector; its own arrive; nothing freezes", () => {
    const { bridge, fn, toy, isolation, interrupts } = build({}, nvme('a'), nvme('b'));
    const own = bridge.allocateMsi(fn('a'), 1)[0]!;
    const got: number[] = [];
    bridge.setIrqHandler(own.irq, (i) => got.push(i));
    const stolen = aimMsi(bridge, fn('a'), fn('b'));
    programMsix(bridge, fn('a'), 1, own.data);
    toy('a').fire(0);
    expect(stolen.got).toEqual([]);
    expect(bridge.counters).toMatchObject({ msiBlocked: 1, msiCrossGroupDelivered: 0, msiDelivered: 0 });
    expect(interrupts).toMatchObject([{ source: 'a', vector: stolen.msg.data, delivered: false, reason: 'msi-validation' }]);
    toy('a').fire(1);
    expect(got).toEqual([own.irq]);
    expect(bridge.counters.msiDelivered).toBe(1);
    expect(isolation).toEqual([]);
    expect(bridge.groups.every((g) => !g.frozen && g.freezes === 0)).toBe(true);
  });

  it('tags devices, not groups: without ACS the devices share a group and still cannot raise each other’s vectors', () => {
    const { bridge, fn, toy } = build({ smmuGrouping: 'bus' }, nvme('a'), nvme('b'));
    const stolen = aimMsi(bridge, fn('a'), fn('b'));
    toy('a').fire(0);
    expect(stolen.got).toEqual([]);
    expect(bridge.counters.msiBlocked).toBe(1);
  });

  it('drops an MSI for a vector nobody owns', () => {
    const { bridge, fn, toy } = build({}, nvme('a'));
    programMsix(bridge, fn('a'), 0, 0x7fff);
    toy('a').fire(0);
    expect(bridge.counters).toMatchObject({ msiBlocked: 1, msiSpurious: 0 });
  });

  it('without an isolating ITS (isolatedMsi: false) delivers the foreign vector and counts the crossing', () => {
    const { machine, bridge, fn, toy } = build({ isolatedMsi: false }, nvme('a'), nvme('b'));
    expect(machine.platform.interruptIsolation).toBe(false);
    const stolen = aimMsi(bridge, fn('a'), fn('b'));
    toy('a').fire(0);
    expect(stolen.got).toEqual([stolen.msg.irq]);
    expect(bridge.counters).toMatchObject({ msiBlocked: 0, msiCrossGroupDelivered: 1 });
  });
});

describe('arm64 platform: no EEH', () => {
  it('answers an access no BAR decodes with all-ones, counts it, and freezes nothing', () => {
    const { bridge, fn, isolation } = build({}, nvme('a'));
    const a = fn('a').bar(0)!.address;
    bridge.write(a + 0x10, 4, 0x42);
    // Inside the 64 KiB page of the 16 KiB BAR, past its end: decoded by nothing.
    expect(bridge.read(a + 0x8000, 4)).toBe(0xffffffff);
    expect(bridge.read(a + 0x8000, 2)).toBe(0xffff);
    bridge.write(a + 0x8000, 4, 1);
    expect(bridge.hostSpace.unassignedCounts[0]).toBe(3);
    expect(isolation).toEqual([]);
    expect(bridge.groups.every((g) => !g.frozen && g.freezes === 0)).toBe(true);
    expect(bridge.read(a + 0x10, 4)).toBe(0x42);
    expect(bridge.configRead(fn('a'), 0, 2)).toBe(0x1af4);
  });
});
