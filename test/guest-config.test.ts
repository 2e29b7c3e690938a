/**
 * Whatever a guest does to a passed-through function's config space, the VMM answers it and
 * goes on: a BAR the guest moves where its MMIO windows do not decode is simply not mapped
 * while it is there (and mapped exactly as before when moved back), accesses past the end
 * of a conventional function's 256-byte config space or not naturally aligned are answered
 * as a master abort (reads all-ones, writes dropped) and counted as unassigned.
 */
import { type Machine, Path } from '@vhw/core';
import { type GuestPciFunction, findCapability } from '@vhw/guest';
import { CapId, Cfg } from '@vhw/pci';
import {
  ALL_PATCHES,
  type ExperimentConfig,
  NO_PATCHES,
  type PreparedRun,
  type Scenario,
  barResults,
  loadScenario,
  prepare,
} from '@vhw/experiment';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';

const CONFIGS: Array<{ label: string; config: ExperimentConfig }> = [
  { label: 'no patches', config: { patches: NO_PATCHES, variant: 'rfc-2015', seed: 1 } },
  { label: 'all patches', config: { patches: ALL_PATCHES, variant: 'rfc-2015', seed: 1 } },
];

let ppc64: Scenario;
let generic: Scenario;
beforeAll(async () => {
  ppc64 = await loadScenario('ppc64-mixed');
  generic = await loadScenario('generic-mixed');
});

/** Everything the VMM has installed for the guest: MMU mappings and flat-view regions. */
function guestView(m: Machine, run: PreparedRun): unknown {
  return {
    mmu: m.mmu.entries.map((e) => ({
      name: e.name,
      kind: e.kindName,
      base: e.base,
      size: e.size,
      hostPa: e.hostPa,
      owner: e.owner,
      reasonId: e.reasonId,
    })),
    space: run.vmm.space.entries.map((r) => ({ name: r.name, base: r.base, size: r.size, owner: r.owner, tag: r.tag })),
    bars: barResults(run.vmm).map((b) => ({ ...b, areas: b.areas.map((a) => ({ ...a, traps: 0 })) })),
  };
}

/** Every driver runs `ops` operations; all must complete. */
function expectWorkloadWorks(run: PreparedRun, ops = 32): void {
  for (const d of run.drivers) expect(d.run(ops), d.device).toEqual({ completed: ops, failed: 0 });
}

describe('a guest moving a 64-bit BAR above what its window decodes', () => {
  for (const { label, config } of CONFIGS) {
    it(`${label}: an upper dword >= 0x00200000 does not throw, unmaps the BAR, and moving it back restores it`, () => {
      const run = prepare(ppc64, config);
      const m = run.machine;
      const fn = run.bus.find('nvme0');
      const bar = run.vmm.bars.find((b) => b.device === 'nvme0' && b.index === 0)!;
      const home = bar.guestAddress;
      const hi = fn.configRead(Cfg.Bar0 + 4, 4);
      const before = guestView(m, run);
      expect(() => fn.configWrite(Cfg.Bar0 + 4, 4, 0x00200000)).not.toThrow();
      // The register holds what the guest wrote; nothing of the BAR is mapped.
      expect(fn.configRead(Cfg.Bar0 + 4, 4)).toBe(0x00200000);
      expect(m.mmu.entries.filter((e) => e.owner === 'nvme0')).toEqual([]);
      expect(run.vmm.space.entries.filter((r) => r.owner === 'nvme0')).toEqual([]);
      // The old address is unassigned now: all-ones, counted.
      const u0 = m.stats.unassigned;
      expect(m.cpu.mmioLoad(home, 4)).toBe(0xffffffff);
      expect(m.stats.unassigned).toBe(u0 + 1);
      // Back home: the same mappings as before, and the device works.
      fn.configWrite(Cfg.Bar0 + 4, 4, hi);
      expect(bar.guestAddress).toBe(home);
      expect(guestView(m, run)).toEqual(before);
      expectWorkloadWorks(run);
      expect(run.vmm.audit()).toEqual([]);
      m.dispose();
    });
  }

  it('an upper dword of all-ones but one is not a sizing probe: the BAR is unmapped, its register reads it back exactly', () => {
    const run = prepare(generic, CONFIGS[1]!.config);
    const fn = run.bus.find('nvme0');
    const lo = fn.configRead(Cfg.Bar0, 4);
    expect(() => fn.configWrite(Cfg.Bar0 + 4, 4, 0xfffffffe)).not.toThrow();
    expect(fn.configRead(Cfg.Bar0 + 4, 4)).toBe(0xfffffffe);
    expect(fn.configRead(Cfg.Bar0, 4)).toBe(lo);
    expect(run.machine.mmu.entries.filter((e) => e.owner === 'nvme0')).toEqual([]);
    fn.configWrite(Cfg.Bar0 + 4, 4, 0);
    expectWorkloadWorks(run);
    run.machine.dispose();
  });
});

