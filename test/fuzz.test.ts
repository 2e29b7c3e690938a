/**
 * Random guest accesses against every built-in scenario: anywhere (BARs, the remainder of
 * grown sub-page pages, guest RAM, the gaps, random 40-bit addresses), any width, aligned
 * or not, reads and writes. Nothing may throw, every access is counted exactly once,
 * nothing-decodes answers all-ones, an access into a PE's segment that no BAR decodes
 * freezes exactly that PE, and the machine stays usable.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { type GuestInterruptHandler, type IsolationEvent, Path, allOnes } from '@vhw/core';
import type { GuestDriver } from '@vhw/guest';
import type { HostBridge, IsolationGroup } from '@vhw/pci';
import { Ppc64Phb } from '@vhw/platform-ppc64';
import type { PassthroughBar } from '@vhw/vmm';
import {
  ALL_PATCHES,
  type ExperimentConfig,
  NO_PATCHES,
  type PreparedRun,
  type Scenario,
  builtinScenarioNames,
  loadScenario,
  patchListOf,
  prepare,
} from '@vhw/experiment';

const CONFIGS: ExperimentConfig[] = [
  { patches: NO_PATCHES, variant: 'rfc-2015', seed: 11 },
  { patches: { alignBars: true, subPageMmap: true, msixMmap: false }, variant: 'rfc-2015', seed: 12 },
  { patches: ALL_PATCHES, variant: 'rfc-2015', seed: 13 },
  { patches: { alignBars: false, subPageMmap: true, msixMmap: true }, variant: 'upstream', seed: 14 },
];
const ACCESSES = 3000;
const GUEST_MMIO = { base: 0x2_0000_0000, size: 0x1_0000_0000 }; // the vmm plugin's defaults
const SIZES = [1, 2, 4, 8] as const;
type Size = (typeof SIZES)[number];

interface Access {
  gpa: number;
  size: Size;
  write: boolean;
  value: number;
  high: number;
}

/** mulberry32: a small seeded PRNG, so a failing stream can be replayed from its seed. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function overlaps(a: number, aLen: number, b: number, bLen: number): boolean {
  return a < b + bLen && b < a + aLen;
}

/** A stream of accesses biased toward the interesting places of this machine. */
function* accesses(run: PreparedRun, seed: number, count: number): Generator<Access> {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const P = run.vmm.pageSize;
  const ram = run.machine.mmu.entries.find((m) => m.kindName === 'ram')!;
  const grown = run.vmm.bars.filter((b) => b.plan.grown);
  const bars = run.vmm.bars;
  for (let i = 0; i < count; i++) {
    const size = pick(SIZES);
    let gpa: number;
    const r = rnd();
    if (r < 0.3) {
      const b = pick(bars);
      gpa = b.guestAddress + Math.floor(rnd() * b.size);
    } else if (r < 0.45 && grown.length > 0) {
      const b = pick(grown);
      gpa = b.guestAddress + b.size + Math.floor(rnd() * (P - b.size));
    } else if (r < 0.6) {
      gpa = ram.base + Math.floor(rnd() * ram.size);
    } else if (r < 0.7) {
      // Near an edge: a BAR's or RAM's start or end, or a page boundary, a few bytes either side.
      const b = pick(bars);
      const edge = pick([b.guestAddress, b.guestAddress + b.size, b.guestAddress + P, ram.base + ram.size, b.guestAddress - P]);
      gpa = Math.max(0, edge + Math.floor(rnd() * 16) - 8);
    } else if (r < 0.85) {
      gpa = GUEST_MMIO.base + Math.floor(rnd() * GUEST_MMIO.size);
    } else {
      gpa = Math.floor(rnd() * 2 ** 40);
    }
    if (rnd() < 0.5) gpa -= gpa % size; // half of them naturally aligned
    yield { gpa, size, write: rnd() < 0.5, value: Math.floor(rnd() * 2 ** 32), high: Math.floor(rnd() * 2 ** 32) };
  }
}

