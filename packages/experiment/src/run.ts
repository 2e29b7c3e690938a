import { type CostModel, GUEST_IO_STACK, GuestMemoryToken, Machine, Path, VhwError, hex } from '@vhw/core';
import { type GuestDriver, GuestDriverToken, GuestOs, type GuestPciBus, GuestPciBusToken } from '@vhw/guest';
import { type HostBridge, PciHostToken } from '@vhw/pci';
import { VfioToken, type VfioPciDriver } from '@vhw/vfio-pci';
import { type Vmm, VmmToken } from '@vhw/vmm';
import { type PluginOverrides, type PluginSet, applyPluginSets } from './plugin-sets.js';
import type { BarResult, PageMap, PageMapPage, RunResult } from './result.js';
import { pluginRecords } from './result-set.js';
import { type ExperimentConfig, MAX_OPS, type Scenario } from './scenario.js';

export interface RunOptions {
  ops?: number;
  /** Cost-model overrides by parameter name. */
  costs?: Record<string, number>;
  /** The `--vary` values of a sweep point, recorded in the result (the settings themselves come in `costs` and `pluginSets`). */
  vary?: Array<{ field: string; value: number | string }>;
  /** Receives per-access trace events when set. */
  trace?: (line: string) => void;
  /** Include the host page map in the result. */
  pageMap?: boolean;
  /** Plugin options set on the command line (`--set nvme0.layout=bar0-64k`), from `parseSetOptions`. */
  pluginSets?: readonly PluginSet[];
}

/** A machine built for one experiment point, probed and ready to run its workload. */
export interface PreparedRun {
  machine: Machine;
  bus: GuestPciBus;
  vmm: Vmm;
  bridge: HostBridge;
  drivers: GuestDriver[];
  os: GuestOs;
  /** The plugin options `pluginSets` changed (empty without them). */
  pluginOverrides: PluginOverrides;
}

/**
 * What a passthrough run takes from the machine, with the plugin that provides each: a
 * scenario whose machine() leaves one out is told which, not shown the container's dump.
 */
const PASSTHROUGH_SERVICES = [
  {
    token: PciHostToken,
    plugin: 'a PCI platform (ppc64Platform() from @vhw/platform-ppc64 or genericPlatform() from @vhw/platform-generic)',
  },
  { token: VfioToken, plugin: 'the vfio-pci plugin (vfioPci() from @vhw/vfio-pci)' },
  { token: VmmToken, plugin: 'the VMM plugin (vmm() from @vhw/vmm)' },
] as const;

/**
 * Builds the scenario's machine for `config` and probes every guest driver.
 * @throws VhwError E_CONFIG when the machine lacks a plugin a passthrough run needs (named)
 */
export function prepare(scenario: Scenario, config: ExperimentConfig, options: RunOptions = {}): PreparedRun {
  const { plugins, overrides } = applyPluginSets(scenario.machine(config), options.pluginSets ?? [], scenario.name);
  const machine = Machine.create({ plugins, costs: options.costs, name: scenario.name });
  const missing = PASSTHROUGH_SERVICES.filter((s) => !machine.container.isBound(s.token)).map((s) => s.plugin);
  if (missing.length > 0) {
    machine.dispose();
    throw new VhwError(
      'E_CONFIG',
      `scenario ${scenario.name}: its machine() lacks ${missing.join(' and ')}; add ${missing.length > 1 ? 'them' : 'it'} to the plugins machine() returns, or build the machine with passthroughMachine({ platform, devices }, config)`,
    );
  }
  const vmm = machine.get(VmmToken);
  const bridge = machine.get(PciHostToken);
  const drivers = machine.getAll(GuestDriverToken);
  if (drivers.length === 0) {
    throw new VhwError(
      'E_CONFIG',
      `scenario ${scenario.name}: no guest driver; add a device plugin that contributes one (GuestDriverToken)`,
    );
  }
  const os = new GuestOs(machine.cpu, machine.get(GuestMemoryToken), undefined, machine.clock);
  const bus = machine.get(GuestPciBusToken);
  for (const d of drivers) d.probe({ cpu: machine.cpu, bus, os });
  machine.cpu.deliverPending();
  if (options.trace) {
    const t = options.trace;
    machine.trace(true);
    machine.events.on('access', (e) =>
      t(`${e.timeNs.toFixed(1)} ${e.path} ${e.isWrite ? 'W' : 'R'}${e.size} ${hex(e.gpa)} = ${hex(e.value >>> 0)}`),
    );
    machine.events.on('trap', (e) => t(`${e.timeNs.toFixed(1)} trap ${hex(e.gpa)} reason=${e.reason}`));
    machine.events.on('isolation', (e) => t(`${e.timeNs.toFixed(1)} eeh ${e.group} ${e.state} (${e.cause})`));
  }
  return { machine, vmm, bridge, drivers, os, bus, pluginOverrides: overrides };
}

/**
 * Runs one experiment point: builds and probes the machine, then runs the workload
 * (ops spread over the drivers in interleaved chunks) and measures the simulated time
 * and the paths the accesses took. Nothing here knows what the result should be.
 */
