/**
 * EEH in the middle of a workload: a PE frozen under a running nvme-lite or
 * nic-lite driver, the driver seeing all-ones and timeouts, the guest's EEH core
 * (GuestOs.handleEeh, as the experiment loop calls it) recovering the PE with the slot
 * held in reset for eeh.slotResetHoldMs, and the driver re-initialising and going on.
 * Every operation is accounted for, and the other PEs never notice.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { ContainerModule, EventsToken, type IsolationEvent, LifecycleToken, type MachineEvents, definePlugin, z } from '@vhw/core';
import { PciHostToken } from '@vhw/pci';
import { type NicLiteDriver, nicLite } from '@vhw/device-nic-lite';
import { type NvmeLiteDriver, nvmeLite } from '@vhw/device-nvme-lite';
import { type GuestDriver, GuestOs } from '@vhw/guest';
import type { Ppc64Phb } from '@vhw/platform-ppc64';
import {
  ALL_PATCHES,
  type ExperimentConfig,
  NO_PATCHES,
  type PreparedRun,
  type Scenario,
  defineScenario,
  loadScenario,
  passthroughMachine,
  patchListOf,
  prepare,
  runExperiment,
} from '@vhw/experiment';

const CHUNK = 16;
const CONFIGS: ExperimentConfig[] = [
  { patches: NO_PATCHES, variant: 'rfc-2015', seed: 1 }, // every register access traps through the vfio fd
  { patches: ALL_PATCHES, variant: 'rfc-2015', seed: 1 }, // every register access is direct
];

let mixed: Scenario;
beforeAll(async () => {
  mixed = await loadScenario('ppc64-mixed');
});

interface Harness {
  run: PreparedRun;
  phb: Ppc64Phb;
  events: IsolationEvent[];
  driver<T extends GuestDriver>(name: string): T;
  pe(name: string): string;
  /** Calls `fn` once, on the `n`-th guest access from now (tracing on). */
  onAccess(n: number, fn: () => void): void;
  /** What the experiment loop does after a chunk with failures. */
  handleEeh(device: string): boolean;
}

function harness(config: ExperimentConfig, scenario: Scenario = mixed): Harness {
  const run = prepare(scenario, config);
  const phb = run.bridge as Ppc64Phb;
  const events: IsolationEvent[] = [];
  run.machine.events.on('isolation', (e) => events.push(e));
  const hooks: Array<{ at: number; fn: () => void }> = [];
  let accesses = 0;
  run.machine.events.on('access', () => {
    accesses++;
    for (const h of hooks.filter((x) => x.at === accesses)) h.fn();
  });
  return {
    run,
    phb,
    events,
    driver: <T extends GuestDriver>(name: string) => run.drivers.find((d) => d.device === name) as T,
    pe: (name) => run.bridge.findFunction(name).group.id,
    onAccess(n, fn) {
      run.machine.trace(true);
      hooks.push({ at: accesses + n, fn });
    },
    handleEeh: (device) => run.os.handleEeh(run.bus, device, run.drivers),
  };
}

/** The four states of one recovery, in order, for one PE, with the slot held in reset in between. */
function expectRecoverySequence(h: Harness, pe: string, from: number): void {
  const seq = h.events.slice(from).filter((e) => e.group === pe);
  expect(seq.map((e) => e.state)).toEqual(['recovering', 'reset', 'normal', 'configured']);
  const holdNs = h.run.machine.costs.ns('eeh.slotResetHoldMs');
  expect(holdNs).toBe(125e6);
  expect(seq[1]!.timeNs - seq[0]!.timeNs).toBe(holdNs);
  expect(seq[3]!.timeNs).toBe(seq[1]!.timeNs);
}

/** Other PEs' drivers run a full chunk each, with no failure. */
function othersWork(h: Harness, except: string): void {
  for (const d of h.run.drivers) {
    if (d.device === except) continue;
    expect(h.pe(d.device)).not.toBe(h.pe(except));
    expect(d.run(2 * CHUNK), d.device).toEqual({ completed: 2 * CHUNK, failed: 0 });
  }
}

