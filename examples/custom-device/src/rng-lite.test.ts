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
  MSIX_CAP_OFFSET,
  type PciDevice,
  PciDeviceToken,
} from '@vhw/pci';
import { describe, expect, it } from 'vitest';
import { Ctrl, RngLiteDevice, RngReg, Status, rngLite, xorshift32 } from './index.js';

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

describe('rng-lite, an example third-party device plugin', () => {
  it('validates its options with messages naming the plugin and the field', () => {
    expect(() => rngLite({ poolWords: 0 })).toThrow(/rng-lite: option "poolWords" is 0/);
    expect(() => rngLite({ seed: 0 })).toThrow(/rng-lite: option "seed" is 0/);
    expect(() => rngLite({ colour: 'blue' } as never)).toThrow(/rng-lite: unknown option "colour"; allowed: name, poolWords, seed/);
    expect(rngLite().options).toEqual({ name: 'rng0', poolWords: 16, seed: 1 });
  });

  it('serves the xorshift32 sequence from a refillable pool and raises its vector (pending while masked)', () => {
    const dev = new RngLiteDevice({ poolWords: 2, seed: 7 });
    const regs = dev.barHandler(0);
    const msix = dev.barHandler(1);
    const sent: number[] = [];
    dev.msix!.sink = (_lo, _hi, data) => sent.push(data);
    dev.config.write(MSIX_CAP_OFFSET + 2, 2, 0x8000); // MSI-X on; entry 0 still masked
    msix.write(8, 4, 0x55);
    regs.write(RngReg.CTRL, 4, Ctrl.ENABLE | Ctrl.INT_EN | Ctrl.REFILL);
    expect(sent).toEqual([]);
    expect(msix.read(0x800, 4)).toBe(1); // pending
    msix.write(12, 4, 0); // unmask
    expect(sent).toEqual([0x55]);
    expect(regs.read(RngReg.STATUS, 4)).toBe(Status.READY | (2 << 16));
    expect(regs.read(RngReg.DATA, 4)).toBe(xorshift32(7));
    expect(regs.read(RngReg.DATA, 4)).toBe(xorshift32(xorshift32(7)));
    expect(regs.read(RngReg.DATA, 4)).toBe(0);
    expect(regs.read(RngReg.STATUS, 4)).toBe(Status.UNDERRUN);
    expect(dev.spec.bars.map((b) => [b.index, b.size])).toEqual([[0, 4096], [1, 4096]]);
  });

  it('runs in a machine: one MMIO read per word, one CTRL write and one interrupt per refill', () => {
    const machine = Machine.create({
      plugins: [simplePlatform({ pageSize: 4096 }), guestRam({ size: 4 * 1024 * 1024 }), rngLite({ poolWords: 16, seed: 42 }), passthroughHarness()],
    });
    const h = machine.get<Harness>(HarnessToken);
    const [driver] = machine.getAll<GuestDriver>(GuestDriverToken);
    expect(driver.opName).toBe('word');
    driver.probe({ cpu: machine.cpu, bus: h.bus!, os: new GuestOs(machine.cpu, machine.get<GuestMemory>(GuestMemoryToken)) });
    const reads0 = machine.stats.byPath[Path.Direct * 2];
    const writes0 = machine.stats.byPath[Path.Direct * 2 + 1];
    const irq0 = machine.stats.interrupts;
    expect(driver.run(100)).toEqual({ completed: 100, failed: 0 });
    expect(machine.stats.byPath[Path.Direct * 2] - reads0).toBe(100);
    expect(machine.stats.byPath[Path.Direct * 2 + 1] - writes0).toBe(6); // refills before words 17, 33, ..., 97
    expect(machine.stats.interrupts - irq0).toBe(6);
    // A frozen device answers all-ones: every word fails the check.
    h.bridge!.functions[0].group.mmioFrozen = true;
    expect(driver.run(10)).toEqual({ completed: 0, failed: 10 });
  });
});
