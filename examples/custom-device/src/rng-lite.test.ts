import { Path } from '@vhw/core';
import { MSIX_CAP_OFFSET, PciDeviceToken } from '@vhw/pci';
import { preparePassthrough } from '@vhw/experiment';
import { describe, expect, it } from 'vitest';
import { Ctrl, RngLiteDevice, RngLiteDriver, RngReg, Status, rngLite, xorshift32 } from './index.js';

describe('rng-lite, an example third-party device plugin', () => {
  it('names its registers for reports and explain', () => {
    const dev = new RngLiteDevice();
    expect(dev.registers.nameAt(0, RngReg.DATA)).toBe('DATA');
    expect(dev.registers.find('CTRL')).toMatchObject({ bar: 0, offset: RngReg.CTRL });
    expect(dev.registers.hot().map((r) => r.name)).toEqual(['DATA', 'STATUS']);
  });

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
    expect(dev.spec.bars.map((b) => [b.index, b.size])).toEqual([
      [0, 4096],
      [1, 4096],
    ]);
  });

  it('runs on the real passthrough stack (4 KiB pages): one direct MMIO read per word, one CTRL write and one interrupt per refill', () => {
    // platform-generic, vfio-pci and the VMM, composed and probed by the experiment API (@vhw/experiment).
    const run = preparePassthrough({ platform: 'generic', devices: [rngLite({ poolWords: 16, seed: 42 })], ramBytes: 4 * 1024 * 1024 });
    const { machine, bridge, drivers } = run;
    expect(drivers).toEqual([expect.any(RngLiteDriver)]);
    const driver = drivers[0]!; // just checked: exactly one
    expect(driver.opName).toBe('word');
    const fn = bridge.findFunction('rng0');
    expect(machine.getAll(PciDeviceToken)).toEqual([fn.device]);
    // BAR0 (registers) maps direct; BAR1's MSI-X table traps to the VMM's emulation.
    expect(run.vmm.bars.map((b) => [b.index, b.plan.areas.map((a) => `${a.path} ${a.reason}`)])).toEqual([
      [0, ['direct mmap']],
      [1, ['trap msix-table', 'trap msix-table-page']],
    ]);
    const reads0 = machine.stats.byPath[Path.Direct * 2]!;
    const writes0 = machine.stats.byPath[Path.Direct * 2 + 1]!;
    const traps0 = machine.stats.count(Path.Trap);
    const irq0 = machine.stats.interrupts;
    expect(driver.run(100)).toEqual({ completed: 100, failed: 0 });
    expect(machine.stats.byPath[Path.Direct * 2]! - reads0).toBe(100);
    expect(machine.stats.byPath[Path.Direct * 2 + 1]! - writes0).toBe(6); // refills before words 17, 33, ..., 97
    expect(machine.stats.count(Path.Trap) - traps0).toBe(0);
    expect(machine.stats.interrupts - irq0).toBe(6);
    // A frozen device answers all-ones: every word fails the check. (The generic host has
    // no EEH; freezing the function's isolation group by hand gates its MMIO the same way.)
    fn.group.mmioFrozen = true;
    expect(driver.run(10)).toEqual({ completed: 0, failed: 10 });
    expect(bridge.counters.frozenMmioReads).toBe(10);
  });
});
