/**
 * Why patch 3 is safe on PPC64 and not elsewhere: once the MSI-X table is
 * mapped direct, the guest can write any message into its device's table, including
 * another PE's host interrupt. PE MSI validation drops that MSI and freezes the source
 * PE; without interrupt isolation it is delivered to the other device's interrupt.
 */
import { describe, expect, it } from 'vitest';
import { GuestMemoryToken, type InterruptEvent, type IsolationEvent, Machine, Path, type VhwPlugin, guestRam } from '@vhw/core';
import { type NvmeLiteDriver, nvmeLite } from '@vhw/device-nvme-lite';
import { GuestDriverToken, GuestOs, type GuestPciBus, GuestPciBusToken } from '@vhw/guest';
import { type HostBridge, PciHostToken } from '@vhw/pci';
import { genericPlatform } from '@vhw/platform-generic';
import { type Ppc64Phb, ppc64Platform } from '@vhw/platform-ppc64';
import type { Variant } from '@vhw/core';
import { VfioToken, type VfioPciDriver, vfioPci } from '@vhw/vfio-pci';
import { type Vmm, VmmToken, vmm } from '@vhw/vmm';
import { expectVhwError, type ToyDevice, toyDevice } from '@vhw/test-support';

/** The KIOXIA CD8P shape: one 64 KiB BAR, table at 0x5200, PBA at 0xd600. */
const KIOXIA = {
  bars: [{ index: 0, size: 0x10000, kind: 'mem64' as const }],
  msix: { vectors: 16, tableBar: 0, tableOffset: 0x5200, pbaBar: 0, pbaOffset: 0xd600 },
};
const TABLE = KIOXIA.msix.tableOffset;

interface Rig {
  machine: Machine;
  vmm: Vmm;
  bridge: HostBridge;
  vfio: VfioPciDriver;
  bus: GuestPciBus;
  os: GuestOs;
  a: ToyDevice;
  /** Guest vectors of each device's MSI-X entries, and what the guest's handlers received. */
  vectors: Record<string, number[]>;
  got: Record<string, number[]>;
  isolation: IsolationEvent[];
  interrupts: InterruptEvent[];
}

/** Device "a" (the attacker's, a toy with the KIOXIA layout) and a victim "b" in another PE; MSI-X set up by the guest. */
function rig(
  platform: VhwPlugin,
  variant: Variant,
  victim: VhwPlugin = toyDevice({ name: 'b', ...KIOXIA }),
  patches = { subPageMmap: false, msixMmap: true },
): Rig {
  const machine = Machine.create({
    plugins: [platform, guestRam({ size: 16 << 20 }), toyDevice({ name: 'a', ...KIOXIA }), victim, vfioPci({ variant, ...patches }), vmm()],
  });
  const bus = machine.get(GuestPciBusToken);
  const os = new GuestOs(machine.cpu, machine.get(GuestMemoryToken));
  const bridge = machine.get(PciHostToken);
  const r: Rig = {
    machine,
    vmm: machine.get(VmmToken),
    bridge,
    vfio: machine.get(VfioToken),
    bus,
    os,
    a: bridge.findFunction('a').device as ToyDevice,
    vectors: {},
    got: { a: [], b: [] },
    isolation: [],
    interrupts: [],
  };
  expect(bridge.findFunction('a').group).not.toBe(bridge.findFunction('b').group);
  for (const name of ['a', 'b']) {
    const driver = machine.getAll<{ device: string; probe(ctx: unknown): void }>(GuestDriverToken).find((d) => d.device === name);
    if (driver) {
      driver.probe({ cpu: machine.cpu, bus, os });
      continue;
    }
    r.vectors[name] = os.enableMsix(bus, bus.find(name), 2);
    for (const v of r.vectors[name]) os.requestIrq(v, (x) => r.got[name]!.push(x));
  }
  machine.events.on('isolation', (e) => r.isolation.push(e));
  machine.events.on('interrupt', (e) => r.interrupts.push(e));
  return r;
}

/** The guest programs entry `i` of a's MSI-X table through its BAR mapping (whatever path that takes). */
function guestWritesEntry(r: Rig, i: number, msg: { lo: number; hi: number; data: number }): void {
  const bar = r.vmm.bars.find((b) => b.device === 'a' && b.index === 0)!;
  const e = bar.guestAddress + TABLE + i * 16;
  r.machine.cpu.store(e, 4, msg.lo);
  r.machine.cpu.store(e + 4, 4, msg.hi);
  r.machine.cpu.store(e + 8, 4, msg.data);
  r.machine.cpu.store(e + 12, 4, 0);
}

/** The host MSI message of the victim's first vector: the doorbell and the victim's host IRQ. */
function victimMessage(r: Rig): { lo: number; hi: number; data: number } {
  const irqs = r.vfio.device('b').msixIrqs;
  expect(irqs.length).toBeGreaterThan(0);
  expect(r.bridge.irqOwnerOf(irqs[0]!)?.name).toBe('b');
  return { lo: r.bridge.msiAddress % 2 ** 32, hi: Math.floor(r.bridge.msiAddress / 2 ** 32), data: irqs[0]! };
}

