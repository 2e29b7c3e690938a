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
import { NvmeLiteDevice } from './device.js';
import { NvmeLiteDriver } from './driver.js';
import { type NvmeLiteInput, cqHeadDoorbell, nvmeLite, sqTailDoorbell } from './index.js';

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

function boot(options: NvmeLiteInput = {}, tuning = { pollLimit: 50, pollIntervalNs: 1000 }) {
  const machine = Machine.create({
    plugins: [simplePlatform({ pageSize: 4096 }), guestRam({ size: 16 * 1024 * 1024 }), nvmeLite(options), passthroughHarness()],
  });
  const h = machine.get<Harness>(HarnessToken);
  const drivers = machine.getAll<GuestDriver>(GuestDriverToken);
  expect(drivers).toHaveLength(1);
  // The plugin's driver, with a shorter timeout so the freeze tests stay small.
  const bound = drivers[0] as NvmeLiteDriver;
  expect(bound).toBeInstanceOf(NvmeLiteDriver);
  const driver = new NvmeLiteDriver(bound.options, tuning);
  const os = new GuestOs(machine.cpu, machine.get<GuestMemory>(GuestMemoryToken));
  driver.probe({ cpu: machine.cpu, bus: h.bus!, os });
  const fn = h.bridge!.functions[0];
  const device = fn.device as NvmeLiteDevice;
  const mmio = () => ({ reads: machine.stats.byPath[Path.Direct * 2], writes: machine.stats.byPath[Path.Direct * 2 + 1] });
  /** Accesses per BAR0 offset, from the access trace (when tracing is on). */
  const perRegister = new Map<number, { reads: number; writes: number }>();
  const bar0 = fn.bar(0)!.address;
  machine.events.on('access', (e) => {
    if (e.path !== 'direct' || e.gpa < bar0 || e.gpa >= bar0 + fn.bar(0)!.size) return;
    const r = perRegister.get(e.gpa - bar0) ?? { reads: 0, writes: 0 };
    if (e.isWrite) r.writes++;
    else r.reads++;
    perRegister.set(e.gpa - bar0, r);
  });
  return { machine, h, driver, bound, os, fn, device, mmio, perRegister };
}

