import {
  ALL_PATCHES,
  type CostModel,
  GUEST_IO_STACK,
  GuestMemoryToken,
  Machine,
  NO_PATCHES,
  PATCHES,
  type PatchSet,
  Path,
  VhwError,
  hex,
} from '@vhw/core';
import { type GuestDriver, GuestDriverToken, GuestOs, type GuestPciBus, GuestPciBusToken } from '@vhw/guest';
import { type HostBridge, PciHostToken } from '@vhw/pci';
import { Reason, VfioToken, type VfioPciDriver } from '@vhw/vfio-pci';
import { type PlannedArea, type Vmm, VmmToken } from '@vhw/vmm';
import { type PluginOverrides, type PluginSet, applyPluginSets } from './plugin-sets.js';
import { barMsixRelocation, pageMapMsixRelocations, relocationOf } from './msix-relocation-report.js';
import type { BarResult, PageMap, PageMapPage, RegisterResult, RunResult, TrapServedVia } from './result.js';
import { pluginRecords } from './result-set.js';
import { type ExperimentConfig, MAX_OPS, type Scenario } from './scenario.js';
import { type TraceLineListener, type TraceRecorder, traceMachine } from './trace.js';

export interface RunOptions {
  ops?: number;
  /** Cost-model overrides by parameter name. */
  costs?: Record<string, number>;
  /** The `--vary` values of a sweep point, recorded in the result (the settings themselves come in `costs` and `pluginSets`). */
  vary?: Array<{ field: string; value: number | string }>;
  /**
   * Traces the run (the workload, after the probe): a recorder gets each access, trap and
   * isolation change as a record (`ChromeTraceWriter` writes them as trace-event JSON), a
   * function gets them as lines of the trace line format (`traceLine`).
   */
  trace?: TraceRecorder | TraceLineListener;
  /** Include the host page map in the result. */
  pageMap?: boolean;
  /** Plugin options set on the command line (`--set nvme0.layout=bar0-64k`), from `parseSetOptions`. */
  pluginSets?: readonly PluginSet[];
  /**
   * For a register-loop workload (`workload.unit` MMIO accesses): also run the point with
   * no patch and with all three (same variant, costs, ops) and record `allVsNone`.
   */
  allVsNone?: boolean;
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
  // A VMM that refused a device starts no guest: nothing to probe.
  if (!vmm.rejection) probeDrivers(vmm, drivers, { cpu: machine.cpu, bus, os });
  machine.cpu.deliverPending();
  if (options.trace) traceMachine({ machine, vmm, bridge }, options.trace);
  return { machine, vmm, bridge, drivers, os, bus, pluginOverrides: overrides };
}

/**
 * Probes every guest driver. Under a VMM other than QEMU a driver that fails (its device's
 * registers unreachable, e.g. kvmtool never maps an MSI-X BAR) is that VMM's answer for the
 * device: recorded as the run's rejection, so a sweep over VMMs goes on. Under QEMU it
 * fails the run as it always did.
 */
function probeDrivers(vmm: Vmm, drivers: readonly GuestDriver[], ctx: Parameters<GuestDriver['probe']>[0]): void {
  for (const d of drivers) {
    try {
      d.probe(ctx);
    } catch (e) {
      if (vmm.policy.id === 'qemu' || !VhwError.is(e)) throw e;
      const device = vmm.functions[0]?.name ?? '?';
      vmm.rejection = {
        vmm: vmm.policy.id,
        device,
        code: 'guest-driver-failed',
        why: `the VM starts but the guest driver fails: ${e.message}`,
      };
      return;
    }
  }
}

/**
 * Runs one experiment point: builds and probes the machine, then runs the workload
 * (ops spread over the drivers in interleaved chunks) and measures the simulated time
 * and the paths the accesses took. Nothing here knows what the result should be.
 */
export function runExperiment(scenario: Scenario, config: ExperimentConfig, options: RunOptions = {}): RunResult {
  const run = prepare(scenario, config, options);
  let result: RunResult;
  try {
    result = run.vmm.rejection ? rejectedResult(scenario, config, run, options) : measure(scenario, config, run, options);
  } finally {
    run.machine.dispose();
  }
  if (options.allVsNone && result.workload.unit === MMIO_ACCESS_UNIT) result.allVsNone = allVsNone(scenario, config, options, result);
  return result;
}

/**
 * MMIO accesses per simulated second of the scenario with no patch and with all three
 * (the cover letter's comparison), reusing `done` when it is one of the two points.
 */
function allVsNone(scenario: Scenario, config: ExperimentConfig, options: RunOptions, done: RunResult): RunResult['allVsNone'] {
  const { trace: _trace, pageMap: _pageMap, allVsNone: _again, ...rest } = options;
  const at = (patches: PatchSet): number =>
    PATCHES.every((p) => done.patches[p.key] === patches[p.key])
      ? done.workload.opsPerSecond
      : runExperiment(scenario, { ...config, patches }, rest).workload.opsPerSecond;
  const none = at(NO_PATCHES);
  const all = at(ALL_PATCHES);
  return { none, all, ratio: none > 0 ? all / none : 0 };
}