describe('EEH recovery of nvme-lite in the middle of a workload (ppc64-mixed)', () => {
  for (const config of CONFIGS) {
    it(`${patchListOf(config.patches)}: freeze mid-run, timeouts, recovery after the chunk, resubmission, every command accounted for`, () => {
      const h = harness(config);
      const nvme = h.driver<NvmeLiteDriver>('nvme0');
      const pe = h.pe('nvme0');
      const { machine } = h.run;
      let issued = 0;
      let completed = 0;
      let failed = 0;
      let recoveries = 0;
      for (let chunk = 0; chunk < 20; chunk++) {
        if (chunk === 5) {
          // 40 guest accesses into this chunk (a few commands submitted), the PHB freezes the PE.
          h.onAccess(40, () => h.phb.injectError(pe));
        }
        const r = nvme.run(CHUNK);
        issued += CHUNK;
        completed += r.completed;
        failed += r.failed;
        expect(r.completed + r.failed).toBe(CHUNK);
        if (r.failed === 0) continue;

        // The driver saw the device stop answering: CSTS read all-ones, commands timed out.
        expect(chunk).toBe(5);
        expect(h.phb.eehState(pe)).toBe('frozen');
        expect(h.events.filter((e) => e.group === pe).map((e) => [e.state, e.cause])).toEqual([['frozen', 'error injection']]);
        expect(nvme.dead).toBe(true);
        expect(nvme.lastCsts).toBe(0xffffffff);
        expect(nvme.counters.timeouts).toBe(1);
        expect(r.completed).toBeGreaterThan(0); // commands before the freeze completed
        // The other PEs keep working while this one is frozen.
        othersWork(h, 'nvme0');
        expect(h.phb.eehState(pe)).toBe('frozen');

        const from = h.events.length;
        const t0 = machine.clock.now;
        expect(h.handleEeh('nvme0')).toBe(true);
        recoveries++;
        expect(machine.clock.now - t0).toBeGreaterThanOrEqual(machine.costs.ns('eeh.slotResetHoldMs'));
        expectRecoverySequence(h, pe, from);
        expect(h.phb.eehState(pe)).toBe('normal');
        // The commands that timed out were resubmitted after the re-initialisation and completed.
        expect(nvme.dead).toBe(false);
        expect(nvme.lastRecovery.resubmitted).toBeGreaterThan(0);
        expect(nvme.lastRecovery).toEqual({
          resubmitted: nvme.lastRecovery.resubmitted,
          completed: nvme.lastRecovery.resubmitted,
          failed: 0,
        });
        // Timed out = outstanding at the freeze; the rest of the chunk failed fast.
        expect(nvme.counters.failedFast + nvme.lastRecovery.resubmitted).toBe(r.failed);
      }
      expect(recoveries).toBe(1);
      expect(h.run.os.eehRecoveries).toBe(1);
      expect(completed + failed).toBe(issued);
      expect(nvme.counters.completed).toBe(completed);
      expect(nvme.counters.failed).toBe(failed);
      expect(nvme.counters.mismatches + nvme.counters.errorStatus).toBe(0);
      // Later chunks completed in full.
      expect(nvme.run(4 * CHUNK)).toEqual({ completed: 4 * CHUNK, failed: 0 });
      expect(h.run.vmm.audit()).toEqual([]);
      h.run.machine.dispose();
    });

    it(`${patchListOf(config.patches)}: recovery inside the same run resubmits what was in flight; nothing fails`, () => {
      const h = harness(config);
      const nvme = h.driver<NvmeLiteDriver>('nvme0');
      const pe = h.pe('nvme0');
      expect(nvme.run(CHUNK)).toEqual({ completed: CHUNK, failed: 0 });
      let recovered = false;
      let from = -1;
      h.onAccess(100, () => h.phb.injectError(pe));
      // 150 accesses later the driver is still inside run() (polling a CQ that never fills);
      // the guest's EEH core notices the freeze and recovers the PE under it.
      h.onAccess(250, () => {
        from = h.events.length;
        recovered = h.handleEeh('nvme0');
      });
      const r = nvme.run(8 * CHUNK);
      expect(recovered).toBe(true);
      expectRecoverySequence(h, pe, from);
      expect(r).toEqual({ completed: 8 * CHUNK, failed: 0 });
      expect(nvme.counters.timeouts).toBe(0);
      expect(nvme.counters.mismatches).toBe(0);
      othersWork(h, 'nvme0');
      h.run.machine.dispose();
    });
  }
});

