/**
 * Random guest accesses against every built-in scenario: anywhere (BARs, the remainder of
 * grown sub-page pages, guest RAM, the gaps, random 40-bit addresses), any width, aligned
 * or not, reads and writes, mixed with config-space reads and writes of every passed-through
 * function (BAR registers with new addresses, sizing probes, the command register, MSI-X
 * control, extended config space, odd sizes and offsets). Nothing may throw, every MMIO
 * access is counted exactly once, nothing-decodes answers all-ones, an access into a PE's
 * segment that no BAR decodes freezes exactly that PE, isolation holds afterwards, and the
 * machine stays usable.
 *
 * What an access should meet is decided by an oracle that shares no code with the machine's
 * maps: the host and guest BAR tables read from config space (`@vhw/test-support`'s
 * `BarTableOracle`), and which path (RAM, direct, trap) the access took.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { GuestMemoryToken, type GuestInterruptHandler, type IsolationEvent, PageKind, Path, allOnes } from '@vhw/core';
import type { GuestDriver } from '@vhw/guest';
import { Cfg, type HostBridge, type IsolationGroup, MSIX_CAP_OFFSET } from '@vhw/pci';
import { Ppc64Phb } from '@vhw/platform-ppc64';
import { BarTableOracle, directMappingViolations, guestBarSources, hostBarSources, readBarTable } from '@vhw/test-support';
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
  kind: 'mmio';
  gpa: number;
  size: Size;
  write: boolean;
  value: number;
  high: number;
}
/** A guest config access to function `fn` (index into the guest bus), any size and offset. */
interface ConfigAccess {
  kind: 'config';
  fn: number;
  offset: number;
  size: 1 | 2 | 4;
  write: boolean;
  value: number;
}
/** Share of the stream that goes to config space. */
const CONFIG_SHARE = 0.08;

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

/** A config access biased toward the BAR registers (with addresses worth moving a BAR to) and the emulated fields. */
function configAccess(run: PreparedRun, rnd: () => number): ConfigAccess {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const fns = run.vmm.functions;
  const fn = Math.floor(rnd() * fns.length);
  const P = run.vmm.pageSize;
  const r = rnd();
  let offset: number;
  let size: 1 | 2 | 4 = pick([1, 2, 4, 4] as const);
  if (r < 0.5) {
    offset = Cfg.Bar0 + 4 * Math.floor(rnd() * 6);
    size = rnd() < 0.85 ? 4 : size;
  } else if (r < 0.6) offset = Cfg.Command;
  else if (r < 0.7) offset = MSIX_CAP_OFFSET + Math.floor(rnd() * 12);
  else if (r < 0.8) offset = pick([0xfc, 0xfd, 0xfe, 0xff, 0x100, 0x104, 0xffc, 0x1000]);
  else offset = Math.floor(rnd() * 0x110);
  if (rnd() < 0.7) offset -= offset % size;
  // Values for a BAR register: another BAR's guest address (either half), a page boundary a
  // little off it, all-ones (sizing), a high dword above the window, or noise.
  const other = pick(run.vmm.bars);
  const value = pick([
    other.guestAddress % 2 ** 32,
    Math.floor(other.guestAddress / 2 ** 32),
    (other.guestAddress % 2 ** 32) + P,
    ((other.guestAddress % 2 ** 32) + Math.floor(rnd() * 16) * 0x100) >>> 0,
    0xffffffff,
    pick([0x1, 0x1f_ffff, 0x20_0000, 0x8000_0000]),
    Math.floor(rnd() * 2 ** 32),
  ]);
  return { kind: 'config', fn, offset, size, write: rnd() < 0.6, value: value >>> 0 };
}

/** A stream of accesses biased toward the interesting places of this machine. */
function* accesses(run: PreparedRun, seed: number, count: number): Generator<Access | ConfigAccess> {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const P = run.vmm.pageSize;
  const ram = run.machine.mmu.entries.find((m) => m.kindName === 'ram')!;
  const grown = run.vmm.bars.filter((b) => b.plan.grown);
  const bars = run.vmm.bars;
  for (let i = 0; i < count; i++) {
    if (rnd() < CONFIG_SHARE) {
      yield configAccess(run, rnd);
      continue;
    }
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
    yield { kind: 'mmio', gpa, size, write: rnd() < 0.5, value: Math.floor(rnd() * 2 ** 32), high: Math.floor(rnd() * 2 ** 32) };
  }
}