const CHUNK = 16;

/** `workload.unit` of a run whose every operation is one MMIO access (the `ppc64-mmio` workload). */
export const MMIO_ACCESS_UNIT = 'MMIO accesses';

function measure(scenario: Scenario, config: ExperimentConfig, run: PreparedRun, options: RunOptions): RunResult {
  const { machine, vmm, drivers } = run;
  const ops = workloadOps(scenario, options.ops);
  machine.stats.reset();
  machine.clock.meter.resetAttribution(); // like the statistics, the per-charge breakdown covers the workload
  vmm.space.resetCounts(); // per-area trap counts cover the workload only, not the probe
  // Per-register counts cover the workload only: switched on here (the BAR handlers swap in
  // their counting versions), off again after, so probing and other runs pay nothing.
  const devices = vmm.functions.map((f) => f.dev.fn.device);
  for (const d of devices) {
    d.clearRegisterCounts();
    d.countRegisters(true);
  }
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
      // A register-loop workload has no I/O stack between its accesses.
      if (driver.workload !== 'mmio') ioStack.addTimes(n);
      completed += r.completed;
      failed += r.failed;
      // A failure is what makes a guest look at EEH (an all-ones read, a timeout).
      if (r.failed > 0) run.os.handleEeh(run.bus, driver.device, drivers);
    }
  }
  machine.cpu.deliverPending();
  for (const d of devices) d.countRegisters(false);
  const simulatedNs = machine.clock.now - t0;
  if (!Number.isFinite(simulatedNs)) throw nonFiniteTime(machine.costs, simulatedNs);
  const s = machine.stats;
  const direct = s.count(Path.Direct);
  const trapped = s.count(Path.Trap);
  // Read from the host's PE state (no guest exit, so nothing is charged after the measurement).
  const frozenAtEnd = run.bridge.groups.filter((g) => g.frozen || run.os.eehFailedPes.has(g.id)).length;
  return {
    ...pointOf(scenario, config, run),
    patches: { ...config.patches },
    seed: config.seed,
    workload: {
      ops,
      simulatedNs,
      opsPerSecond: simulatedNs > 0 ? (completed / simulatedNs) * 1e9 : 0,
      completed,
      failed,
      eehRecoveries: run.os.eehRecoveries,
      // Only for a register-loop workload: what one operation is, so ops/s reads as MMIO accesses/s.
      ...(drivers.every((d) => d.workload === 'mmio') ? { unit: MMIO_ACCESS_UNIT } : {}),
      // Only when a PE is left frozen: the results of runs that end healthy keep their shape.
      ...(frozenAtEnd > 0 ? { frozenAtEnd } : {}),
    },
    mmio: { direct, trapped, trapsByReason: s.trapsByReason },
    bars: barResults(vmm),
    isolation: { violations: vmm.audit().length },
    topTrappedPages: topTrappedPages(run),
    topRegisters: topRegisters(vmm),
    costs: machine.costs.toJSON(),
    ...(Object.keys(run.pluginOverrides).length > 0 ? { pluginOverrides: run.pluginOverrides } : {}),
    ...(options.vary ? { vary: options.vary } : {}),
    ...(options.pageMap ? { pageMap: buildPageMap(run) } : {}),
    plugins: pluginRecords(machine.plugins),
  };
}

/** The experiment point of a result row: scenario, platform, variant, MSI-X relocation and VMM. */
function pointOf(
  scenario: Scenario,
  config: ExperimentConfig,
  run: PreparedRun,
): Pick<RunResult, 'scenario' | 'platform' | 'variant' | 'relocation' | 'vmm'> {
  const platform = run.machine.platform;
  return {
    scenario: scenario.name,
    platform: { name: platform.name, pageSize: platform.pageSize, eeh: platform.eeh, barSpanBytes: barSpanBytes(run.bridge) },
    variant: config.variant,
    relocation: relocationOf(run.vmm),
    vmm: run.vmm.policy.id,
  };
}

/**
 * The row of a run whose VMM refused a device layout: the experiment point and the refusal,
 * nothing measured (the VM would not start).
 */