/** What an access touches, decided from the machine's maps before it runs. */
interface Target {
  /** Nothing decodes it: no RAM, no guest BAR, and on a direct page no host BAR. */
  unassigned: boolean;
  /** The PE whose segment it reaches with no BAR there (aligned accesses to direct pages only). */
  segmentPe: IsolationGroup | undefined;
  /** The device whose BAR (or direct page) the access starts in: the only PE it may freeze. */
  device: string | undefined;
}

function classify(run: PreparedRun, a: Access): Target {
  const { machine, vmm, bridge } = run;
  const ram = machine.mmu.entries.filter((m) => m.kindName === 'ram');
  const inRam = ram.some((m) => overlaps(m.base, m.size, a.gpa, a.size));
  const inBar = vmm.bars.some((b) => overlaps(b.guestAddress, b.size, a.gpa, a.size));
  const m = machine.mmu.lookup(a.gpa);
  const direct = m !== undefined && m.kind === 1 && a.gpa + a.size <= m.end;
  let hostBar = false;
  let segmentPe: IsolationGroup | undefined;
  if (direct) {
    const hpa = m.hostPa + (a.gpa - m.base);
    hostBar = bridge.ownersOf(hpa, a.size).some((o) => o.kind === 'bar');
    // Only a naturally aligned access leaves the CPU for a direct page; the core answers
    // any other with all-ones without a bus cycle, so it cannot reach the PHB.
    if (!hostBar && a.gpa % a.size === 0 && bridge instanceof Ppc64Phb) segmentPe = bridge.segmentAt(hpa)?.pe;
  }
  const bar: PassthroughBar | undefined = vmm.bars.find((b) => a.gpa >= b.guestAddress && a.gpa < b.guestAddress + b.size);
  const device = bar?.device ?? (direct ? m.owner : undefined);
  return { unassigned: !inRam && !inBar && !hostBar, segmentPe, device };
}

function frozenSet(bridge: HostBridge): Set<IsolationGroup> {
  return new Set(bridge.groups.filter((g) => g.frozen));
}

/** The guest's interrupt entry point, taken away while the stream runs (no driver code may add accesses). */
function muteInterrupts(run: PreparedRun): () => void {
  const cpu = run.machine.cpu as unknown as { interruptHandler: GuestInterruptHandler | undefined };
  const saved = cpu.interruptHandler;
  run.machine.cpu.onInterrupt(undefined);
  return () => run.machine.cpu.onInterrupt(saved);
}

const scenarios = new Map<string, Scenario>();
beforeAll(async () => {
  for (const name of builtinScenarioNames()) scenarios.set(name, await loadScenario(name));
});