/** What an access touches, decided by the oracle from the BAR tables and the path it took. */
interface Target {
  /** Nothing decodes it: no RAM, no guest BAR, and on a direct page no host BAR. */
  unassigned: boolean;
  /** The PE whose segment it reaches with no BAR there (aligned accesses to direct pages only). */
  segmentPe: IsolationGroup | undefined;
  /** The devices whose guest BAR (or direct page) the access starts in: the only PEs it may freeze. */
  devices: string[];
  /** What the access reached that the oracle says it must not (a direct page with no guest BAR of its own, a foreign host BAR). */
  violations: string[];
}

/** The oracle's view of a run: host BAR table with segments, guest BAR table from the guest's config reads, guest RAM. */
interface Oracles {
  host: BarTableOracle;
  guest: BarTableOracle;
  ram: ReadonlyArray<{ base: number; size: number }>;
}

/**
 * Whether a guest BAR register pair reads back a sizing mask (the guest wrote all-ones and
 * no address since): the BAR's place is then the one before the probe.
 */
function sizing(f: PreparedRun['vmm']['functions'][number], index: number, size: number): boolean {
  const low = f.configRead(Cfg.Bar0 + index * 4, 4) >>> 0;
  const mask = (~(size - 1) & 0xfffffff0) >>> 0;
  if ((low & 0xfffffff0) >>> 0 !== mask) return false;
  return !f.barIs64(index) || f.configRead(Cfg.Bar0 + index * 4 + 4, 4) >>> 0 === 0xffffffff;
}

function oraclesOf(run: PreparedRun, previous?: Oracles): Oracles {
  const { bridge, vmm } = run;
  const segments =
    bridge instanceof Ppc64Phb ? { base: bridge.segments[0]!.base, size: bridge.segmentSize, count: bridge.segments.length } : undefined;
  const host = readBarTable(hostBarSources(bridge));
  const guest = readBarTable(guestBarSources(vmm.functions)).map((b) => {
    if (!previous || !sizing(vmm.functions.find((f) => f.name === b.device)!, b.index, b.size)) return b;
    return previous.guest.table.find((p) => p.device === b.device && p.index === b.index) ?? b;
  });
  const ram = run.machine.get(GuestMemoryToken).entries.map((b) => ({ base: b.base, size: b.size }));
  return { host: new BarTableOracle(host, segments), guest: new BarTableOracle(guest), ram };
}

function classify(run: PreparedRun, o: Oracles, a: Access, path: number): Target {
  const P = run.vmm.pageSize;
  const violations: string[] = [];
  const inRam = o.ram.some((r) => overlaps(r.base, r.size, a.gpa, a.size));
  const inBar = o.guest.barsIn(a.gpa, a.size).length > 0;
  const devices = o.guest.barsIn(a.gpa, 1).map((b) => b.device);
  // The guest BAR whose pages hold the access: the only thing a direct page there may map.
  const pageBar = o.guest.table.find((b) => a.gpa >= b.address - (b.address % P) && a.gpa < Math.ceil((b.address + b.size) / P) * P);
  let hostBar = false;
  let segmentPe: IsolationGroup | undefined;
  if (path === Path.Direct) {
    const hb = pageBar && o.host.table.find((b) => b.device === pageBar.device && b.index === pageBar.index);
    if (!pageBar || !hb) violations.push(`went direct in a guest page that holds no guest BAR`);
    else if (a.gpa + a.size <= Math.ceil((pageBar.address + pageBar.size) / P) * P) {
      const hpa = hb.address + (a.gpa - pageBar.address);
      const bars = o.host.barsIn(hpa, a.size);
      hostBar = bars.length > 0;
      for (const b of bars)
        if (b.device !== pageBar.device) violations.push(`went direct to host 0x${hpa.toString(16)}: ${b.device} BAR${b.index}`);
      devices.push(pageBar.device);
      // Only a naturally aligned access leaves the CPU for a direct page; the core answers
      // any other with all-ones without a bus cycle, so it cannot reach the PHB.
      const seg = o.host.segmentOf(hpa);
      if (!hostBar && a.gpa % a.size === 0 && seg !== undefined) {
        const groups = [...o.host.segmentGroups(seg)];
        if (groups.length !== 1) violations.push(`went direct into segment ${seg} holding BARs of [${groups.join(', ')}]`);
        else segmentPe = run.bridge.groups.find((g) => g.id === groups[0]);
      }
    }
  }
  return { unassigned: !inRam && !inBar && !hostBar, segmentPe, devices, violations };
}