function rejectedResult(scenario: Scenario, config: ExperimentConfig, run: PreparedRun, options: RunOptions): RunResult {
  const { machine, vmm } = run;
  const r = vmm.rejection!;
  return {
    ...pointOf(scenario, config, run),
    rejected: { vmm: r.vmm, why: r.why, device: r.device, code: r.code, ...(r.bar !== undefined ? { bar: r.bar } : {}) },
    patches: { ...config.patches },
    seed: config.seed,
    workload: { ops: 0, simulatedNs: 0, opsPerSecond: 0, completed: 0, failed: 0, eehRecoveries: 0 },
    mmio: { direct: 0, trapped: 0, trapsByReason: {} },
    bars: [],
    isolation: { violations: 0 },
    costs: machine.costs.toJSON(),
    ...(Object.keys(run.pluginOverrides).length > 0 ? { pluginOverrides: run.pluginOverrides } : {}),
    plugins: pluginRecords(machine.plugins),
    // A sweep's point, as on a measured row: merge and the tables key rows by it.
    ...(options.vary ? { vary: options.vary } : {}),
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
  const mem: BarResult[] = vmm.barReport().map(({ bar: b, areas }) => {
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
      areas: areas.map((a) => ({
        offset: a.offset,
        size: a.size,
        path: a.path,
        reason: a.reason,
        traps: a.traps,
        ...(a.path === 'trap' ? { via: trapVia(a) } : {}),
      })),
      ...msixRelocatedOf(vmm, b),
    };
  });
  // I/O BARs: never mmapped, reached only through the fd (the guest of this model has no port space).
  const io: BarResult[] = vmm.functions.flatMap((f) =>
    f.dev.ioRegions().map((r) => ({
      device: f.name,
      bar: r.index,
      address: hex(r.address),
      guestAddress: '-',
      size: r.size,
      mmap: 'none' as const,
      reason: r.reason,
      areas: [{ offset: 0, size: r.size, path: 'trap' as const, reason: r.reason, traps: 0, via: 'vfio-fd' as const }],
    })),
  );
  return io.length === 0 ? mem : [...mem, ...io];
}

/** How the VMM serves the traps of a planned area, in the result's words. */
export function trapVia(a: Pick<PlannedArea, 'via' | 'reason'>): TrapServedVia {
  if (a.reason === Reason.Unassigned) return 'unassigned';
  if (a.via === 'dropped') return 'unassigned';
  return a.via === 'qemu-mmap' ? 'vmm-mmap' : a.via === 'msix-table' || a.via === 'msix-pba' ? 'msix-emulation' : 'vfio-fd';
}

/**
 * The `n` registers the workload accessed most, over every passed-through device, with
 * the path and reason of the area holding each (I/O BARs: trap, `io-bar`, via the fd).
 */
export function topRegisters(vmm: Vmm, n = 10): RegisterResult[] {
  const out: RegisterResult[] = [];
  for (const f of vmm.functions) {
    const device = f.dev.fn.device;
    for (const c of device.registerCounts()) {
      const bar = vmm.bars.find((b) => b.device === f.name && b.index === c.bar);
      const area = bar?.plan.areas.find((a) => c.offset >= a.offset && c.offset < a.offset + a.size);
      const name = device.registers.nameAt(c.bar, c.offset);
      const r: RegisterResult = {
        device: f.name,
        bar: c.bar,
        offset: c.offset,
        size: c.size,
        ...(name !== undefined ? { name } : {}),
        reads: c.reads,
        writes: c.writes,
        path: area?.path ?? 'trap',
        reason: area?.reason ?? (bar ? Reason.Unassigned : Reason.IoBar),
      };
      if (r.path === 'trap') r.via = area ? trapVia(area) : 'vfio-fd';
      out.push(r);
    }
  }
  return out
    .sort((a, b) => b.reads + b.writes - (a.reads + a.writes) || a.device.localeCompare(b.device) || a.bar - b.bar || a.offset - b.offset)
    .slice(0, n);
}

/** The `msixRelocated` field of a BAR entry, only on the BAR holding a relocated MSI-X table. */
function msixRelocatedOf(vmm: Vmm, b: Parameters<typeof barMsixRelocation>[1]): Pick<BarResult, 'msixRelocated'> {
  const r = barMsixRelocation(vmm, b);
  return r ? { msixRelocated: r } : {};
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
        // Only the bytes the device backs are in host pages (a BAR doubled for a relocated
        // MSI-X table is larger in the guest).
        const areaEnd = Math.min(a.offset + a.size, bar.size);
        for (let off = a.offset; off < areaEnd; ) {
          const hpa = bar.address + off;
          const page = Math.floor(hpa / P) * P;
          const end = Math.min(areaEnd, page + P - bar.address);
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
  const relocations = pageMapMsixRelocations(run.vmm);
  return {
    pageSize: P,
    pages: [...pages.values()].sort((a, b) => a.hostPa - b.hostPa),
    ...(relocations.length > 0 ? { msixRelocations: relocations } : {}),
  };
}

/** The vfio-pci driver of a prepared run (for explanations). */
export function vfioOf(run: PreparedRun): VfioPciDriver {
  return run.machine.get(VfioToken);
}

/**
 * Where register `name` of passed-through device `device` lives (`vhw explain nvme0:SQ0TDBL`).
 * @throws VhwError E_NOT_FOUND naming the devices, or the device's registers, when there is no such register
 */
export function findRegister(run: Pick<PreparedRun, 'vmm'>, device: string, name: string): { bar: number; offset: number } {
  const f = run.vmm.functions.find((x) => x.name === device);
  if (!f) {
    throw new VhwError(
      'E_NOT_FOUND',
      `no passed-through device "${device}"; devices: ${run.vmm.functions.map((x) => x.name).join(', ') || 'none'}`,
    );
  }
  const map = f.dev.fn.device.registers;
  const r = map.find(name);
  if (!r) throw new VhwError('E_NOT_FOUND', `device ${device} names no register "${name}"; its registers: ${map.summary()}`);
  return { bar: r.bar, offset: r.offset };
}