describe('EEH recovery of nic-lite in the middle of a workload (ppc64-mixed)', () => {
  for (const config of CONFIGS) {
    it(`${patchListOf(config.patches)}: freeze mid-run, lost packets, recovery after the chunk, every packet accounted for`, () => {
      const h = harness(config);
      const nic = h.driver<NicLiteDriver>('nic0');
      const pe = h.pe('nic0');
      const { machine } = h.run;
      let issued = 0;
      let completed = 0;
      let failed = 0;
      for (let chunk = 0; chunk < 20; chunk++) {
        if (chunk === 7) h.onAccess(120, () => h.phb.injectError(pe));
        const r = nic.run(CHUNK);
        issued += CHUNK;
        completed += r.completed;
        failed += r.failed;
        expect(r.completed + r.failed).toBe(CHUNK);
        if (r.failed === 0) continue;

        expect(chunk).toBe(7);
        expect(h.phb.eehState(pe)).toBe('frozen');
        // STATUS read all-ones at the timeout: the VF is gone until recovered.
        expect(nic.lastStatus).toBe(0xffffffff);
        expect(nic.dead).toBe(true);
        expect(nic.counters.timeouts).toBe(1);
        expect(nic.counters.lost).toBeGreaterThan(0);
        othersWork(h, 'nic0');
        expect(h.phb.eehState(pe)).toBe('frozen');

        const from = h.events.length;
        const t0 = machine.clock.now;
        expect(h.handleEeh('nic0')).toBe(true);
        expect(machine.clock.now - t0).toBeGreaterThanOrEqual(machine.costs.ns('eeh.slotResetHoldMs'));
        expectRecoverySequence(h, pe, from);
        expect(nic.dead).toBe(false);
        expect(nic.lastStatus).toBeUndefined();
      }
      expect(completed + failed).toBe(issued);
      expect(failed).toBeGreaterThan(0);
      expect(nic.counters.completed).toBe(completed);
      expect(nic.counters.failed).toBe(failed);
      // A NIC does not retransmit: what was in flight is lost, the rest failed fast.
      expect(nic.counters.lost + nic.counters.failedFast).toBe(failed);
      expect(nic.counters.corrupt).toBe(0);
      expect(nic.run(4 * CHUNK)).toEqual({ completed: 4 * CHUNK, failed: 0 });
      expect(h.run.vmm.audit()).toEqual([]);
      h.run.machine.dispose();
    });

    it(`${patchListOf(config.patches)}: recovery inside the same run; packets in flight are lost and counted, the rest arrive`, () => {
      const h = harness(config);
      const nic = h.driver<NicLiteDriver>('nic0');
      const pe = h.pe('nic0');
      expect(nic.run(CHUNK)).toEqual({ completed: CHUNK, failed: 0 });
      let recovered = false;
      let from = -1;
      h.onAccess(200, () => h.phb.injectError(pe));
      h.onAccess(400, () => {
        from = h.events.length;
        recovered = h.handleEeh('nic0');
      });
      const lost0 = nic.counters.lost;
      const r = nic.run(8 * CHUNK);
      expect(recovered).toBe(true);
      expectRecoverySequence(h, pe, from);
      expect(r.completed + r.failed).toBe(8 * CHUNK);
      expect(r.failed).toBe(nic.counters.lost - lost0);
      expect(r.failed).toBeGreaterThan(0);
      expect(nic.counters.timeouts).toBe(0);
      expect(nic.dead).toBe(false);
      expect(nic.run(2 * CHUNK)).toEqual({ completed: 2 * CHUNK, failed: 0 });
      othersWork(h, 'nic0');
      h.run.machine.dispose();
    });
  }
});