/** Every direct mapping of the run checked against the oracle. */
function isolationViolations(run: PreparedRun, previous?: Oracles): string[] {
  const { host, guest } = oraclesOf(run, previous);
  return run.machine.mmu.entries
    .filter((m) => m.kind === PageKind.Direct)
    .flatMap((m) =>
      directMappingViolations({ name: m.name, gpa: m.base, hostPa: m.hostPa, size: m.size, owner: m.owner }, host, guest, run.vmm.pageSize),
    );
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
        let configIssued = 0;
        const seed = config.seed * 1000 + names.indexOf(name);
        // Where firmware put the BARs and what the command registers held, for the guest to put back.
        const homes = run.vmm.bars.map((b) => ({ bar: b, home: b.guestAddress }));
        const commands = run.vmm.functions.map((f) => f.configRead(Cfg.Command, 2));
        let oracle = oraclesOf(run);
        let accessNo = -1;
        for (const a of accesses(run, seed, ACCESSES)) {
          accessNo++;
          if (a.kind === 'config') {
            // The guest must never make the VMM throw, nor freeze another function's PE.
            const f = run.vmm.functions[a.fn]!;
            const before = frozenSet(bridge);
            const paths0 = [...machine.stats.byPath];
            const where = `seed ${seed}, access #${accessNo} config ${a.write ? 'W' : 'R'}${a.size} ${f.name}+0x${a.offset.toString(16)}`;
            try {
              if (a.write) f.configWrite(a.offset, a.size, a.value);
              else f.configRead(a.offset, a.size);
            } catch (e) {
              throw new Error(`${where} ${JSON.stringify(a)} threw: ${String(e)}`, { cause: e });
            }
            configIssued++;
            expect([...machine.stats.byPath], `${where}: a config access is no MMIO access`).toEqual(paths0);
            const own = bridge.findFunction(f.name).group.id;
            expect(
              [...frozenSet(bridge)].filter((g) => !before.has(g) && g.id !== own).map((g) => g.id),
              where,
            ).toEqual([]);
            if (a.write) oracle = oraclesOf(run, oracle);
            continue;
          }
          const before = frozenSet(bridge);
          const events = isolation.length;
          const paths0 = [...machine.stats.byPath];
          const traps0 = machine.stats.count(Path.Trap);
          let v = 0;
          try {
            if (a.write) machine.cpu.store(a.gpa, a.size, a.value, a.high);
            else v = machine.cpu.load(a.gpa, a.size);
          } catch (e) {
            throw new Error(`seed ${seed}, access #${accessNo} ${JSON.stringify(a)} threw: ${String(e)}`, { cause: e });
          }
          issued++;
          const where = `seed ${seed}, access #${accessNo} ${a.write ? 'W' : 'R'}${a.size} @0x${a.gpa.toString(16)}`;
          // Exactly one path counter moved, by one, on the read or write side as issued.
          const moved = [...machine.stats.byPath].map((n, i) => n - paths0[i]!);
          const t = classify(run, oracle, a, Math.floor(moved.indexOf(1) / 2));
          expect(t.violations, where).toEqual([]);
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
            const own = t.devices.map((d) => bridge.findFunction(d).group.id);
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
        expect(configIssued).toBeGreaterThan(ACCESSES * CONFIG_SHARE * 0.5);
        expect(run.vmm.counters.barMoves).toBeGreaterThan(0);
        // Isolation holds after the stream, against the oracle.
        expect(isolationViolations(run, oracle)).toEqual([]);

        // The guest puts its BARs back where firmware placed them and restores the command registers.
        for (const { bar, home } of homes) {
          if (bar.guestAddress === home) continue;
          const f = run.vmm.functions.find((x) => x.name === bar.device)!;
          const reg = Cfg.Bar0 + bar.index * 4;
          f.configWrite(reg, 4, (home % 2 ** 32) >>> 0);
          if (f.barIs64(bar.index)) f.configWrite(reg + 4, 4, Math.floor(home / 2 ** 32) >>> 0);
        }
        for (const [k, f] of run.vmm.functions.entries()) f.configWrite(Cfg.Command, 2, commands[k]!);
        expect(isolationViolations(run)).toEqual([]);

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
        expect(isolationViolations(run)).toEqual([]);
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
