import { Path } from '@vhw/core';
import { type HostBridge, PciDeviceToken } from '@vhw/pci';
import { ALL_PATCHES, preparePassthrough } from '@vhw/experiment';
import { describe, expect, it } from 'vitest';
import type { NicLiteDevice } from './device.js';
import { NicLiteDriver } from './driver.js';
import { type NicLiteInput, NicReg, nicLite } from './index.js';

/**
 * The VF on the real passthrough stack, built and probed through vhw's experiment API:
 * on `generic` (4 KiB pages, no patches) BAR0's registers map direct and only the MSI-X
 * table in BAR3 traps; on `ppc64` (64 KiB pages, EEH, all patches) both BARs map direct,
 * a freeze is the PHB's error injection and the guest's EEH core recovers it.
 */
function boot(options: NicLiteInput = {}, platform: 'generic' | 'ppc64' = 'generic') {
  const run = preparePassthrough(
    { platform, devices: [nicLite(options)], ramBytes: 16 * 1024 * 1024 },
    platform === 'ppc64' ? { patches: ALL_PATCHES } : {},
  );
  const driver = run.drivers[0] as NicLiteDriver;
  expect(run.drivers).toEqual([expect.any(NicLiteDriver)]);
  const fn = run.bridge.findFunction(driver.device);
  const stats = run.machine.stats;
  const mmio = () => ({
    reads: stats.byPath[Path.Direct * 2]!,
    writes: stats.byPath[Path.Direct * 2 + 1]!,
    trapped: stats.count(Path.Trap),
  });
  /** Direct accesses per BAR0 register, from the access trace. */
  const perRegister: Record<number, { reads: number; writes: number }> = {};
  const bar0 = run.bus.find(driver.device).bars[0]!;
  expect(bar0.index).toBe(0);
  run.machine.events.on('access', ({ path, gpa, isWrite }) => {
    const off = gpa - bar0.gpa;
    if (path !== 'direct' || off < 0 || off >= bar0.size) return;
    perRegister[off] ??= { reads: 0, writes: 0 };
    perRegister[off][isWrite ? 'writes' : 'reads']++;
  });
  return {
    ...run,
    driver,
    fn,
    device: fn.device as NicLiteDevice,
    mmio,
    perRegister,
    /** Ppc64Phb.injectError: EEH freezes the VF's PE (MMIO and DMA). */
    freezePe: () => (run.bridge as HostBridge & { injectError(pe: string): void }).injectError(fn.group.id),
    /** The guest's EEH core: PE reset, unfrozen and restored, then the driver's recover(). */
    guestEeh: () => run.os.handleEeh(run.bus, driver.device, run.drivers),
  };
}

/** 200 packets in batches of 8: one TDT write per packet; per batch one EICR read, one RDT and one EIMS write. */
const REGISTERS_FOR_200_PACKETS = {
  [NicReg.TDT]: { reads: 0, writes: 200 },
  [NicReg.EICR]: { reads: 25, writes: 0 },
  [NicReg.RDT]: { reads: 0, writes: 25 },
  [NicReg.EIMS]: { reads: 0, writes: 25 },
};

describe('nic-lite end to end (real passthrough stack)', () => {
  it('binds one VF and one driver for the instance', () => {
    const { machine, driver, device, bus } = boot({ name: 'vf3' });
    expect(machine.getAll(PciDeviceToken)).toEqual([device]);
    expect(driver.device).toBe('vf3');
    expect(driver.opName).toBe('packet');
    expect(bus.functions.map((f) => f.name)).toEqual(['vf3']);
  });

  it('sends 200 packets: all arrive in order and intact, one TDT write per packet, EICR/RDT/EIMS once per batch', () => {
    const { machine, driver, device, mmio, perRegister } = boot();
    // The probe's only traps: the MSI-X table writes (3 vectors x 4 dwords), emulated by the VMM.
    expect(machine.stats.trapsByReason).toEqual({ 'msix-table': 12 });
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
    expect(mmio().trapped - m0.trapped).toBe(0);
    expect(perRegister).toEqual(REGISTERS_FOR_200_PACKETS);
    expect(device.counters.rxMissed).toBe(0);
    expect(machine.stats.trapsByReason).toEqual({ 'msix-table': 12 });
  });

  it('maps both BARs direct on ppc64 with all patches: the same register accesses, no trap at all', () => {
    const { machine, driver, vmm, mmio, perRegister } = boot({}, 'ppc64');
    expect(vmm.bars.map((b) => [b.index, b.plan.areas.map((a) => a.path)])).toEqual([
      [0, ['direct']],
      [3, ['direct']],
    ]);
    machine.trace(true);
    const irq0 = machine.stats.interrupts;
    const m0 = mmio();
    expect(driver.run(200)).toEqual({ completed: 200, failed: 0 });
    expect(machine.stats.interrupts - irq0).toBe(25);
    expect(mmio().writes - m0.writes).toBe(200 + 2 * 25);
    expect(mmio().reads - m0.reads).toBe(25);
    expect(perRegister).toEqual(REGISTERS_FOR_200_PACKETS);
    // pSeries sets MSIs up through RTAS: not even the probe trapped.
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

  it('detects a frozen VF: the packets in flight fail as lost, the rest fail fast; EEH recovery makes it work again', () => {
    const { driver, fn, os, freezePe, guestEeh } = boot({ ringSize: 32 }, 'ppc64');
    expect(driver.run(50)).toEqual({ completed: 50, failed: 0 });
    freezePe();
    expect(fn.group.frozen).toBe(true);
    expect(driver.run(50)).toEqual({ completed: 0, failed: 50 });
    expect(driver.counters.timeouts).toBe(1);
    expect(driver.lastStatus).toBe(0xffffffff);
    expect(driver.dead).toBe(true);
    // The driver filled the TX ring (31 descriptors) before it had to wait.
    expect(driver.counters.lost).toBe(31);
    expect(driver.counters.failedFast).toBe(19);
    expect(guestEeh()).toBe(true);
    expect(os.eehRecoveries).toBe(1);
    expect(fn.group.frozen).toBe(false);
    expect(driver.dead).toBe(false);
    expect(driver.run(100)).toEqual({ completed: 100, failed: 0 });
    expect(guestEeh()).toBe(false);
  });

  it('recovers in the middle of a run; only the packets in flight at that moment are lost', () => {
    const { machine, driver, os, freezePe, guestEeh } = boot({}, 'ppc64');
    machine.trace(true);
    let interrupts = 0;
    let afterFreeze = -1;
    machine.events.on('interrupt', () => {
      if (++interrupts !== 5) return;
      freezePe();
      afterFreeze = 0;
    });
    machine.events.on('access', () => {
      if (afterFreeze >= 0 && ++afterFreeze === 300) expect(guestEeh()).toBe(true);
    });
    const r = driver.run(200);
    expect(afterFreeze).toBeGreaterThan(300);
    expect(os.eehRecoveries).toBe(1);
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