function tableGpa(r: Rig): number {
  return r.vmm.bars.find((b) => b.device === 'a' && b.index === 0)!.guestAddress + TABLE;
}

describe('ppc64 with patch 3: the table is direct, PE MSI validation stops a spoofed MSI', () => {
  for (const variant of ['rfc-2015', 'upstream'] as const) {
    it(`${variant}: a's MSI carrying b's host IRQ is blocked, a's PE freezes, b's handler never runs`, () => {
      const r = rig(ppc64Platform(), variant);
      const phb = r.bridge as Ppc64Phb;
      const peA = r.bridge.findFunction('a').group;
      const peB = r.bridge.findFunction('b').group;
      const b = r.bridge.findFunction('b').device as ToyDevice;
      // Control: both devices' own interrupts arrive where they belong.
      r.a.fire(0);
      b.fire(0);
      r.machine.cpu.deliverPending();
      expect(r.got).toEqual({ a: [r.vectors.a![0]], b: [r.vectors.b![0]] });
      expect(r.bridge.counters.msiDelivered).toBe(2);

      // The table page is mapped direct into the pSeries guest (no table emulation).
      expect(r.machine.mmu.translate(tableGpa(r)).path).toBe('direct');
      const msg = victimMessage(r);
      const traps = r.machine.stats.count(Path.Trap);
      guestWritesEntry(r, 0, msg);
      expect(r.machine.stats.count(Path.Trap)).toBe(traps); // no exit: the write went straight to the device
      expect(r.a.msix!.entry(0)).toEqual({ addressLo: msg.lo, addressHi: msg.hi, data: msg.data, masked: false });

      r.a.fire(0);
      r.machine.cpu.deliverPending();
      expect(r.got).toEqual({ a: [r.vectors.a![0]], b: [r.vectors.b![0]] });
      expect(r.bridge.counters.msiBlocked).toBe(1);
      expect(r.bridge.counters.msiCrossGroupDelivered).toBe(0);
      expect(r.bridge.counters.msiDelivered).toBe(2);
      expect(phb.eehState(peA)).toBe('frozen');
      expect(phb.eehState(peB)).toBe('normal');
      expect(r.isolation.map((e) => [e.group, e.state])).toEqual([[peA.id, 'frozen']]);
      expect(r.isolation[0]!.cause).toMatch(/MSI/);
      expect(r.interrupts).toEqual([
        expect.objectContaining({ source: 'a', vector: msg.data, delivered: false, reason: 'msi-validation' }),
      ]);

      // b is unaffected, and a frozen a cannot raise even its own vector (freezeBlocksMsi).
      b.fire(1);
      r.a.fire(1);
      r.machine.cpu.deliverPending();
      expect(r.got).toEqual({ a: [r.vectors.a![0]], b: [r.vectors.b![0], r.vectors.b![1]] });
      expect(r.bridge.counters.msiBlocked).toBe(2);

      // Recovery restores the table the host kernel set up: a's interrupts are a's again.
      r.bus.find('a').eeh!.recover();
      expect(phb.eehState(peA)).toBe('normal');
      expect(r.a.msix!.entry(0).data).not.toBe(msg.data);
      r.a.fire(0);
      r.machine.cpu.deliverPending();
      expect(r.got.a).toEqual([r.vectors.a![0], r.vectors.a![0]]);
      expect(r.got.b).toEqual([r.vectors.b![0], r.vectors.b![1]]);
      r.machine.dispose();
    });
  }

  it("rfc-2015: with an nvme-lite victim (bar0-64k) probed by its driver, the driver's interrupt handler never runs", () => {
    const r = rig(ppc64Platform(), 'rfc-2015', nvmeLite({ name: 'b', layout: 'bar0-64k' }));
    const nvme = r.machine.getAll(GuestDriverToken).find((d) => d.device === 'b') as NvmeLiteDriver;
    expect(nvme.run(8)).toEqual({ completed: 8, failed: 0 });
    const before = { ...nvme.counters };
    guestWritesEntry(r, 0, victimMessage(r));
    for (let i = 0; i < 5; i++) r.a.fire(0);
    r.machine.cpu.deliverPending();
    expect(nvme.counters).toEqual(before);
    expect(r.bridge.counters.msiBlocked).toBe(5);
    expect((r.bridge as Ppc64Phb).eehState(r.bridge.findFunction('a').group)).toBe('frozen');
    expect((r.bridge as Ppc64Phb).eehState(r.bridge.findFunction('b').group)).toBe('normal');
    expect(nvme.run(8)).toEqual({ completed: 8, failed: 0 });
    r.machine.dispose();
  });

  it('without patch 3 the guest cannot write the table at all: the fd path drops it and a keeps its own message', () => {
    const r = rig(ppc64Platform(), 'rfc-2015', undefined, { subPageMmap: false, msixMmap: false });
    expect(r.machine.mmu.translate(tableGpa(r)).path).toBe('trap');
    const own = r.a.msix!.entry(0);
    guestWritesEntry(r, 0, victimMessage(r));
    expect(r.a.msix!.entry(0)).toEqual(own);
    expect(r.vfio.device('a').counters.tableProtected).toBe(4);
    r.a.fire(0);
    r.machine.cpu.deliverPending();
    expect(r.got.a).toEqual([r.vectors.a![0]]);
    expect(r.got.b).toEqual([]);
    expect(r.bridge.counters.msiBlocked).toBe(0);
    r.machine.dispose();
  });
});

