import { GuestMemory, type InterruptEvent, MachineEvents, PLAIN_PLATFORM_FACTS, SimClock, VhwError } from '@vhw/core';
import { describe, expect, it } from 'vitest';
import { aimMsi, expectVhwError, programMsix, ToyDevice } from '@vhw/test-support';
import { Cfg, Command } from './config-space.js';
import type { BarDecl, MsixDecl } from './device.js';
import { barKey, barRequests } from './bar-placement.js';
import { HostBridge } from './host-bridge.js';

const BASE = 0x4000_0000;
const MSI_ADDR = 0xfee0_0000;

/** A toy device that can also issue DMA, as a device model would. */
class DmaToy extends ToyDevice {
  write32(iova: number, v: number): boolean {
    return this.dma.dmaWrite32(iova, v);
  }
  read32(iova: number): number {
    return this.dma.dmaRead32(iova);
  }
  readBytes(iova: number, n: number): { ok: boolean; data: number[] } {
    const out = new Uint8Array(n);
    const ok = this.dma.dmaRead(iova, out);
    return { ok, data: [...out] };
  }
  writeBytes(iova: number, data: number[]): boolean {
    return this.dma.dmaWrite(iova, Uint8Array.from(data));
  }
}

const nvmeLike = (name: string): [string, BarDecl[], MsixDecl] => [
  name,
  [{ index: 0, size: 0x4000, kind: 'mem64' }],
  { vectors: 4, tableBar: 0, tableOffset: 0x2000, pbaBar: 0, pbaOffset: 0x3000 },
];

function setup(devices: DmaToy[] = [new DmaToy(...nvmeLike('a')), new DmaToy(...nvmeLike('b'))]) {
  const events = new MachineEvents();
  const clock = new SimClock();
  const memory = new GuestMemory();
  memory.add('ram', 0, 0x10_0000);
  const bridge = new HostBridge({
    name: 'hb',
    platform: { name: 'test', pageSize: 0x10000, unassignedPolicy: 'ignore', costDefaults: {}, ...PLAIN_PLATFORM_FACTS },
    window: { name: 'hb MMIO', base: BASE, size: 0x100_0000 },
    events,
    clock,
    memory,
    msiAddress: MSI_ADDR,
  });
  bridge.realize(devices);
  return { bridge, events, memory, devices };
}

function _thrownCode(fn: () => unknown): [string | undefined, string] {
  try {
    fn();
  } catch (e) {
    return [VhwError.is(e) ? e.code : undefined, (e as Error).message];
  }
  throw new Error('expected a throw');
}

