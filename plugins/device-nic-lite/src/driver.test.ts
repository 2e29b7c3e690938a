import {
  ClockToken,
  ContainerModule,
  EventsToken,
  type GuestCpu,
  GuestCpuToken,
  type GuestMemory,
  GuestMemoryToken,
  type Lifecycle,
  Lifecycle as LifecycleToken,
  Machine,
  type MachineEvents,
  type Mmu,
  MmuToken,
  Path,
  type SimClock,
  Stage,
  VhwError,
  definePlugin,
  guestRam,
  simplePlatform,
  z,
} from '@vhw/core';
import {
  type GuestDriver,
  GuestDriverToken,
  GuestOs,
  type GuestPciBus,
  type GuestPciFunction,
  HostBridge,
  type PciDevice,
  PciDeviceToken,
} from '@vhw/pci';
import { describe, expect, it } from 'vitest';
import { NicLiteDevice } from './device.js';
import { NicLiteDriver } from './driver.js';
import { type NicLiteInput, NicReg, nicLite } from './index.js';

// ---- test-only passthrough harness ----
// A host bridge whose BARs are mapped 1:1 and direct into the guest, IOMMU identity over
// guest RAM, and MSI data = guest vector: the host IRQ numbers are allocated so that they
// coincide with the vectors GuestOs hands out (0x30 upwards), and each is routed straight
// to the guest CPU. One device per machine (two would compete for the same IRQ numbers).

const HarnessToken = Symbol('test.PassthroughHarness');
interface Harness {
  bridge: HostBridge | undefined;
  bus: GuestPciBus | undefined;
}

const passthroughHarness = definePlugin({
  name: 'test-passthrough',
  kind: 'other',
  description: 'test only: host bridge with BARs mapped 1:1 and direct',
  schema: z.strictObject({}),
  module: () =>
    new ContainerModule(({ bind }) => {
      const h: Harness = { bridge: undefined, bus: undefined };
      bind(HarnessToken).toConstantValue(h);
      bind<Lifecycle>(LifecycleToken).toDynamicValue((ctx) => {
        const memory = ctx.get<GuestMemory>(GuestMemoryToken);
        const events = ctx.get<MachineEvents>(EventsToken);
        const clock = ctx.get<SimClock>(ClockToken);
        const mmu = ctx.get<Mmu>(MmuToken);
        const devices = ctx.getAll<PciDevice>(PciDeviceToken);
        return {
          name: 'test-passthrough:bus',
          stage: Stage.Bus,
          realize() {
            h.bridge = new HostBridge({
              name: 'phb-test',
              pageSize: mmu.pageSize,
              window: { name: 'mmio', base: 0x8000_0000, size: 256 * 1024 * 1024 },
              unassignedPolicy: 'ignore',
              events,
              clock,
              memory,
              msiAddress: 0xfee0_0000,
            });
            h.bridge.realize(devices);
          },
          reset() {
            for (const fn of h.bridge!.functions) {
              fn.device.reset();
              h.bridge!.restoreFunction(fn);
            }
          },
        };
      });
      bind<Lifecycle>(LifecycleToken).toDynamicValue((ctx) => {
        const memory = ctx.get<GuestMemory>(GuestMemoryToken);
        const mmu = ctx.get<Mmu>(MmuToken);
        const cpu = ctx.get<GuestCpu>(GuestCpuToken);
        return {
          name: 'test-passthrough:vmm',
          stage: Stage.Vmm,
          realize() {
            const bridge = h.bridge!;
            for (const g of bridge.groups) for (const r of memory.entries) g.iommu.map(r.base, r.size, r.base);
            const functions: GuestPciFunction[] = bridge.functions.map((fn) => {
              for (const b of fn.bars) {
                mmu.mapDirect({
                  name: `${fn.name}:BAR${b.index}`,
                  gpa: b.address,
                  size: b.size,
                  hostPa: b.address,
                  handler: bridge.mmioHandler,
                  handlerOffset: b.address,
                  constraints: fn.device.barConstraints(b.index),
                });
              }
              for (const m of bridge.allocateMsi(fn, 0x100)) bridge.setIrqHandler(m.irq, (irq) => cpu.raiseInterrupt(irq));
              return {
                name: fn.name,
                vendorId: fn.device.spec.vendorId,
                deviceId: fn.device.spec.deviceId,
                bars: fn.bars.map((b) => ({ index: b.index, gpa: b.address, size: b.size })),
                configRead: (o, s) => bridge.configRead(fn, o, s),
                configWrite: (o, s, v) => bridge.configWrite(fn, o, s, v),
                paravirtMsi: undefined,
              };
            });
            h.bus = {
              functions,
              msiAddress: bridge.msiAddress,
              find(name) {
                const f = functions.find((x) => x.name === name);
                if (!f) throw new VhwError('E_NOT_FOUND', `no function ${name}`);
                return f;
              },
            };
          },
        };
      });
    }),
});