describe('nvme-lite end to end (1:1 passthrough harness, 4 KiB pages)', () => {
  it('binds one device and one driver for the instance', () => {
    const { machine, bound, device } = boot({ name: 'nvme3' });
    expect(machine.getAll<PciDevice>(PciDeviceToken)).toEqual([device]);
    expect(bound.device).toBe('nvme3');
    expect(bound.opName).toBe('command');
  });

  it('runs 200 commands: all complete, data verified, one interrupt and two doorbell writes per command', () => {
    const { machine, driver, device, mmio, perRegister } = boot();
    machine.trace(true);
    const irq0 = machine.stats.interrupts;
    const m0 = mmio();
    const r = driver.run(200);
    expect(r).toEqual({ completed: 200, failed: 0 });
    expect(driver.counters.mismatches).toBe(0);
    expect(driver.counters.polledCompletions).toBe(0);
    expect(machine.stats.interrupts - irq0).toBe(200);
    // Per command: SQ tail doorbell + CQ head doorbell, no register reads.
    expect(mmio().writes - m0.writes).toBe(400);
    expect(mmio().reads - m0.reads).toBe(0);
    expect(Object.fromEntries(perRegister)).toEqual({
      [sqTailDoorbell(1)]: { reads: 0, writes: 200 },
      [cqHeadDoorbell(1)]: { reads: 0, writes: 200 },
    });
    // The device holds what the driver wrote: 100 write/read pairs on LBAs 0..99.
    expect(device.media.size).toBe(100);
    expect(device.counters.commands).toBe(200 + 2);
    expect(machine.stats.trapsByReason).toEqual({});
  });

  it('coalesces on the 64 KiB layout with two I/O queues: one interrupt and CQ head write per 4 completions', () => {
    const { machine, driver, mmio, device } = boot({ layout: 'bar0-64k', ioQueues: 2, vectors: 3, interruptCoalescing: 4, queueDepth: 16 });
    expect(device.queues().map((q) => [q.qid, q.cq?.vector])).toEqual([[0, 0], [1, 1], [2, 2]]);
    const irq0 = machine.stats.interrupts;
    const m0 = mmio();
    expect(driver.run(200)).toEqual({ completed: 200, failed: 0 });
    // Pairs alternate between the queues: each queue gets 100 commands, 25 batches of 4.
    expect(machine.stats.interrupts - irq0).toBe(50);
    expect(mmio().writes - m0.writes).toBe(200 + 50);
    expect(driver.counters.mismatches).toBe(0);
  });

  it('shares vector 0 between the admin and I/O queues when there is one vector, even at queue depth 1', () => {
    const { machine, driver, device } = boot({ vectors: 1, ioQueues: 2, queueDepth: 1 });
    expect(device.queues().map((q) => q.cq?.vector)).toEqual([0, 0, 0]);
    expect(driver.vectors).toHaveLength(1);
    const irq0 = machine.stats.interrupts;
    expect(driver.run(50)).toEqual({ completed: 50, failed: 0 });
    expect(machine.stats.interrupts - irq0).toBe(50);
  });

  it('reaps a coalesced tail by polling when no interrupt comes', () => {
    const { machine, driver } = boot({ interruptCoalescing: 8 });
    const irq0 = machine.stats.interrupts;
    expect(driver.run(20)).toEqual({ completed: 20, failed: 0 });
    expect(machine.stats.interrupts - irq0).toBe(2);
    expect(driver.counters.polledCompletions).toBe(4);
    expect(driver.counters.timeouts).toBe(0);
  });

  it('charges deviceLatencyNs per command as guest time', () => {
    const fast = boot();
    const slow = boot({ deviceLatencyNs: 10_000 });
    const t0 = fast.machine.clock.now;
    fast.driver.run(50);
    const t1 = slow.machine.clock.now;
    slow.driver.run(50);
    expect(slow.machine.clock.now - t1 - (fast.machine.clock.now - t0)).toBeCloseTo(50 * 10_000, 3);
  });

  it('fails commands a frozen device never answers, never losing one, and recovers them after a reset', () => {
    const { driver, fn, h } = boot();
    expect(driver.run(50)).toEqual({ completed: 50, failed: 0 });
    fn.group.mmioFrozen = true;
    fn.group.dmaFrozen = true;
    const r = driver.run(50);
    expect(r).toEqual({ completed: 0, failed: 50 });
    expect(driver.counters.timeouts).toBe(1);
    expect(driver.lastCsts).toBe(0xffffffff);
    expect(driver.dead).toBe(true);
    // The driver kept submitting up to its queue depth (32) before it had to wait; those
    // 32 timed out and failed, the other 18 were refused without touching the device.
    expect(driver.counters.failedFast).toBe(18);
    // EEH-style recovery: unfreeze, reset the slot, restore config; the driver resubmits.
    fn.group.mmioFrozen = false;
    fn.group.dmaFrozen = false;
    fn.device.reset();
    h.bridge!.restoreFunction(fn);
    driver.recover();
    expect(driver.dead).toBe(false);
    expect(driver.lastRecovery).toEqual({ resubmitted: 32, completed: 32, failed: 0 });
    expect(driver.run(100)).toEqual({ completed: 100, failed: 0 });
    expect(driver.counters.mismatches).toBe(0);
  });

  it('recovers in the middle of a run and resubmits what was in flight', () => {
    const { machine, driver, fn, h } = boot();
    machine.trace(true);
    let interrupts = 0;
    let afterFreeze = -1;
    machine.events.on('interrupt', () => {
      if (++interrupts === 60) {
        fn.group.mmioFrozen = true;
        fn.group.dmaFrozen = true;
        afterFreeze = 0;
      }
    });
    machine.events.on('access', () => {
      // 200 guest accesses after the freeze: the driver is still submitting (about 10 accesses per command).
      if (afterFreeze < 0 || ++afterFreeze !== 200) return;
      // The VMM's error handling: unfreeze, reset, restore, tell the driver.
      fn.group.mmioFrozen = false;
      fn.group.dmaFrozen = false;
      fn.device.reset();
      h.bridge!.restoreFunction(fn);
      driver.recover();
    });
    expect(driver.run(200)).toEqual({ completed: 200, failed: 0 });
    expect(afterFreeze).toBeGreaterThan(200); // the freeze and the recovery both happened inside the run
    expect(driver.counters.timeouts).toBe(0);
    expect(driver.counters.mismatches).toBe(0);
  });

  it('refuses run() before probe()', () => {
    expect(() => new NvmeLiteDriver().run(1)).toThrow(/before probe/);
  });
});