describe('HostBridge realize', () => {
  it('enumerates devices on bus 0, one group each, programs BARs and enables memory and bus mastering', () => {
    const { bridge, devices } = setup();
    expect(bridge.functions.map((f) => [f.name, f.bdf, f.group.id])).toEqual([
      ['a', '0000:00:00.0', 'hb:grp0'],
      ['b', '0000:00:01.0', 'hb:grp1'],
    ]);
    expect(bridge.groups.map((g) => g.functions.map((f) => f.name))).toEqual([['a'], ['b']]);
    const [a, b] = bridge.functions;
    expect(a!.bar(0)!.address).toBe(BASE);
    expect(b!.bar(0)!.address).toBe(BASE + 0x4000);
    expect(devices[0]!.barAddress(0)).toBe(BASE);
    expect(devices[1]!.barAddress(0)).toBe(BASE + 0x4000);
    expect(devices[0]!.config.command & (Command.Memory | Command.BusMaster)).toBe(Command.Memory | Command.BusMaster);
    expect(bridge.windowUsage).toEqual({ window: 'hb MMIO', size: 0x100_0000, used: 0x8000 });
    expect(bridge.describe()).toContain('a (hb:grp0): BAR0@0x40000000+0x4000');
    expect(barRequests(bridge.functions)).toEqual([
      { key: 'a:BAR0', size: 0x4000 },
      { key: 'b:BAR0', size: 0x4000 },
    ]);
    expect(barKey({ name: 'x' }, 3)).toBe('x:BAR3');
  });

  it('reaches device registers at the BAR addresses', () => {
    const { bridge, devices } = setup();
    bridge.write(BASE + 0x4000 + 0x10, 4, 0xcafe);
    expect(devices[1]!.regs.get('0:16')).toBe(0xcafe);
    expect(bridge.read(BASE + 0x4000 + 0x10, 4)).toBe(0xcafe);
    expect(devices[0]!.regs.size).toBe(0);
    expect(bridge.mmioHandler.read(BASE + 0x4000 + 0x10, 4)).toBe(0xcafe);
  });

  it('does not map I/O BARs into MMIO', () => {
    const dev = new DmaToy('io', [
      { index: 0, size: 32, kind: 'io' },
      { index: 1, size: 0x1000 },
    ]);
    const { bridge } = setup([dev]);
    expect(bridge.functions[0]!.bars.map((b) => b.index)).toEqual([1]);
    expect(bridge.hostSpace.entries.map((r) => r.name)).toEqual(['io:BAR1']);
  });

  it('refuses to realize twice and duplicate names; places devices beyond 32 on further buses', () => {
    const { bridge } = setup();
    expectVhwError(() => bridge.realize([]), 'E_STATE');
    expectVhwError(() => setup([new DmaToy('x', [{ index: 0, size: 16 }]), new DmaToy('x', [{ index: 0, size: 16 }])]), 'E_CONFIG', '"x"');
    const many = Array.from({ length: 33 }, (_, i) => new DmaToy(`d${i}`, [{ index: 0, size: 16 }]));
    const { bridge: b2 } = setup(many);
    expect(b2.findFunction('d31').bdf).toBe('0000:00:1f.0');
    expect(b2.findFunction('d32').bdf).toBe('0000:01:00.0');
  });

  it('names every device when a lookup fails', () => {
    const { bridge } = setup();
    const err = expectVhwError(() => bridge.findFunction('nope'), 'E_NOT_FOUND', '"nope"');
    expect(err.message).toContain('devices: a, b');
  });

  it('re-programs BARs and the command register on restoreFunction', () => {
    const { bridge, devices } = setup();
    const fn = bridge.functions[1]!;
    devices[1]!.config.write(Cfg.Bar0, 4, 0);
    devices[1]!.config.write(Cfg.Bar0 + 4, 4, 0);
    devices[1]!.config.write(Cfg.Command, 2, 0);
    bridge.restoreFunction(fn);
    expect(devices[1]!.barAddress(0)).toBe(BASE + 0x4000);
    expect(devices[1]!.memoryEnabled).toBe(true);
    expect(devices[1]!.busMasterEnabled).toBe(true);
  });
});

describe('HostBridge memory decode gating', () => {
  it('answers all-ones and drops writes while the command register has memory decode off, and counts them', () => {
    const { bridge, devices } = setup();
    const a = bridge.functions[0]!;
    bridge.write(BASE + 0x100, 4, 0x1234);
    expect(bridge.read(BASE + 0x100, 4)).toBe(0x1234);
    bridge.configWrite(a, Cfg.Command, 2, Command.BusMaster);
    expect(bridge.read(BASE + 0x100, 4)).toBe(0xffffffff);
    expect(bridge.read(BASE + 0x100, 2)).toBe(0xffff);
    bridge.write(BASE + 0x100, 4, 0x5678);
    expect(bridge.counters.decodeDisabledAccesses).toBe(3);
    expect(devices[0]!.writes).toBe(1);
    // The other device decodes as before.
    bridge.write(BASE + 0x4000, 4, 7);
    expect(bridge.read(BASE + 0x4000, 4)).toBe(7);
    expect(bridge.counters.decodeDisabledAccesses).toBe(3);
    bridge.configWrite(a, Cfg.Command, 2, Command.Memory | Command.BusMaster);
    expect(bridge.read(BASE + 0x100, 4)).toBe(0x1234);
  });

  it('gates the MSI-X table too', () => {
    const { bridge } = setup();
    const a = bridge.functions[0]!;
    bridge.write(BASE + 0x2008, 4, 0x55);
    bridge.configWrite(a, Cfg.Command, 2, 0);
    expect(bridge.read(BASE + 0x2008, 4)).toBe(0xffffffff);
    bridge.write(BASE + 0x2008, 4, 0x66);
    bridge.configWrite(a, Cfg.Command, 2, Command.Memory);
    expect(bridge.read(BASE + 0x2008, 4)).toBe(0x55);
  });
});

