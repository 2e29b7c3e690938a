/**
 * Whatever a guest passes to the firmware calls the VMM implements (pSeries RTAS
 * `ibm,change-msi`, the EEH slot-state and reset calls) and whatever it loads or stores in
 * its passed-through BARs, nothing throws out of the VMM: a bad argument is answered with
 * the RTAS status QEMU's spapr answers it with (counted in `rtasErrors`), a bad access as
 * the hardware answers it (all-ones, a dropped write, an EEH freeze the guest recovers).
 */
import { RtasStatus } from '@vhw/guest';
import { ALL_PATCHES, type ExperimentConfig, NO_PATCHES, type PreparedRun, type Scenario, loadScenario, prepare } from '@vhw/experiment';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';

const CONFIGS: ExperimentConfig[] = [
  { patches: NO_PATCHES, variant: 'rfc-2015', seed: 1 },
  { patches: ALL_PATCHES, variant: 'rfc-2015', seed: 1 },
];

let ppc64: Scenario;
let generic: Scenario;
beforeAll(async () => {
  ppc64 = await loadScenario('ppc64-mixed');
  generic = await loadScenario('generic-mixed');
});

/** Every driver runs `ops` operations; all must complete. */
function expectWorkloadWorks(run: PreparedRun, ops = 32): void {
  for (const d of run.drivers) expect(d.run(ops), d.device).toEqual({ completed: ops, failed: 0 });
}

describe('RTAS ibm,change-msi with arguments the firmware refuses', () => {
  it('a vector count the 32-bit argument cannot hold is a parameter error (-3), counted, and the MSIs already set up stay', () => {
    const run = prepare(ppc64, CONFIGS[1]!);
    const fn = run.bus.find('nvme0');
    const dev = run.vmm.functions.find((f) => f.name === 'nvme0')!.dev;
    const irqs = dev.msixIrqs;
    expect(irqs.length).toBeGreaterThan(0);
    const c = { ...run.vmm.counters };
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 32, -(2 ** 40)]) {
      expect(fn.paravirtMsi!(bad), String(bad)).toEqual({ status: RtasStatus.ParameterError, count: 0, vectors: [] });
    }
    expect(run.vmm.counters.rtasCalls).toBe(c.rtasCalls + 6);
    expect(run.vmm.counters.rtasErrors).toBe(c.rtasErrors + 6);
    expect(dev.msixIrqs).toEqual(irqs);
    expectWorkloadWorks(run);
    run.machine.dispose();
  });

  it('more vectors than the function has: success with the number it has, nothing set up (QEMU corrects the count)', () => {
    const run = prepare(ppc64, CONFIGS[0]!);
    const vfn = run.vmm.functions.find((f) => f.name === 'nvme0')!;
    const irqs = vfn.dev.msixIrqs;
    const errors = run.vmm.counters.rtasErrors;
    const r = run.bus.find('nvme0').paravirtMsi!(vfn.msix!.vectors + 1);
    expect(r).toEqual({ status: RtasStatus.Success, count: vfn.msix!.vectors, vectors: [] });
    expect(vfn.dev.msixIrqs).toEqual(irqs);
    expect(run.vmm.counters.rtasErrors).toBe(errors);
    expectWorkloadWorks(run);
    run.machine.dispose();
  });

  it('releasing (0) when nothing is set up is a hardware error (-1), counted; releasing what is set up succeeds', () => {
    const run = prepare(ppc64, CONFIGS[0]!);
    const fn = run.bus.find('nic0');
    const dev = run.vmm.functions.find((f) => f.name === 'nic0')!.dev;
    const errors = run.vmm.counters.rtasErrors;
    expect(fn.paravirtMsi!(0)).toEqual({ status: RtasStatus.Success, count: 0, vectors: [] });
    expect(dev.msixIrqs).toEqual([]);
    expect(fn.paravirtMsi!(0)).toEqual({ status: RtasStatus.HardwareError, count: 0, vectors: [] });
    expect(run.vmm.counters.rtasErrors).toBe(errors + 1);
    const again = fn.paravirtMsi!(2);
    expect(again.status).toBe(RtasStatus.Success);
    expect(again.vectors).toHaveLength(2);
    expect(dev.msixIrqs).toHaveLength(2);
    run.machine.dispose();
  });

  it('the guest OS turns a refused ibm,change-msi into its own error, not the VMM', () => {
    const run = prepare(ppc64, CONFIGS[0]!);
    const fn = run.bus.find('nvme0');
    expect(() => run.os.enableMsix(run.bus, fn, -1)).toThrow(/RTAS ibm,change-msi for nvme0 answered status -3/);
    run.machine.dispose();
  });
});