describe('a guest moving a BAR outside its MMIO windows (below 2^53)', () => {
  it('the BAR is not mapped while it is there, and mapped as before when moved back', () => {
    const run = prepare(ppc64, CONFIGS[1]!.config);
    const m = run.machine;
    const fn = run.bus.find('nvme0');
    const bar = run.vmm.bars.find((b) => b.device === 'nvme0' && b.index === 0)!;
    const lo = fn.configRead(Cfg.Bar0, 4);
    const before = guestView(m, run);
    // 0x8000_0000 lies above both guest windows (64-bit 0x4000_0000+512 MiB, 32-bit 0x6000_0000+256 MiB).
    fn.configWrite(Cfg.Bar0, 4, 0x8000_0000);
    expect(bar.guestAddress).toBe(0x8000_0000);
    expect(m.mmu.entries.filter((e) => e.owner === 'nvme0')).toEqual([]);
    const u0 = m.stats.unassigned;
    expect(m.cpu.mmioLoad(0x8000_0000, 4)).toBe(0xffffffff);
    expect(m.stats.unassigned).toBe(u0 + 1);
    fn.configWrite(Cfg.Bar0, 4, lo);
    expect(guestView(m, run)).toEqual(before);
    expectWorkloadWorks(run);
    m.dispose();
  });

  it('a BAR moved onto another is mapped again once the other one leaves', () => {
    const run = prepare(ppc64, CONFIGS[1]!.config);
    const m = run.machine;
    const a = run.bus.find('nvme0');
    const b = run.bus.find('nic0');
    const barA = run.vmm.bars.find((x) => x.device === 'nvme0' && x.index === 0)!;
    const barB = run.vmm.bars.find((x) => x.device === 'nic0' && x.index === 0)!;
    const loA = a.configRead(Cfg.Bar0, 4);
    const loB = b.configRead(Cfg.Bar0, 4);
    const before = guestView(m, run);
    a.configWrite(Cfg.Bar0, 4, barB.guestAddress % 2 ** 32);
    expect(barA.installed.directs.length + barA.installed.regions.length).toBe(0);
    // nic0 moves away, then back where nvme0 was: nvme0 is decoded again where it sits now.
    b.configWrite(Cfg.Bar0, 4, loA);
    expect(barA.installed.directs.length + barA.installed.regions.length).toBeGreaterThan(0);
    b.configWrite(Cfg.Bar0, 4, 0x7ff0_0000);
    a.configWrite(Cfg.Bar0, 4, loA);
    b.configWrite(Cfg.Bar0, 4, loB);
    expect(guestView(m, run)).toEqual(before);
    expectWorkloadWorks(run);
    expect(run.vmm.audit()).toEqual([]);
    m.dispose();
  });
});