describe('HostBridge ownership and reservations', () => {
  it('lists the owners of a range: BARs and reservations, and no segments on the base bridge', () => {
    const { bridge } = setup();
    expect(bridge.ownersOf(BASE, 0x10000)).toEqual([
      { kind: 'bar', owner: 'a', group: 'hb:grp0', bar: 0, base: BASE, size: 0x4000 },
      { kind: 'bar', owner: 'b', group: 'hb:grp1', bar: 0, base: BASE + 0x4000, size: 0x4000 },
    ]);
    expect(bridge.claim('r', 'a', BASE + 0x8000, 0x8000)).toBe(true);
    expect(bridge.ownersOf(BASE + 0xc000, 4)).toEqual([
      { kind: 'reservation', owner: 'a', group: 'hb:grp0', base: BASE + 0x8000, size: 0x8000 },
    ]);
    expect(bridge.ownersOf(BASE + 0x10000, 0x10000)).toEqual([]);
    expect(bridge.segmentsIn(BASE, 0x10000)).toEqual([]);
  });

  it('refuses a claim that intersects any BAR or reservation, by even one byte', () => {
    const { bridge } = setup();
    expect(bridge.claim('r0', 'a', BASE + 0x7fff, 2)).toBe(false); // last byte of b:BAR0
    expect(bridge.claim('r1', 'a', BASE + 0x4000, 0xc000)).toBe(false);
    expect(bridge.claim('r2', 'a', BASE + 0x8000, 0x8000)).toBe(true);
    expect(bridge.claim('r3', 'b', BASE + 0xfffc, 0x10)).toBe(false);
    expect(bridge.claim('r4', 'b', BASE + 0x10000, 0x10)).toBe(true);
    expect(bridge.claim('r5', 'b', BASE + 0x20000, 0)).toBe(false);
    expect(bridge.reservationList.map((r) => r.name)).toEqual(['r2', 'r4']);
  });

  it('frees the range on release so it can be claimed again', () => {
    const { bridge } = setup();
    expect(bridge.claim('r', 'a', BASE + 0x8000, 0x8000)).toBe(true);
    expect(bridge.claim('again', 'b', BASE + 0x8000, 0x1000)).toBe(false);
    bridge.release('r');
    bridge.release('not-there');
    expect(bridge.reservationList).toEqual([]);
    expect(bridge.claim('again', 'b', BASE + 0x8000, 0x1000)).toBe(true);
  });

  it('states no platform guarantees on the base bridge', () => {
    const { bridge } = setup();
    expect([bridge.platform.allMmioBarsPageAligned, bridge.eeh, bridge.platform.interruptIsolation]).toEqual([false, false, false]);
  });
});