export function runExperiment(scenario: Scenario, config: ExperimentConfig, options: RunOptions = {}): RunResult {
  const run = prepare(scenario, config, options);
  try {
    return measure(scenario, config, run, options);
  } finally {
    run.machine.dispose();
  }
}

const CHUNK = 16;

function measure(scenario: Scenario, config: ExperimentConfig, run: PreparedRun, options: RunOptions): RunResult {
  const { machine, vmm, drivers } = run;
  const ops = workloadOps(scenario, options.ops);
  machine.stats.reset();
  machine.clock.meter.resetAttribution(); // like the statistics, the per-charge breakdown covers the workload
  vmm.space.resetCounts(); // per-area trap counts cover the workload only, not the probe
  const t0 = machine.clock.now;
  let completed = 0;
  let failed = 0;
  // The guest's own work per operation (its I/O stack), charged as plain CPU time.
  const ioStack = machine.clock.meter.resolve(GUEST_IO_STACK, machine.costs);
  const share = drivers.map((_, i) => Math.floor(ops / drivers.length) + (i < ops % drivers.length ? 1 : 0));
  for (let left = ops; left > 0; ) {
    for (const [i, driver] of drivers.entries()) {
      const n = Math.min(CHUNK, share[i]!);
      if (n === 0) continue;
      share[i] = share[i]! - n;
      left -= n;
      const r = driver.run(n);
      ioStack.addTimes(n);
      completed += r.completed;
      failed += r.failed;
      // A failure is what makes a guest look at EEH (an all-ones read, a timeout).
      if (r.failed > 0) run.os.handleEeh(run.bus, driver.device, drivers);
    }
  }
  machine.cpu.deliverPending();
  const simulatedNs = machine.clock.now - t0;
  if (!Number.isFinite(simulatedNs)) throw nonFiniteTime(machine.costs, simulatedNs);
  const s = machine.stats;
  const direct = s.count(Path.Direct);
  const trapped = s.count(Path.Trap);
  const platform = machine.platform;
  // Read from the host's PE state (no guest exit, so nothing is charged after the measurement).
  const frozenAtEnd = run.bridge.groups.filter((g) => g.frozen || run.os.eehFailedPes.has(g.id)).length;
  return {
    scenario: scenario.name,
    platform: { name: platform.name, pageSize: platform.pageSize, eeh: platform.eeh, barSpanBytes: barSpanBytes(run.bridge) },
    variant: config.variant,
    patches: { ...config.patches },
    seed: config.seed,
    workload: {
      ops,
      simulatedNs,
      opsPerSecond: simulatedNs > 0 ? (completed / simulatedNs) * 1e9 : 0,
      completed,
      failed,
      eehRecoveries: run.os.eehRecoveries,
      // Only when a PE is left frozen: the results of runs that end healthy keep their shape.
      ...(frozenAtEnd > 0 ? { frozenAtEnd } : {}),
    },
    mmio: { direct, trapped, trapsByReason: s.trapsByReason },
    bars: barResults(vmm),
    isolation: { violations: vmm.audit().length },
    topTrappedPages: topTrappedPages(run),
    costs: machine.costs.toJSON(),
    ...(Object.keys(run.pluginOverrides).length > 0 ? { pluginOverrides: run.pluginOverrides } : {}),
    ...(options.vary ? { vary: options.vary } : {}),
    ...(options.pageMap ? { pageMap: buildPageMap(run) } : {}),
    plugins: pluginRecords(machine.plugins),
  };
}

/**
 * The operations a run takes: `ops` (`--ops`) when given, else the scenario's own.
 * @param source - how the user named the scenario (its file), for the message
 * @throws VhwError E_CONFIG when `ops` is not an integer 1..MAX_OPS, or when it is not given
 *   and the scenario has no valid `ops` (a scenario file not made with defineScenario)
 */
export function workloadOps(scenario: Scenario, ops?: number, source = `scenario ${scenario.name}`): number {
  const allowed = `an integer 1..${MAX_OPS}`;
  if (ops !== undefined) {
    if (!Number.isSafeInteger(ops) || ops < 1 || ops > MAX_OPS) throw new VhwError('E_CONFIG', `--ops ${String(ops)}; allowed: ${allowed}`);
    return ops;
  }
  const own: unknown = scenario.ops;
  if (typeof own === 'number' && Number.isSafeInteger(own) && own >= 1 && own <= MAX_OPS) return own;
  throw new VhwError(
    'E_CONFIG',
    own === undefined
      ? `${source} lacks ops and --ops was not given; allowed: ops: ${allowed} in the scenario (defineScenario checks it), or --ops N`
      : `${source}: ops ${JSON.stringify(own)} and --ops was not given; allowed: ops: ${allowed} in the scenario, or --ops N`,
  );
}

