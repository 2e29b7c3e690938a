import { Path } from '@vhw/core';
import { type HostBridge, PciDeviceToken } from '@vhw/pci';
import { ALL_PATCHES, preparePassthrough } from '@vhw/experiment';
import { describe, expect, it } from 'vitest';
import type { NvmeLiteDevice } from './device.js';
import { NvmeLiteDriver } from './driver.js';
import { type NvmeLiteInput, cqHeadDoorbell, nvmeLite, sqTailDoorbell } from './index.js';

/**
 * The device on the real passthrough stack (platform, vfio-pci, VMM, guest), built and
 * probed through vhw's experiment API. `generic`: 4 KiB pages, no patches; the hot
 * registers map direct, only the MSI-X table page traps (to the VMM's emulation).
 * `ppc64`: 64 KiB pages with EEH and all three patches, so the sub-page BAR0 maps direct
 * too; a freeze there is the PHB's error injection and recovery the guest's EEH path.
 */
function boot(options: NvmeLiteInput = {}, platform: 'generic' | 'ppc64' = 'generic') {
  const run = preparePassthrough(
    { platform, devices: [nvmeLite(options)], ramBytes: 16 * 1024 * 1024 },
    platform === 'ppc64' ? { patches: ALL_PATCHES } : {},
  );
  const { machine, bridge } = run;
  expect(run.drivers).toHaveLength(1);
  const driver = run.drivers[0] as NvmeLiteDriver;
  expect(driver).toBeInstanceOf(NvmeLiteDriver);
  const fn = bridge.findFunction(driver.device);
  const device = fn.device as NvmeLiteDevice;
  const mmio = () => ({
    reads: machine.stats.byPath[Path.Direct * 2]!,
    writes: machine.stats.byPath[Path.Direct * 2 + 1]!,
    trapped: machine.stats.count(Path.Trap),
  });
  /** Direct accesses per BAR0 offset, from the access trace (when tracing is on). */
  const perRegister = new Map<number, { reads: number; writes: number }>();
  const bar0 = run.bus.find(driver.device).bars.find((b) => b.index === 0)!;
  machine.events.on('access', (e) => {
    if (e.path !== 'direct' || e.gpa < bar0.gpa || e.gpa >= bar0.gpa + bar0.size) return;
    const r = perRegister.get(e.gpa - bar0.gpa) ?? { reads: 0, writes: 0 };
    if (e.isWrite) r.writes++;
    else r.reads++;
    perRegister.set(e.gpa - bar0.gpa, r);
  });
  /** EEH error injection on the ppc64 PHB (Ppc64Phb.injectError): freezes the device's PE, MMIO and DMA. */
  const injectError = () => (bridge as HostBridge & { injectError(pe: string): void }).injectError(fn.group.id);
  /** The guest's EEH core: sees the frozen PE, has it reset and restored, and tells the driver to recover. */
  const handleEeh = () => run.os.handleEeh(run.bus, driver.device, run.drivers);
  return { ...run, driver, fn, device, mmio, perRegister, injectError, handleEeh };
}

/** 200 commands on I/O queue 1: one SQ tail and one CQ head doorbell write each, no register read. */
const DOORBELLS_FOR_200_COMMANDS = {
  [sqTailDoorbell(1)]: { reads: 0, writes: 200 },
  [cqHeadDoorbell(1)]: { reads: 0, writes: 200 },
};