describe('HostBridge MSIs', () => {
  it('allocates distinct IRQs owned by the function, with the controller doorbell as address', () => {
    const { bridge } = setup();
    const [a, b] = bridge.functions;
    const ma = bridge.allocateMsi(a!, 2);
    const mb = bridge.allocateMsi(b!, 1);
    const irqs = [...ma, ...mb].map((m) => m.irq);
    expect(new Set(irqs).size).toBe(3);
    for (const m of [...ma, ...mb]) expect(m).toMatchObject({ addressLo: MSI_ADDR, addressHi: 0, data: m.irq });
    expect(bridge.irqOwnerOf(ma[1]!.irq)).toBe(a);
    expect(bridge.irqOwnerOf(mb[0]!.irq)).toBe(b);
    bridge.freeMsi([ma[0]!.irq]);
    expect(bridge.irqOwnerOf(ma[0]!.irq)).toBeUndefined();
  });

  it('delivers a device-raised vector to the IRQ handler', () => {
    const { bridge, devices, events } = setup();
    const a = bridge.functions[0]!;
    const { msg, got } = aimMsi(bridge, a, a);
    devices[0]!.fire(0);
    expect(got).toEqual([msg.irq]);
    expect(bridge.counters.msiDelivered).toBe(1);
    expect(bridge.counters.msiCrossGroupDelivered).toBe(0);
    bridge.setIrqHandler(msg.irq, undefined);
    const ev: InterruptEvent[] = [];
    events.on('interrupt', (e) => ev.push(e));
    devices[0]!.fire(0);
    expect(got).toHaveLength(1);
    expect(ev).toMatchObject([{ source: 'a', delivered: false, reason: 'no-handler' }]);
  });

  it('without validation delivers an MSI aimed at another group and counts it as cross-group', () => {
    const { bridge, devices } = setup();
    const [a, b] = bridge.functions;
    const { msg: mb, got } = aimMsi(bridge, a!, b!);
    devices[0]!.fire(0);
    expect(got).toEqual([mb.irq]);
    expect(bridge.counters.msiCrossGroupDelivered).toBe(1);
    expect(bridge.counters.msiDelivered).toBe(1);
  });

  it('counts an MSI for no allocated IRQ as spurious and an MSI to a wrong address as a DMA fault', () => {
    const { bridge, devices, events } = setup();
    const a = bridge.functions[0]!;
    const ev: InterruptEvent[] = [];
    events.on('interrupt', (e) => ev.push(e));
    programMsix(bridge, a, 0, 0x7777);
    devices[0]!.fire(0);
    expect(bridge.counters.msiSpurious).toBe(1);
    expect(ev).toMatchObject([{ source: 'a', vector: 0x7777, delivered: false, reason: 'no-such-irq' }]);
    programMsix(bridge, a, 1, 0x20, 0x1000);
    devices[0]!.fire(1);
    expect(bridge.counters.msiSpurious).toBe(2);
    expect(bridge.counters.dmaFaults).toBe(1);
    expect(bridge.counters.msiDelivered).toBe(0);
  });
});

describe('HostBridge DMA', () => {
  it('translates device DMA through the group IOMMU into guest memory', () => {
    const { bridge, devices, memory } = setup();
    const a = bridge.functions[0]!;
    a.group.iommu.map(0x1_0000_0000, 0x1000, 0x8000);
    expect(devices[0]!.write32(0x1_0000_0010, 0xabcd1234)).toBe(true);
    expect(memory.read32(0x8010)).toBe(0xabcd1234);
    expect(devices[0]!.read32(0x1_0000_0010)).toBe(0xabcd1234);
    expect(devices[0]!.writeBytes(0x1_0000_0020, [1, 2, 3])).toBe(true);
    expect(devices[0]!.readBytes(0x1_0000_0020, 3)).toEqual({ ok: true, data: [1, 2, 3] });
    // The other group's IOMMU is separate.
    expect(devices[1]!.write32(0x1_0000_0010, 1)).toBe(false);
    expect(bridge.counters.dmaFaults).toBe(1);
  });

  it('faults DMA outside the mapping or beyond guest RAM, and blocks it without bus mastering', () => {
    const { bridge, devices } = setup();
    const a = bridge.functions[0]!;
    a.group.iommu.map(0, 0x1000, 0x8000);
    a.group.iommu.map(0x10000, 0x1000, 0x2000_0000); // maps to no RAM
    expect(devices[0]!.read32(0x1000)).toBe(0xffffffff);
    expect(devices[0]!.write32(0x10000, 1)).toBe(false);
    expect(devices[0]!.readBytes(0x2000, 2)).toEqual({ ok: false, data: [0xff, 0xff] });
    expect(bridge.counters.dmaFaults).toBe(3);
    bridge.configWrite(a, Cfg.Command, 2, Command.Memory);
    expect(devices[0]!.write32(0, 1)).toBe(false);
    expect(bridge.counters.dmaBlocked).toBe(1);
    expect(bridge.counters.dmaFaults).toBe(3);
  });
});

describe('HostBridge config access', () => {
  it('reads and writes config space of a function', () => {
    const { bridge } = setup();
    const a = bridge.functions[0]!;
    expect(bridge.configRead(a, Cfg.VendorId, 2)).toBe(0x1af4);
    bridge.configWrite(a, Cfg.InterruptLine, 1, 0x0b);
    expect(bridge.configRead(a, Cfg.InterruptLine, 1)).toBe(0x0b);
  });
});