/** The error of a run whose simulated time overflowed: it names the costs that were set, largest first. */
function nonFiniteTime(costs: CostModel, simulatedNs: number): VhwError {
  const rows = costs.rows();
  const set = rows.filter((r) => r.overridden);
  const named = (set.length > 0 ? set : rows).sort((a, b) => b.value - a.value).map((r) => `cost.${r.name}=${r.value}`);
  return new VhwError(
    'E_CONFIG',
    `the simulated time is not a finite number (${simulatedNs}) with ${named.slice(0, 3).join(', ')}; allowed: costs small enough that the run's time stays below ${Number.MAX_VALUE} ns (lower the largest, or --ops)`,
  );
}

/** Bytes of host MMIO each isolation group's BARs span (first to last byte), summed: patch 1 makes it grow. */
export function barSpanBytes(bridge: HostBridge): number {
  let total = 0;
  for (const g of bridge.groups) {
    const bars = g.functions.flatMap((f) => f.bars);
    if (bars.length === 0) continue;
    total += Math.max(...bars.map((b) => b.address + b.size)) - Math.min(...bars.map((b) => b.address));
  }
  return total;
}

/** The BARs as the VMM installed them, in the result contract's shape. */
export function barResults(vmm: Vmm): BarResult[] {
  return vmm.barReport().map(({ bar: b, areas }) => {
    const directBytes = areas.filter((a) => a.path === 'direct').reduce((n, a) => n + a.size, 0);
    const traps = areas.filter((a) => a.path === 'trap');
    return {
      device: b.device,
      bar: b.index,
      address: hex(b.hostAddress),
      guestAddress: hex(b.guestAddress),
      size: b.size,
      mmap: directBytes === b.size ? 'full' : directBytes === 0 ? 'none' : 'partial',
      reason: traps.length === 0 ? (areas[0]?.reason ?? 'mmap') : dominant(traps),
      areas: areas.map((a) => ({ offset: a.offset, size: a.size, path: a.path, reason: a.reason, traps: a.traps })),
    };
  });
}

function dominant(areas: ReadonlyArray<{ size: number; reason: string }>): string {
  const by = new Map<string, number>();
  for (const a of areas) by.set(a.reason, (by.get(a.reason) ?? 0) + a.size);
  return [...by.entries()].sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0]))[0]![0];
}

function topTrappedPages(run: PreparedRun, n = 5): RunResult['topTrappedPages'] {
  const pages = run.machine.stats
    .pages()
    .filter((p) => p.trap > 0)
    .sort((a, b) => b.trap - a.trap || a.page - b.page)
    .slice(0, n);
  return pages.map((p) => {
    const reasons = new Set<string>();
    for (const b of run.vmm.bars) {
      for (const a of b.plan.areas) {
        const lo = b.guestAddress + a.offset;
        if (a.path === 'trap' && lo < p.page + run.vmm.pageSize && p.page < lo + a.size) reasons.add(a.reason);
      }
    }
    return { page: hex(p.page), traps: p.trap, reasons: [...reasons] };
  });
}

/** The host MMIO pages holding passed-through BARs, what is in each and how the guest reaches it. */
export function buildPageMap(run: Pick<PreparedRun, 'vmm' | 'bridge'>): PageMap {
  const P = run.vmm.pageSize;
  const pages = new Map<number, PageMapPage>();
  const pageAt = (hpa: number): PageMapPage => {
    let p = pages.get(hpa);
    if (!p) {
      const seg = run.bridge.segmentsIn(hpa, 1)[0];
      p = { hostPa: hpa, group: seg?.group, pieces: [], path: 'unused' };
      pages.set(hpa, p);
    }
    return p;
  };
  const passed = new Set(run.vmm.bars.map((b) => `${b.device}:${b.index}`));
  for (const fn of run.bridge.functions) {
    for (const bar of fn.bars) {
      const vb = run.vmm.bars.find((b) => b.device === fn.name && b.index === bar.index);
      const areas = vb?.plan.areas ?? [{ offset: 0, size: bar.size, path: 'trap' as const, reason: 'not-passed-through' }];
      for (const a of areas) {
        for (let off = a.offset; off < a.offset + a.size; ) {
          const hpa = bar.address + off;
          const page = Math.floor(hpa / P) * P;
          const end = Math.min(a.offset + a.size, page + P - bar.address);
          pageAt(page).pieces.push({
            device: fn.name,
            bar: bar.index,
            offset: hpa - page,
            size: end - off,
            path: passed.has(`${fn.name}:${bar.index}`) ? a.path : 'unmapped',
            reason: a.reason,
          });
          off = end;
        }
      }
    }
  }
  for (const p of pages.values()) {
    const paths = new Set(p.pieces.map((x) => x.path));
    p.path = paths.size === 0 ? 'unused' : paths.size > 1 ? 'mixed' : paths.has('direct') ? 'direct' : 'trap';
  }
  return { pageSize: P, pages: [...pages.values()].sort((a, b) => a.hostPa - b.hostPa) };
}

/** The vfio-pci driver of a prepared run (for explanations). */
export function vfioOf(run: PreparedRun): VfioPciDriver {
  return run.machine.get(VfioToken);
}