describe('guest config accesses a conventional function does not decode', () => {
  const build = () => prepare(ppc64, CONFIGS[0]!.config);

  it('a read of the extended config space (0x100, where Linux looks for PCIe capabilities) reads all-ones, counted', () => {
    const run = build();
    const fn = run.bus.find('nvme0');
    const u0 = run.machine.stats.unassigned;
    expect(fn.configRead(0x100, 4)).toBe(0xffffffff);
    expect(fn.configRead(0xffc, 2)).toBe(0xffff);
    expect(fn.configRead(0x100, 1)).toBe(0xff);
    expect(run.machine.stats.unassigned).toBe(u0 + 3);
    run.machine.dispose();
  });

  it('a 4-byte read at 0xfe (crossing the end of config space) reads all-ones, counted', () => {
    const run = build();
    const fn = run.bus.find('nvme0');
    const u0 = run.machine.stats.unassigned;
    expect(fn.configRead(0xfe, 4)).toBe(0xffffffff);
    expect(run.machine.stats.unassigned).toBe(u0 + 1);
    run.machine.dispose();
  });

  it('a misaligned read (a dword at 0x02, a word at 0x03) is not passed to the device: all-ones, counted', () => {
    const run = build();
    const fn = run.bus.find('nvme0');
    const u0 = run.machine.stats.unassigned;
    expect(fn.configRead(0x02, 4)).toBe(0xffffffff);
    expect(fn.configRead(0x03, 2)).toBe(0xffff);
    expect(run.machine.stats.unassigned).toBe(u0 + 2);
    // Aligned reads still reach the device.
    expect(fn.configRead(Cfg.VendorId, 2)).toBe(fn.vendorId);
    run.machine.dispose();
  });

  it('an 8-byte config access (no such access on PCI) is answered, not thrown: reads all-ones, writes dropped', () => {
    const run = build();
    const fn = run.bus.find('nvme0') as GuestPciFunction & {
      configRead(o: number, s: number): number;
      configWrite(o: number, s: number, v: number): void;
    };
    const u0 = run.machine.stats.unassigned;
    const cmd = fn.configRead(Cfg.Command, 2);
    expect(fn.configRead(0, 8)).toBe(0xffffffff);
    expect(() => fn.configWrite(Cfg.Command, 8, 0)).not.toThrow();
    expect(fn.configRead(Cfg.Command, 2)).toBe(cmd);
    expect(run.machine.stats.unassigned).toBe(u0 + 2);
    run.machine.dispose();
  });

  it('writes there are dropped and counted, and the device goes on working', () => {
    const run = build();
    const fn = run.bus.find('nvme0');
    const u0 = run.machine.stats.unassigned;
    const cmd = fn.configRead(Cfg.Command, 2);
    expect(() => fn.configWrite(0x100, 4, 0)).not.toThrow();
    expect(() => fn.configWrite(0xfe, 4, 0)).not.toThrow();
    expect(() => fn.configWrite(Cfg.Command - 1, 2, 0)).not.toThrow();
    expect(fn.configRead(Cfg.Command, 2)).toBe(cmd);
    expect(run.machine.stats.unassigned).toBe(u0 + 3);
    expectWorkloadWorks(run);
    run.machine.dispose();
  });

  it('with tracing on, each such access is an unassigned event of the function config space', () => {
    const run = build();
    const seen: Array<{ space: string; addr: number; isWrite: boolean; reason: string }> = [];
    run.machine.trace(true);
    run.machine.events.on('unassigned', (e) => seen.push({ space: e.space, addr: e.addr, isWrite: e.isWrite, reason: e.reason }));
    const fn = run.bus.find('nvme0');
    fn.configRead(0x100, 4);
    fn.configWrite(0xfe, 4, 1);
    fn.configRead(0x02, 4);
    expect(seen).toEqual([
      { space: 'nvme0:config', addr: 0x100, isWrite: false, reason: 'no-region' },
      { space: 'nvme0:config', addr: 0xfe, isWrite: true, reason: 'straddle' },
      { space: 'nvme0:config', addr: 0x02, isWrite: false, reason: 'invalid-size' },
    ]);
    run.machine.dispose();
  });
});