function boot(options: NicLiteInput = {}, tuning = { pollLimit: 50, pollIntervalNs: 1000 }) {
  const machine = Machine.create({
    plugins: [simplePlatform({ pageSize: 4096 }), guestRam({ size: 16 * 1024 * 1024 }), nicLite(options), passthroughHarness()],
  });
  const h = machine.get<Harness>(HarnessToken);
  const drivers = machine.getAll<GuestDriver>(GuestDriverToken);
  expect(drivers).toHaveLength(1);
  const bound = drivers[0] as NicLiteDriver;
  expect(bound).toBeInstanceOf(NicLiteDriver);
  // The plugin's driver options, with a shorter timeout so the freeze tests stay small.
  const driver = new NicLiteDriver(bound.options, tuning);
  const os = new GuestOs(machine.cpu, machine.get<GuestMemory>(GuestMemoryToken));
  driver.probe({ cpu: machine.cpu, bus: h.bus!, os });
  const fn = h.bridge!.functions[0];
  const device = fn.device as NicLiteDevice;
  const mmio = () => ({ reads: machine.stats.byPath[Path.Direct * 2], writes: machine.stats.byPath[Path.Direct * 2 + 1] });
  /** Accesses per BAR0 register, from the access trace. */
  const perRegister = new Map<number, { reads: number; writes: number }>();
  const bar0 = fn.bar(0)!.address;
  machine.events.on('access', (e) => {
    if (e.path !== 'direct' || e.gpa < bar0 || e.gpa >= bar0 + 0x4000) return;
    const r = perRegister.get(e.gpa - bar0) ?? { reads: 0, writes: 0 };
    if (e.isWrite) r.writes++;
    else r.reads++;
    perRegister.set(e.gpa - bar0, r);
  });
  return { machine, h, driver, bound, os, fn, device, mmio, perRegister };
}