describe('random guest accesses against the built-in scenarios', () => {
  const names = builtinScenarioNames();
  it('finds the built-in scenarios', () => {
    expect(names.length).toBeGreaterThanOrEqual(7);
  });

  for (const name of names) {
    for (const config of CONFIGS) {
      it(`${name} ${config.variant} ${patchListOf(config.patches)}: ${ACCESSES} accesses`, () => {
        const run = prepare(scenarios.get(name)!, config);
        const { machine, bridge } = run;
        const ppc = bridge instanceof Ppc64Phb && bridge.eeh ? bridge : undefined;
        const isolation: IsolationEvent[] = [];
        machine.events.on('isolation', (e) => isolation.push(e));
        const unmute = muteInterrupts(run);
        machine.stats.reset();
        let issued = 0;
        let unassignedReads = 0;
        let segmentHits = 0;
        let freezes = 0;
        const seed = config.seed * 1000 + names.indexOf(name);
        for (const a of accesses(run, seed, ACCESSES)) {
          const t = classify(run, a);
          const before = frozenSet(bridge);
          const events = isolation.length;
          const paths0 = [...machine.stats.byPath];
          const traps0 = machine.stats.count(Path.Trap);
          let v = 0;
          try {
            if (a.write) machine.cpu.store(a.gpa, a.size, a.value, a.high);
            else v = machine.cpu.load(a.gpa, a.size);
          } catch (e) {
            throw new Error(`seed ${seed}, access #${issued} ${JSON.stringify(a)} threw: ${String(e)}`, { cause: e });
          }
          issued++;
          const where = `seed ${seed}, access #${issued - 1} ${a.write ? 'W' : 'R'}${a.size} @0x${a.gpa.toString(16)}`;
          // Exactly one path counter moved, by one, on the read or write side as issued.
          const moved = [...machine.stats.byPath].map((n, i) => n - paths0[i]!);
          expect(
            moved.reduce((x, y) => x + y, 0),
            where,
          ).toBe(1);
          expect(moved.indexOf(1) % 2, where).toBe(a.write ? 1 : 0);
          // A trap is counted under exactly one reason.
          if (machine.stats.count(Path.Trap) !== traps0) {
            expect(
              Object.values(machine.stats.trapsByReason).reduce((x, y) => x + y, 0),
              where,
            ).toBe(machine.stats.count(Path.Trap));
          }
          if (t.unassigned && !a.write) {
            unassignedReads++;
            if (a.size === 8) expect([v >>> 0, machine.cpu.high >>> 0], where).toEqual([0xffffffff, 0xffffffff]);
            else expect(v, where).toBe(allOnes(a.size));
          }
          const after = frozenSet(bridge);
          const newly = [...after].filter((g) => !before.has(g)).map((g) => g.id);
          if (t.segmentPe && ppc) {
            // Nothing decodes the address inside this PE's segment: the PHB freezes exactly it.
            segmentHits++;
            expect(after.has(t.segmentPe), where).toBe(true);
            expect(
              newly.filter((g) => g !== t.segmentPe!.id),
              where,
            ).toEqual([]);
            if (!before.has(t.segmentPe)) {
              expect(
                isolation.slice(events).map((e) => [e.group, e.state]),
                where,
              ).toEqual([[t.segmentPe.id, 'frozen']]);
            }
          } else {
            // An access may only ever freeze the PE of the device it lands in (its DMA or MSI went wrong).
            const own = t.device === undefined ? [] : [bridge.findFunction(t.device).group.id];
            expect(
              newly.filter((g) => !own.includes(g)),
              where,
            ).toEqual([]);
          }
          if (!ppc) expect(after.size, where).toBe(0);
          // Recover at once (the RTAS reset the guest's EEH core would ask for, without its
          // drivers), so that later accesses into a segment meet a PE that is not frozen yet.
          // The last tenth of the stream leaves freezes for the guest's EEH core below.
          freezes += newly.length;
          if (issued < ACCESSES * 0.9) for (const g of after) run.bus.find(g.functions[0]!.name).eeh!.recover();
        }
        // Every access counted exactly once, on exactly one path; every trap with exactly one reason.
        const s = machine.stats;
        const byPath = [...s.byPath].reduce((x, y) => x + y, 0);
        expect(byPath).toBe(issued);
        expect(s.count(Path.Ram) + s.count(Path.Direct) + s.count(Path.Trap)).toBe(issued);
        expect(Object.values(s.trapsByReason).reduce((x, y) => x + y, 0)).toBe(s.count(Path.Trap));
        expect(unassignedReads).toBeGreaterThan(50);
        const grown = run.vmm.bars.some((b) => b.plan.grown);
        if (ppc && grown) expect(segmentHits).toBeGreaterThan(0);
        if (ppc) expect(freezes).toBeGreaterThan(0);

        // The machine stays usable: recover every frozen PE the way the guest's EEH core
        // does, re-initialise the drivers (the stream scribbled over their rings and
        // registers), and every driver completes its operations again.
        unmute();
        machine.cpu.deliverPending();
        const recoveries = run.os.eehRecoveries;
        const frozen = bridge.groups.filter((x) => x.frozen);
        for (const g of frozen) expect(run.os.handleEeh(run.bus, g.functions[0]!.name, run.drivers)).toBe(true);
        expect(run.os.eehRecoveries - recoveries).toBe(frozen.length);
        expect(bridge.groups.filter((x) => x.frozen)).toEqual([]);
        for (const d of run.drivers) d.probe({ cpu: machine.cpu, bus: run.bus, os: run.os });
        for (const d of run.drivers) expect(d.run(64), d.device).toEqual({ completed: 64, failed: 0 });
        expect(run.vmm.audit()).toEqual([]);
        machine.dispose();
      });
    }
  }
});