/** One random guest config access. */
interface ConfigOp {
  device: number;
  write: boolean;
  offset: number;
  size: 1 | 2 | 4 | 8;
  value: number;
}

const configOp: fc.Arbitrary<ConfigOp> = fc.record({
  device: fc.nat({ max: 2 }),
  write: fc.boolean(),
  // Offsets anywhere in a 4 KiB extended config space, with the BAR registers and the
  // header weighted up so moves happen often.
  offset: fc.oneof(fc.integer({ min: 0, max: 0xfff }), fc.integer({ min: 0, max: 0x3f })),
  size: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const),
  value: fc.oneof(
    fc.integer({ min: 0, max: 0xffffffff }),
    fc.constantFrom(0, 0xffffffff, 0x00200000, 0x8000_0000, 0x4000_0000),
    fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
  ),
});

/** What a guest saves before playing with config space (as Linux's pci_save_state): the registers it restores. */
interface SavedConfig {
  bars: number[];
  command: number;
  msix: { at: number; control: number } | undefined;
}

function saveConfig(fn: GuestPciFunction): SavedConfig {
  const at = findCapability(fn, CapId.MsiX);
  return {
    bars: Array.from({ length: 6 }, (_, i) => fn.configRead(Cfg.Bar0 + i * 4, 4)),
    command: fn.configRead(Cfg.Command, 2),
    msix: at < 0 ? undefined : { at, control: fn.configRead(at + 2, 2) },
  };
}

/** The BARs first, then the command register (decode back on), then MSI-X's message control. */
function restoreConfig(fn: GuestPciFunction, saved: SavedConfig): void {
  for (const [i, v] of saved.bars.entries()) fn.configWrite(Cfg.Bar0 + i * 4, 4, v);
  fn.configWrite(Cfg.Command, 2, saved.command);
  if (saved.msix) fn.configWrite(saved.msix.at + 2, 2, saved.msix.control);
}

describe('random guest config accesses (property)', () => {
  const seed = Number(process.env.VHW_SEED ?? Date.now() % 2 ** 31);

  it(`never throw out of the VMM, and after the BARs are restored the workload matches an untouched machine (seed ${seed})`, () => {
    const ops = 48;
    const measure = (run: PreparedRun) => {
      run.machine.stats.reset();
      const results = run.drivers.map((d) => d.run(ops));
      const s = run.machine.stats;
      return {
        results,
        direct: s.count(Path.Direct),
        trapped: s.count(Path.Trap),
        reasons: s.trapsByReason,
        view: guestView(run.machine, run),
      };
    };
    const baseline = new Map<string, ReturnType<typeof measure>>();
    const scenarios = () => [
      { name: 'generic', scenario: generic },
      { name: 'ppc64', scenario: ppc64 },
    ];
    fc.assert(
      fc.property(fc.constantFrom(0, 1), fc.nat({ max: 1 }), fc.array(configOp, { maxLength: 40 }), (which, cfg, accesses) => {
        const { name, scenario } = scenarios()[which]!;
        const config = CONFIGS[cfg]!.config;
        const key = `${name}/${cfg}`;
        if (!baseline.has(key)) {
          const clean = prepare(scenario, config);
          baseline.set(key, measure(clean));
          clean.machine.dispose();
        }
        const run = prepare(scenario, config);
        try {
          const fns = run.bus.functions;
          const saved = fns.map(saveConfig);
          for (const a of accesses) {
            const fn = fns[a.device % fns.length]! as GuestPciFunction & {
              configRead(o: number, s: number): number;
              configWrite(o: number, s: number, v: number): void;
            };
            if (a.write) fn.configWrite(a.offset, a.size, a.value);
            else fn.configRead(a.offset, a.size);
          }
          for (const [i, fn] of fns.entries()) restoreConfig(fn, saved[i]!);
          expect(measure(run)).toEqual(baseline.get(key));
        } finally {
          run.machine.dispose();
        }
      }),
      { seed, numRuns: 40 },
    );
  });
});