/** One random guest action: an RTAS call or an MMIO access to a passed-through BAR. */
type GuestAction =
  | { kind: 'change-msi'; device: number; count: number }
  | { kind: 'eeh-state'; device: number }
  | { kind: 'eeh-reset'; device: number }
  | { kind: 'mmio'; device: number; bar: number; write: boolean; offset: number; size: 1 | 2 | 4 | 8; value: number };

const device = fc.nat({ max: 7 });
const guestAction: fc.Arbitrary<GuestAction> = fc.oneof(
  {
    arbitrary: fc.record({
      kind: fc.constant('change-msi' as const),
      device,
      count: fc.oneof(
        fc.integer({ min: -4, max: 40 }),
        fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0.5, 2 ** 32, 2 ** 32 - 1, 2 ** 53),
        fc.double(),
      ),
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant('eeh-state' as const), device }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('eeh-reset' as const), device }), weight: 1 },
  {
    arbitrary: fc.record({
      kind: fc.constant('mmio' as const),
      device,
      bar: fc.nat({ max: 5 }),
      write: fc.boolean(),
      // Anywhere in the BAR (as a fraction of its size) and a little past its end, any alignment.
      offset: fc.oneof(fc.double({ min: 0, max: 1.1, noNaN: true }), fc.constantFrom(0, 1, 0.5, 0.999999)),
      size: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const),
      // Register values, and numbers no register holds (the VMM must not trust the caller's width).
      value: fc.oneof(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.constantFrom(0, 0xffffffff, 1, 0x8000_0000, -1, 2 ** 40, -(2 ** 40), 1.5, Number.NaN),
      ),
    }),
    weight: 6,
  },
);

/** Plays `a` as the guest would; whatever it is, it must not throw out of the VMM. */
function play(run: PreparedRun, a: GuestAction): void {
  const fns = run.bus.functions;
  const fn = fns[a.device % fns.length]!;
  const { cpu } = run.machine;
  switch (a.kind) {
    case 'change-msi':
      fn.paravirtMsi?.(a.count);
      return;
    case 'eeh-state':
      fn.eeh?.frozen();
      return;
    case 'eeh-reset':
      fn.eeh?.recover();
      return;
    case 'mmio': {
      if (fn.bars.length === 0) return;
      const bar = fn.bars[a.bar % fn.bars.length]!;
      const gpa = bar.gpa + Math.floor(a.offset * bar.size);
      if (a.write) cpu.mmioStore(gpa, a.size, a.value);
      else cpu.mmioLoad(gpa, a.size);
    }
  }
}

/**
 * What a guest does after the storm to get its devices back: its EEH core recovers any PE
 * left frozen, and each driver is bound again (Linux's unbind and bind), which resets its
 * device and sets up its MSIs anew.
 */
function rebind(run: PreparedRun): void {
  for (const fn of run.bus.functions) if (fn.eeh?.frozen()) run.os.handleEeh(run.bus, fn.name, run.drivers);
  for (const d of run.drivers) d.probe({ cpu: run.machine.cpu, bus: run.bus, os: run.os });
}

describe('random RTAS calls and BAR accesses (property)', () => {
  // The seed is in the test's name and in fast-check's failure report; VHW_SEED=<n> replays it.
  const seed = Number(process.env.VHW_SEED ?? Date.now() % 2 ** 31);

  it(`never throw out of the VMM, and after the guest rebinds its drivers the workload runs (seed ${seed})`, () => {
    fc.assert(
      fc.property(fc.constantFrom(0, 1), fc.nat({ max: 1 }), fc.array(guestAction, { maxLength: 60 }), (which, cfg, actions) => {
        const scenario = which === 0 ? ppc64 : generic;
        const run = prepare(scenario, CONFIGS[cfg]!);
        try {
          const before = { ...run.vmm.counters };
          for (const a of actions) play(run, a);
          // Every refused RTAS call was answered with an error status, and counted.
          const refused = actions.filter(
            (a) =>
              a.kind === 'change-msi' && run.bus.functions[a.device % run.bus.functions.length]!.paravirtMsi && !Number.isInteger(a.count),
          ).length;
          expect(run.vmm.counters.rtasErrors - before.rtasErrors).toBeGreaterThanOrEqual(refused);
          expect(run.vmm.audit()).toEqual([]);
          rebind(run);
          expectWorkloadWorks(run);
        } finally {
          run.machine.dispose();
        }
      }),
      { seed, numRuns: Number(process.env.VHW_RUNS ?? 40) },
    );
  });
});