describe('EEH recovery of a PE shared by two devices (peGranularity "bus")', () => {
  const shared = defineScenario({
    name: 'ppc64-one-pe',
    description: 'nvme-lite and nic-lite in one PE',
    ops: 100,
    machine: (config) =>
      passthroughMachine(
        { platform: 'ppc64', platformOptions: { peGranularity: 'bus' }, devices: [nvmeLite({ name: 'nvme0' }), nicLite({ name: 'nic0' })] },
        config,
      ),
  });

  for (const what of ['both', 'dma', 'mmio'] as const) {
    it(`a ${what} freeze stops both devices; one recovery of the PE re-initialises both drivers`, () => {
      const h = harness(CONFIGS[1]!, shared);
      const nvme = h.driver<NvmeLiteDriver>('nvme0');
      const nic = h.driver<NicLiteDriver>('nic0');
      const pe = h.pe('nvme0');
      expect(h.pe('nic0')).toBe(pe);
      expect(nvme.run(CHUNK)).toEqual({ completed: CHUNK, failed: 0 });
      expect(nic.run(CHUNK)).toEqual({ completed: CHUNK, failed: 0 });
      h.phb.injectError(pe, what);
      expect(h.phb.eehState(pe)).toBe(what === 'both' ? 'frozen' : what === 'dma' ? 'dma-frozen' : 'mmio-frozen');
      expect(nvme.run(CHUNK)).toEqual({ completed: 0, failed: CHUNK });
      expect(nic.run(CHUNK)).toEqual({ completed: 0, failed: CHUNK });
      // With MMIO frozen the registers read all-ones; with only DMA frozen they still answer.
      expect(nvme.lastCsts === 0xffffffff).toBe(what !== 'dma');
      const from = h.events.length;
      // The nic driver's failure triggers the recovery; the nvme driver in the same PE is re-initialised too.
      expect(h.handleEeh('nic0')).toBe(true);
      expectRecoverySequence(h, pe, from);
      expect(h.run.os.eehRecoveries).toBe(1);
      expect(nvme.dead).toBe(false);
      expect(nvme.lastRecovery.completed).toBe(nvme.lastRecovery.resubmitted);
      expect(nvme.run(CHUNK)).toEqual({ completed: CHUNK, failed: 0 });
      expect(nic.run(CHUNK)).toEqual({ completed: CHUNK, failed: 0 });
      // Nothing left to recover.
      expect(h.handleEeh('nvme0')).toBe(false);
      h.run.machine.dispose();
    });
  }
});

describe('EEH is a ppc64 facility', () => {
  it('on the generic platform the guest EEH core finds nothing to recover', async () => {
    const run = prepare(await loadScenario('generic-mixed'), CONFIGS[0]!);
    expect(run.bus.find('nvme0').eeh).toBeUndefined();
    expect(run.os.handleEeh(run.bus, 'nvme0', run.drivers)).toBe(false);
    expect(run.os.eehRecoveries).toBe(0);
    run.machine.dispose();
  });
});

describe('the guest EEH core when a PE keeps failing', () => {
  it('a PE that freezes again while its drivers re-initialise does not make the guest EEH core throw', async () => {
    const run = prepare(await loadScenario('ppc64-mixed'), { patches: NO_PATCHES, variant: 'rfc-2015', seed: 1 });
    const phb = run.bridge as Ppc64Phb;
    const pe = run.bridge.findFunction('nvme0').group.id;
    const nvme = run.drivers.find((d) => d.device === 'nvme0')!;
    phb.injectError(pe);
    expect(nvme.run(8)).toEqual({ completed: 0, failed: 8 });
    // The device fails again as soon as the slot is configured (a second error during recovery).
    let again = true;
    run.machine.events.on('isolation', (e) => {
      if (e.group === pe && e.state === 'configured' && again) {
        again = false;
        phb.injectError(pe);
      }
    });
    // The guest EEH core retries the recovery instead of throwing into the workload.
    expect(run.os.handleEeh(run.bus, 'nvme0', run.drivers)).toBe(true);
    expect(run.os.eehRecoveries).toBe(2);
    expect(nvme.run(8)).toEqual({ completed: 8, failed: 0 });
  });

  it('gives up on a PE that keeps freezing, without throwing, and its operations keep failing', async () => {
    const run = prepare(await loadScenario('ppc64-mixed'), { patches: NO_PATCHES, variant: 'rfc-2015', seed: 1 });
    const phb = run.bridge as Ppc64Phb;
    const pe = run.bridge.findFunction('nvme0').group.id;
    const nvme = run.drivers.find((d) => d.device === 'nvme0')!;
    phb.injectError(pe);
    expect(nvme.run(4).failed).toBe(4);
    run.machine.events.on('isolation', (e) => {
      if (e.group === pe && e.state === 'configured') phb.injectError(pe);
    });
    expect(run.os.handleEeh(run.bus, 'nvme0', run.drivers)).toBe(false);
    expect(run.os.eehRecoveries).toBe(GuestOs.maxEehAttempts);
    expect(run.os.eehGaveUp).toBe(1);
    const r = nvme.run(4);
    expect(r.completed + r.failed).toBe(4);
    expect(r.failed).toBe(4);
  });
});