describe('an access no BAR decodes freezes only its own PE (ppc64-mixed, all patches)', () => {
  for (const variant of ['rfc-2015', 'upstream'] as const) {
    it(`${variant}: nvme0's page remainder freezes pe of nvme0; nic0 and nvme1 keep working`, () => {
      const run = prepare(scenarios.get('ppc64-mixed')!, { patches: ALL_PATCHES, variant, seed: 1 });
      const { machine, bridge, vmm } = run;
      const phb = bridge as Ppc64Phb;
      const driver = (name: string): GuestDriver => run.drivers.find((d) => d.device === name)!;
      for (const d of run.drivers) expect(d.run(20)).toEqual({ completed: 20, failed: 0 });
      const bar = vmm.bars.find((b) => b.device === 'nvme0' && b.index === 0)!;
      expect(bar.plan.grown).toBe(true);
      const pe = bridge.findFunction('nvme0').group;
      const isolation: IsolationEvent[] = [];
      machine.events.on('isolation', (e) => isolation.push(e));

      // Random reads and writes in the part of nvme0's direct page that no BAR decodes.
      const rnd = prng(variant === 'rfc-2015' ? 5 : 6);
      for (let i = 0; i < 200; i++) {
        const size = SIZES[Math.floor(rnd() * 4)]!;
        const gpa = bar.guestAddress + bar.size + Math.floor(rnd() * (vmm.pageSize - bar.size - 8));
        expect(machine.mmu.translate(gpa).path).toBe('direct');
        if (rnd() < 0.5) machine.cpu.store(gpa, size, 0xdeadbeef, 0xdeadbeef);
        else {
          const v = machine.cpu.load(gpa, size);
          expect(size === 8 ? v : v | 0).toBe(size === 8 ? 0xffffffff : allOnes(size) | 0);
        }
      }
      expect(phb.eehState(pe)).toBe('frozen');
      expect(pe.freezes).toBe(1);
      expect(isolation.map((e) => [e.group, e.state])).toEqual([[pe.id, 'frozen']]);
      expect(isolation[0]!.cause).toMatch(/decoded by no BAR/);
      expect(bridge.groups.filter((g) => g.frozen)).toEqual([pe]);

      // The other PEs are untouched: their drivers complete everything, no EEH needed.
      expect(driver('nic0').run(64)).toEqual({ completed: 64, failed: 0 });
      expect(driver('nvme1').run(64)).toEqual({ completed: 64, failed: 0 });
      // nvme0 itself is frozen: it times out, the guest's EEH core recovers it, and it works again.
      const r = driver('nvme0').run(16);
      expect(r.failed).toBeGreaterThan(0);
      expect(r.completed + r.failed).toBe(16);
      expect(run.os.handleEeh(run.bus, 'nvme0', run.drivers)).toBe(true);
      expect(phb.eehState(pe)).toBe('normal');
      expect(driver('nvme0').run(64)).toEqual({ completed: 64, failed: 0 });
      expect(driver('nic0').run(64)).toEqual({ completed: 64, failed: 0 });
      expect(vmm.audit()).toEqual([]);
      machine.dispose();
    });
  }
});
