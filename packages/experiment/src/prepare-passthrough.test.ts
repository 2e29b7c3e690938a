import { ContainerModule, type GuestCpu, GuestMemoryToken, Path, definePlugin, z } from '@vhw/core';
import { type GuestContext, type GuestDriver, GuestDriverToken } from '@vhw/guest';
import { PciDevice, PciDeviceToken } from '@vhw/pci';
import { describe, expect, it } from 'vitest';
import { ALL_PATCHES, preparePassthrough, vfioOf } from './index.js';

// A test-only device: one 4 KiB BAR whose every register read returns the running read
// count; its driver reads it once per operation and checks the count.
class CounterDevice extends PciDevice {
  reads = 0;
  constructor() {
    super({ name: 'ctr0', vendorId: 0x1af4, deviceId: 0x10fe, classCode: 0xff0000, bars: [{ index: 0, size: 4096 }] });
  }
  protected readRegister(): number {
    return ++this.reads;
  }
  protected writeRegister(): void {}
  protected resetRegisters(): void {
    this.reads = 0;
  }
}

class CounterDriver implements GuestDriver {
  readonly device = 'ctr0';
  readonly opName = 'read';
  probed = false;
  private cpu: GuestCpu | undefined;
  private reg = 0;
  private expected = 0;
  probe(ctx: GuestContext): void {
    this.cpu = ctx.cpu;
    this.reg = ctx.bus.find(this.device).bars[0]!.gpa;
    this.probed = true;
  }
  run(ops: number): { completed: number; failed: number } {
    let completed = 0;
    for (let i = 0; i < ops; i++) if (this.cpu!.load(this.reg, 4) === ++this.expected) completed++;
    return { completed, failed: ops - completed };
  }
}

const counterDevice = definePlugin({
  name: 'counter-device',
  kind: 'device',
  description: 'test only: a read counter in a 4 KiB BAR',
  schema: z.strictObject({}),
  module: () =>
    new ContainerModule(({ bind }) => {
      bind(PciDeviceToken)
        .toDynamicValue(() => new CounterDevice())
        .inSingletonScope();
      bind(GuestDriverToken)
        .toDynamicValue(() => new CounterDriver())
        .inSingletonScope();
    }),
});

describe('preparePassthrough', () => {
  it('builds the whole stack with no patches, rfc-2015, and probes the drivers', () => {
    const run = preparePassthrough({ platform: 'generic', devices: [counterDevice()] });
    expect(run.machine.name).toBe('passthrough-generic');
    expect(run.machine.platform).toMatchObject({ name: 'generic', pageSize: 4096 });
    expect(vfioOf(run).patches).toEqual({ variant: 'rfc-2015', subPageMmap: false, msixMmap: false });
    expect(run.drivers).toEqual([expect.any(CounterDriver)]);
    expect((run.drivers[0] as CounterDriver).probed).toBe(true);
    expect(run.bus.functions.map((f) => f.name)).toEqual(['ctr0']);
    expect(run.vmm.functions[0]!.dev.fn).toBe(run.bridge.findFunction('ctr0'));
    // A whole 4 KiB page: mapped direct without any patch, so every read reaches the device.
    expect(run.drivers[0]!.run(5)).toEqual({ completed: 5, failed: 0 });
    expect(run.machine.stats.count(Path.Direct)).toBe(5);
    expect(run.machine.stats.count(Path.Trap)).toBe(0);
    run.machine.dispose();
  });

  it('passes the experiment point and the machine spec through', () => {
    const sub = (config = {}) => {
      const run = preparePassthrough({ platform: 'ppc64', devices: [counterDevice()], ramBytes: 4 * 1024 * 1024 }, config);
      expect(run.machine.platform).toMatchObject({ name: 'ppc64', pageSize: 65536 });
      expect(run.machine.get(GuestMemoryToken).entries.map((r) => r.size)).toEqual([4 * 1024 * 1024]);
      expect(run.drivers[0]!.run(3)).toEqual({ completed: 3, failed: 0 });
      const out = {
        reasons: run.vmm.bars.map((b) => b.plan.areas.map((a) => a.reason)),
        direct: run.machine.stats.count(Path.Direct),
        variant: vfioOf(run).patches.variant,
      };
      run.machine.dispose();
      return out;
    };
    // The 4 KiB BAR is sub-page on 64 KiB pages: it traps without patches 1 and 2.
    expect(sub()).toEqual({ reasons: [['sub-page-bar']], direct: 0, variant: 'rfc-2015' });
    expect(sub({ patches: ALL_PATCHES, variant: 'upstream' })).toEqual({ reasons: [['mmap-sub-page']], direct: 3, variant: 'upstream' });
  });

  it('refuses a machine whose devices contribute no guest driver, naming the scenario', () => {
    expect(() => preparePassthrough({ platform: 'generic', devices: [] })).toThrow(/scenario passthrough-generic: no guest driver/);
  });
});