/**
 * A test-only plugin that makes one device's PE fail: the PHB freezes it at the guest
 * access number `atAccess` of the workload (tracing must be on, as `runExperiment`'s
 * `trace` option turns it), and with `refreeze` again each time a recovery brings it back.
 */
const faultyPe = definePlugin({
  name: 'test-faulty-pe',
  kind: 'other',
  description: 'test only: freezes a device PE at an access of the workload, and again after each recovery',
  schema: z.strictObject({ device: z.string(), atAccess: z.number().int().positive(), refreeze: z.boolean() }),
  module: (o) =>
    new ContainerModule(({ bind }) => {
      bind(LifecycleToken).toDynamicValue((ctx) => {
        const phb = ctx.get(PciHostToken) as Ppc64Phb;
        const events = ctx.get(EventsToken) as MachineEvents;
        return {
          name: 'test-faulty-pe',
          stage: 1e9,
          realize() {
            const pe = phb.findFunction(o.device).group.id;
            let accesses = 0;
            events.on('access', () => {
              if (++accesses === o.atAccess) phb.injectError(pe);
            });
            events.on('isolation', (e) => {
              if (o.refreeze && e.group === pe && e.state === 'configured') phb.injectError(pe);
            });
          },
        };
      });
    }),
});

function faultyScenario(o: { device: string; atAccess: number; refreeze: boolean }): Scenario {
  return defineScenario({
    name: 'ppc64-mixed-faulty',
    description: 'ppc64-mixed with one PE made to fail',
    ops: 3000,
    machine: (config) => [...mixed.machine(config), faultyPe(o)],
  });
}

describe('giving up on a PE sticks (Linux eeh_max_freezes)', () => {
  const config = CONFIGS[0]!;

  it('a PE that refreezes every time it comes back gets 5 recoveries in the whole run, not 5 per failing chunk', () => {
    const r = runExperiment(faultyScenario({ device: 'nvme0', atAccess: 2000, refreeze: true }), config, { trace: () => {} });
    const w = r.workload;
    expect(w.eehRecoveries).toBe(GuestOs.maxEehFreezes);
    expect(w.completed! + w.failed!).toBe(3000);
    expect(w.failed).toBeGreaterThan(0);
    // The other devices did all their work: only nvme0's share failed.
    expect(w.failed).toBeLessThanOrEqual(1000);
    // 5 slot resets of 125 ms, not hundreds.
    expect(w.simulatedNs).toBeLessThan(6 * 125e6 + 1e9);
    expect(w.frozenAtEnd).toBe(1);
  });

  it('once given up, the guest makes no more recovery attempts (no RTAS call) and the driver fails fast', () => {
    const h = harness(config);
    const nvme = h.driver<NvmeLiteDriver>('nvme0');
    const pe = h.pe('nvme0');
    h.run.machine.events.on('isolation', (e) => {
      if (e.group === pe && e.state === 'configured') h.phb.injectError(pe);
    });
    h.phb.injectError(pe);
    expect(nvme.run(CHUNK).failed).toBe(CHUNK);
    expect(h.handleEeh('nvme0')).toBe(false);
    expect(h.run.os.eehRecoveries).toBe(GuestOs.maxEehFreezes);
    expect(h.run.os.eehFailedPes.has(pe)).toBe(true);
    const rtas = h.run.vmm.counters.rtasCalls;
    const timeouts = nvme.counters.timeouts;
    const fast = nvme.counters.failedFast;
    for (let chunk = 0; chunk < 10; chunk++) {
      expect(nvme.run(CHUNK)).toEqual({ completed: 0, failed: CHUNK });
      expect(h.handleEeh('nvme0')).toBe(false);
    }
    expect(h.run.os.eehRecoveries).toBe(GuestOs.maxEehFreezes);
    expect(h.run.os.eehGaveUp).toBe(1);
    expect(h.run.vmm.counters.rtasCalls).toBe(rtas);
    expect(nvme.counters.timeouts).toBe(timeouts);
    expect(nvme.counters.failedFast).toBe(fast + 10 * CHUNK);
    expect(h.phb.eehState(pe)).toBe('frozen');
    othersWork(h, 'nvme0');
    h.run.machine.dispose();
  });

  it('freezes more than an hour apart do not add up', () => {
    const h = harness(config);
    const nvme = h.driver<NvmeLiteDriver>('nvme0');
    const pe = h.pe('nvme0');
    for (let i = 0; i < 2 * GuestOs.maxEehFreezes; i++) {
      h.phb.injectError(pe);
      expect(nvme.run(4).failed).toBe(4);
      expect(h.handleEeh('nvme0')).toBe(true);
      h.run.machine.clock.now += 3600e9 / 4;
    }
    expect(h.run.os.eehRecoveries).toBe(2 * GuestOs.maxEehFreezes);
    expect(h.run.os.eehGaveUp).toBe(0);
    expect(nvme.run(CHUNK)).toEqual({ completed: CHUNK, failed: 0 });
    h.run.machine.dispose();
  });
});