describe('nvme-lite end to end (real passthrough stack)', () => {
  it('binds one device and one driver for the instance', () => {
    const { machine, driver, device, bus } = boot({ name: 'nvme3' });
    expect(machine.getAll(PciDeviceToken)).toEqual([device]);
    expect(driver.device).toBe('nvme3');
    expect(driver.opName).toBe('command');
    expect(bus.functions.map((f) => f.name)).toEqual(['nvme3']);
  });

  it('runs 200 commands on 4 KiB pages: all complete, data verified, one interrupt and two direct doorbell writes per command', () => {
    const { machine, driver, device, mmio, perRegister } = boot();
    // The probe's only traps: the MSI-X table writes (2 vectors x 4 dwords), emulated by the VMM.
    expect(machine.stats.trapsByReason).toEqual({ 'msix-table': 8 });
    machine.trace(true);
    const irq0 = machine.stats.interrupts;
    const m0 = mmio();
    const r = driver.run(200);
    expect(r).toEqual({ completed: 200, failed: 0 });
    expect(driver.counters.mismatches).toBe(0);
    expect(driver.counters.polledCompletions).toBe(0);
    expect(machine.stats.interrupts - irq0).toBe(200);
    // Per command: SQ tail doorbell + CQ head doorbell, no register reads, nothing trapped.
    expect(mmio().writes - m0.writes).toBe(400);
    expect(mmio().reads - m0.reads).toBe(0);
    expect(mmio().trapped - m0.trapped).toBe(0);
    expect(Object.fromEntries(perRegister)).toEqual(DOORBELLS_FOR_200_COMMANDS);
    // The device holds what the driver wrote: 100 write/read pairs on LBAs 0..99.
    expect(device.media.size).toBe(100);
    expect(device.counters.commands).toBe(200 + 2);
    expect(machine.stats.trapsByReason).toEqual({ 'msix-table': 8 });
  });

  it('maps the sub-page BAR0 direct on ppc64 with all patches: the same 400 doorbell writes, no trap at all', () => {
    const { machine, driver, vmm, mmio, perRegister } = boot({}, 'ppc64');
    expect(vmm.bars.map((b) => b.plan.areas.map((a) => a.path))).toEqual([['direct']]);
    machine.trace(true);
    const irq0 = machine.stats.interrupts;
    const m0 = mmio();
    expect(driver.run(200)).toEqual({ completed: 200, failed: 0 });
    expect(machine.stats.interrupts - irq0).toBe(200);
    expect(mmio().writes - m0.writes).toBe(400);
    expect(mmio().reads - m0.reads).toBe(0);
    expect(Object.fromEntries(perRegister)).toEqual(DOORBELLS_FOR_200_COMMANDS);
    // pSeries sets MSIs up through RTAS: not even the probe trapped.
    expect(machine.stats.trapsByReason).toEqual({});
  });

  it('coalesces on the 64 KiB layout with two I/O queues: one interrupt and CQ head write per 4 completions', () => {
    const { machine, driver, mmio, device } = boot({ layout: 'bar0-64k', ioQueues: 2, vectors: 3, interruptCoalescing: 4, queueDepth: 16 });
    expect(device.queues().map((q) => [q.qid, q.cq?.vector])).toEqual([
      [0, 0],
      [1, 1],
      [2, 2],
    ]);
    const irq0 = machine.stats.interrupts;
    const m0 = mmio();
    expect(driver.run(200)).toEqual({ completed: 200, failed: 0 });
    // Pairs alternate between the queues: each queue gets 100 commands, 25 batches of 4.
    expect(machine.stats.interrupts - irq0).toBe(50);
    expect(mmio().writes - m0.writes).toBe(200 + 50);
    expect(mmio().reads - m0.reads).toBe(0);
    expect(mmio().trapped - m0.trapped).toBe(0);
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

  it('fails commands a frozen PE never answers, never losing one, and recovers them after EEH recovery', () => {
    const { driver, bridge, fn, os, injectError, handleEeh } = boot({}, 'ppc64');
    expect(driver.run(50)).toEqual({ completed: 50, failed: 0 });
    injectError();
    expect(fn.group.mmioFrozen && fn.group.dmaFrozen).toBe(true);
    const r = driver.run(50);
    expect(r).toEqual({ completed: 0, failed: 50 });
    expect(driver.counters.timeouts).toBe(1);
    expect(driver.lastCsts).toBe(0xffffffff);
    expect(driver.dead).toBe(true);
    // The driver kept submitting up to its queue depth (32) before it had to wait; those
    // 32 timed out and failed, the other 18 were refused without touching the device.
    expect(driver.counters.failedFast).toBe(18);
    // EEH recovery: the guest sees the PE frozen, the PHB resets the slot, unfreezes and
    // restores config, vfio restores MSI-X, the driver re-initialises and resubmits.
    expect(handleEeh()).toBe(true);
    expect(os.eehRecoveries).toBe(1);
    expect(fn.group.frozen).toBe(false);
    expect(bridge.eeh).toBe(true);
    expect(driver.dead).toBe(false);
    expect(driver.lastRecovery).toEqual({ resubmitted: 32, completed: 32, failed: 0 });
    expect(driver.run(100)).toEqual({ completed: 100, failed: 0 });
    expect(driver.counters.mismatches).toBe(0);
    // Nothing frozen any more: a second look finds nothing to recover.
    expect(handleEeh()).toBe(false);
  });

  it('recovers in the middle of a run and resubmits what was in flight', () => {
    const { machine, driver, os, injectError, handleEeh } = boot({}, 'ppc64');
    machine.trace(true);
    let interrupts = 0;
    let afterFreeze = -1;
    machine.events.on('interrupt', () => {
      if (++interrupts === 60) {
        injectError();
        afterFreeze = 0;
      }
    });
    machine.events.on('access', () => {
      // 200 guest accesses after the freeze: the driver is still submitting (about 10 accesses per command).
      if (afterFreeze < 0 || ++afterFreeze !== 200) return;
      // The guest's EEH core: PE reset and restored, the driver told to recover.
      expect(handleEeh()).toBe(true);
    });
    expect(driver.run(200)).toEqual({ completed: 200, failed: 0 });
    expect(afterFreeze).toBeGreaterThan(200); // the freeze and the recovery both happened inside the run
    expect(os.eehRecoveries).toBe(1);
    expect(driver.counters.timeouts).toBe(0);
    expect(driver.counters.mismatches).toBe(0);
  });

  it('refuses run() before probe()', () => {
    expect(() => new NvmeLiteDriver().run(1)).toThrow(/before probe/);
  });
});