describe('ppc64 with EEH turned off: no PE MSI validation', () => {
  it('rfc-2015 refuses patch 3 (no-isolation); upstream maps the table and the spoofed MSI reaches b', () => {
    const rfc = rig(ppc64Platform({ eeh: false }), 'rfc-2015');
    expect(rfc.vfio.device('a').diagnose(0, TABLE)).toBe('no-isolation');
    expect(rfc.machine.mmu.translate(tableGpa(rfc)).path).toBe('trap');
    rfc.machine.dispose();

    const r = rig(ppc64Platform({ eeh: false }), 'upstream');
    expect(r.machine.mmu.translate(tableGpa(r)).path).toBe('direct');
    guestWritesEntry(r, 0, victimMessage(r));
    r.a.fire(0);
    r.machine.cpu.deliverPending();
    expect(r.bridge.counters.msiCrossGroupDelivered).toBe(1);
    expect(r.got).toEqual({ a: [], b: [r.vectors.b![0]] });
    expect(r.isolation).toEqual([]);
    r.machine.dispose();
  });
});

describe('generic host (no EEH): the same spoofed MSI', () => {
  /** What userspace can do once vfio lets it mmap the table page: write the device's table directly. */
  function writeThroughMmap(r: Rig, msg: { lo: number; hi: number; data: number }): void {
    const page = r.vmm.pageSize;
    const tablePage = Math.floor(TABLE / page) * page;
    const map = r.vfio.device('a').mmap(0, tablePage, page);
    const at = map.handlerOffset + (TABLE - tablePage);
    map.handler.write(at, 4, msg.lo);
    map.handler.write(at + 4, 4, msg.hi);
    map.handler.write(at + 8, 4, msg.data);
    map.handler.write(at + 12, 4, 0);
  }

  it('rfc-2015 refuses patch 3 without EEH: the table page is not mmappable (no-isolation) and traps', () => {
    const r = rig(genericPlatform(), 'rfc-2015');
    const a = r.vfio.device('a');
    expect(a.diagnose(0, TABLE)).toBe('no-isolation');
    expect(a.getDeviceInfo().flags & (1 << 5)).toBe(0); // no PCI_MSIX_MMAP device flag
    expectVhwError(() => a.mmap(0, Math.floor(TABLE / r.vmm.pageSize) * r.vmm.pageSize, r.vmm.pageSize), 'E_MMAP_DENIED', /no-isolation/);
    expect(r.machine.mmu.translate(tableGpa(r)).path).toBe('trap');
    r.machine.dispose();
  });

  it("upstream without interrupt remapping: the MSI is delivered to b's interrupt (which is why rfc-2015 refuses)", () => {
    const r = rig(genericPlatform(), 'upstream');
    writeThroughMmap(r, victimMessage(r));
    r.a.fire(0);
    r.machine.cpu.deliverPending();
    expect(r.bridge.counters.msiCrossGroupDelivered).toBe(1);
    expect(r.bridge.counters.msiBlocked).toBe(0);
    expect(r.got).toEqual({ a: [], b: [r.vectors.b![0]] }); // b's guest handler ran for a's interrupt
    expect(r.bridge.groups.filter((g) => g.frozen)).toEqual([]);
    r.machine.dispose();
  });

  it('upstream with interrupt remapping: the MSI is blocked, nothing freezes, b never hears it', () => {
    const r = rig(genericPlatform({ interruptRemapping: true }), 'upstream');
    writeThroughMmap(r, victimMessage(r));
    r.a.fire(0);
    r.machine.cpu.deliverPending();
    expect(r.bridge.counters.msiBlocked).toBe(1);
    expect(r.bridge.counters.msiCrossGroupDelivered).toBe(0);
    expect(r.got).toEqual({ a: [], b: [] });
    expect(r.bridge.groups.filter((g) => g.frozen)).toEqual([]);
    expect(r.isolation).toEqual([]);
    expect(r.interrupts).toEqual([expect.objectContaining({ source: 'a', delivered: false, reason: 'msi-validation' })]);
    // Both devices' own vectors still work.
    (r.bridge.findFunction('b').device as ToyDevice).fire(0);
    r.machine.cpu.deliverPending();
    expect(r.got.b).toEqual([r.vectors.b![0]]);
    r.machine.dispose();
  });
});