describe('nic-lite end to end (1:1 passthrough harness, 4 KiB pages)', () => {
  it('binds one VF and one driver for the instance', () => {
    const { machine, bound, device } = boot({ name: 'vf3' });
    expect(machine.getAll<PciDevice>(PciDeviceToken)).toEqual([device]);
    expect(bound.device).toBe('vf3');
    expect(bound.opName).toBe('packet');
  });

  it('sends 200 packets: all arrive in order and intact, one TDT write per packet, EICR/RDT/EIMS once per batch', () => {
    const { machine, driver, device, mmio, perRegister } = boot();
    machine.trace(true);
    const irq0 = machine.stats.interrupts;
    const m0 = mmio();
    expect(driver.run(200)).toEqual({ completed: 200, failed: 0 });
    expect(driver.counters.lost).toBe(0);
    expect(driver.counters.corrupt).toBe(0);
    expect(driver.counters.polledPackets).toBe(0);
    expect(machine.stats.interrupts - irq0).toBe(25);
    expect(mmio().writes - m0.writes).toBe(200 + 2 * 25);
    expect(mmio().reads - m0.reads).toBe(25);
    expect(Object.fromEntries(perRegister)).toEqual({
      [NicReg.TDT]: { reads: 0, writes: 200 },
      [NicReg.EICR]: { reads: 25, writes: 0 },
      [NicReg.RDT]: { reads: 0, writes: 25 },
      [NicReg.EIMS]: { reads: 0, writes: 25 },
    });
    expect(device.counters.rxMissed).toBe(0);
    expect(machine.stats.trapsByReason).toEqual({});
  });

  it('flushes a partial batch at the end of a burst (the last descriptor has no IDE)', () => {
    const { machine, driver } = boot({ interruptBatch: 16 });
    const irq0 = machine.stats.interrupts;
    expect(driver.run(40)).toEqual({ completed: 40, failed: 0 });
    expect(machine.stats.interrupts - irq0).toBe(3); // 16 + 16 + 8
    expect(driver.counters.polledPackets).toBe(0);
  });

  it('works with a single MSI-X vector and large packets', () => {
    const { driver } = boot({ vectors: 1, packetBytes: 2048 });
    expect(driver.vectors).toHaveLength(1);
    expect(driver.run(50)).toEqual({ completed: 50, failed: 0 });
  });

  it('wraps small rings many times', () => {
    const { driver } = boot({ ringSize: 8, interruptBatch: 7, packetBytes: 1500 });
    expect(driver.run(500)).toEqual({ completed: 500, failed: 0 });
    expect(driver.run(13)).toEqual({ completed: 13, failed: 0 });
  });

  it('detects a frozen VF: the packets in flight fail as lost, the rest fail fast; recover() makes it work again', () => {
    const { driver, fn, h } = boot({ ringSize: 32 });
    expect(driver.run(50)).toEqual({ completed: 50, failed: 0 });
    fn.group.mmioFrozen = true;
    fn.group.dmaFrozen = true;
    expect(driver.run(50)).toEqual({ completed: 0, failed: 50 });
    expect(driver.counters.timeouts).toBe(1);
    expect(driver.lastStatus).toBe(0xffffffff);
    expect(driver.dead).toBe(true);
    // The driver filled the TX ring (31 descriptors) before it had to wait.
    expect(driver.counters.lost).toBe(31);
    expect(driver.counters.failedFast).toBe(19);
    fn.group.mmioFrozen = false;
    fn.group.dmaFrozen = false;
    fn.device.reset();
    h.bridge!.restoreFunction(fn);
    driver.recover();
    expect(driver.dead).toBe(false);
    expect(driver.run(100)).toEqual({ completed: 100, failed: 0 });
  });

  it('recovers in the middle of a run; only the packets in flight at that moment are lost', () => {
    const { machine, driver, fn, h } = boot();
    machine.trace(true);
    let interrupts = 0;
    let afterFreeze = -1;
    machine.events.on('interrupt', () => {
      if (++interrupts === 5) {
        fn.group.mmioFrozen = true;
        fn.group.dmaFrozen = true;
        afterFreeze = 0;
      }
    });
    machine.events.on('access', () => {
      if (afterFreeze < 0 || ++afterFreeze !== 300) return;
      fn.group.mmioFrozen = false;
      fn.group.dmaFrozen = false;
      fn.device.reset();
      h.bridge!.restoreFunction(fn);
      driver.recover();
    });
    const r = driver.run(200);
    expect(afterFreeze).toBeGreaterThan(300);
    expect(r.completed + r.failed).toBe(200);
    expect(r.failed).toBe(driver.counters.lost);
    expect(r.failed).toBeGreaterThan(0);
    expect(r.failed).toBeLessThan(30);
    expect(driver.counters.timeouts).toBe(0);
    expect(driver.counters.corrupt).toBe(0);
  });

  it('refuses run() before probe()', () => {
    expect(() => new NicLiteDriver().run(1)).toThrow(/before probe/);
  });
});