describe('workload.frozenAtEnd', () => {
  it('is absent when every PE ends healthy, even after a recovery', () => {
    const r = runExperiment(faultyScenario({ device: 'nvme0', atAccess: 2000, refreeze: false }), CONFIGS[0]!, {
      ops: 600,
      trace: () => {},
    });
    expect(r.workload.eehRecoveries).toBe(1);
    expect(r.workload.frozenAtEnd).toBeUndefined();
  });

  it('counts a PE that froze after its driver ran its last chunk', () => {
    // nvme0 runs its last chunk first in each round; a freeze late in the run is seen by nobody.
    const ops = 96;
    const probe = runExperiment(mixed, CONFIGS[0]!, { ops, trace: () => {} });
    expect(probe.workload.frozenAtEnd).toBeUndefined();
    let total = 0;
    runExperiment(mixed, CONFIGS[0]!, { ops, trace: (l) => (total += l.includes(' trap ') ? 0 : 1) });
    const r = runExperiment(faultyScenario({ device: 'nvme0', atAccess: total - 5, refreeze: false }), CONFIGS[0]!, {
      ops,
      trace: () => {},
    });
    expect(r.workload.failed).toBe(0);
    expect(r.workload.eehRecoveries).toBe(0);
    expect(r.workload.frozenAtEnd).toBe(1);
  });
});

describe('a freeze while a PE is recovering', () => {
  for (const state of ['recovering', 'reset'] as const) {
    it(`injected at "${state}" is not cleared: the PE is frozen again, counted, and the guest recovers it again`, () => {
      const h = harness(CONFIGS[0]!);
      const nvme = h.driver<NvmeLiteDriver>('nvme0');
      const pe = h.pe('nvme0');
      const group = h.run.bridge.findFunction('nvme0').group;
      h.phb.injectError(pe);
      expect(nvme.run(4).failed).toBe(4);
      let once = true;
      h.run.machine.events.on('isolation', (e) => {
        if (e.group === pe && e.state === state && once) {
          once = false;
          h.phb.injectError(pe);
        }
      });
      const freezes = group.freezes;
      const from = h.events.length;
      expect(h.handleEeh('nvme0')).toBe(true);
      const seq = h.events.slice(from).filter((e) => e.group === pe);
      expect(seq.map((e) => e.state)).toEqual(['recovering', 'reset', 'normal', 'frozen', 'recovering', 'reset', 'normal', 'configured']);
      expect(seq[3]!.cause).toBe('error injection (during recovery)');
      expect(group.freezes).toBe(freezes + 1);
      expect(h.run.os.eehRecoveries).toBe(2);
      expect(h.phb.eehState(pe)).toBe('normal');
      expect(nvme.run(CHUNK)).toEqual({ completed: CHUNK, failed: 0 });
      h.run.machine.dispose();
    });
  }
});

describe('the guest EEH core always returns', () => {
  it('with a slot-reset hold longer than a fifth of the freeze window, a PE refreezing at once does not loop forever', async () => {
    const run = prepare(await loadScenario('ppc64-mixed'), CONFIGS[0]!, { costs: { 'eeh.slotResetHoldMs': 1_000_000 } });
    const phb = run.bridge as Ppc64Phb;
    const pe = run.bridge.findFunction('nvme0').group.id;
    phb.injectError(pe);
    run.machine.events.on('isolation', (e) => {
      if (e.group === pe && e.state === 'configured') phb.injectError(pe);
    });
    expect(run.os.handleEeh(run.bus, 'nvme0', run.drivers)).toBe(false);
    expect(run.os.eehRecoveries).toBe(GuestOs.maxEehFreezes + 1);
    run.machine.dispose();
  });
});
