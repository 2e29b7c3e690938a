import { createWriteStream, type WriteStream } from 'node:fs';
import { resolve } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { SingleBar } from 'cli-progress';
import { Machine, PATCHES, VARIANTS, type Variant, VhwError, hex, parsePatchList, patchListOf } from '@vhw/core';
import { REASON_REMEDY } from '@vhw/vfio-pci';
import { VMM_REASON_REMEDY } from '@vhw/vmm';
import { readFileSync } from 'node:fs';
import {
  DEFAULT_SCENARIO,
  type ExperimentConfig,
  type RunResult,
  type Scenario,
  buildPageMap,
  builtinScenarioNames,
  executeGrid,
  loadScenario,
  orderResults,
  parseSets,
  parseShard,
  parseVariants,
  parseVary,
  prepare,
  runExperiment,
  shardOf,
  sweepGrid,
  vfioOf,
} from '@vhw/experiment';
import { listPlugins } from './plugins.js';
import { requireDir, writeFileAtomic } from './output.js';
import { htmlReport, pageMapSvg, pageMapText, runTable, sweepChartSvg, sweepTable, toCsv, varyChartSvg } from './render/index.js';

const PAGE_SIZES: Record<string, number> = { '4k': 4096, '16k': 16384, '64k': 65536 };

function parsePageSize(v: string): number {
  const n = PAGE_SIZES[v.toLowerCase()];
  if (n === undefined) throw new InvalidArgumentError(`allowed: ${Object.keys(PAGE_SIZES).join(', ')}`);
  return n;
}

function parsePositiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('allowed: a positive integer');
  return n;
}

function parseVariant(v: string): Variant {
  const variant = VARIANTS.find((x) => x === v);
  if (variant === undefined) throw new InvalidArgumentError(`allowed: ${VARIANTS.join(', ')}`);
  return variant;
}

/** `--patches`, written once for every command that runs one combination (ids and P1..P3 from core's vocabulary). */
function patchesOption(): Option {
  const names = PATCHES.map((p) => `${p.id} (${p.short})`).join(', ');
  return new Option('--patches <list>', `none, all, or a comma list of ${names}`).default('none');
}

/** `--variant`: one variant, or with `both` (sweep) each of them. */
function variantOption(both: boolean): Option {
  const o = new Option('--variant <v>', [...VARIANTS, ...(both ? ['both'] : [])].join(', ')).default('rfc-2015');
  return both ? o : o.argParser(parseVariant);
}

function parseFormat<F extends string>(allowed: readonly F[]): (v: string) => F {
  return (v) => {
    const f = allowed.find((x) => x === v);
    if (f === undefined) throw new InvalidArgumentError(`allowed: ${allowed.join(', ')}`);
    return f;
  };
}

const collect = (v: string, prev: string[]) => [...prev, v];

/** The output formats of the commands that print results. */
type ResultFormat = 'table' | 'json' | 'csv';

/** What commander gives every command that builds one experiment point (`pointOptions`; `run` adds its own). */
interface PointOptions {
  /** `--patches`: none, all or a comma list, parsed by core's `parsePatchList`. */
  patches: string;
  variant: Variant;
  pageSize?: number;
  seed: number;
}

/** The options `experimentOptions` adds: workload size, seed and cost overrides. */
interface WorkloadOptions {
  pageSize?: number;
  ops?: number;
  seed: number;
  /** `--set cost.FIELD=VALUE`, repeated. */
  set: string[];
}

/** `vhw run`. */
interface RunCommandOptions extends PointOptions, WorkloadOptions {
  format: ResultFormat;
  trace?: string;
}

/** `vhw sweep`. */
interface SweepCommandOptions extends WorkloadOptions {
  /** One variant or `both`, parsed by `parseVariants`. */
  variant: string;
  format: ResultFormat;
  out?: string;
  vary?: string;
  steps: number;
  log?: boolean;
  jobs: number;
  shard?: string;
  /** False with `--no-progress`. */
  progress: boolean;
}

/** `vhw merge`. */
interface MergeCommandOptions {
  format: ResultFormat;
  out?: string;
}

/** `vhw map`. */
interface MapCommandOptions extends PointOptions {
  out?: string;
  format: 'text' | 'svg';
}

/** `vhw explain`. */
interface ExplainCommandOptions extends PointOptions {
  address: string;
}

/** `vhw list`. */
interface ListCommandOptions {
  format: 'table' | 'json';
}

/** How a sweep's results are printed, and the cost overrides its page maps are drawn with. */
interface EmitOptions {
  format: ResultFormat;
  costs?: Record<string, number>;
}

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

/** Parses an address: hex/decimal guest address, or DEVICE:BARn[+OFFSET]. */
function parseAddress(text: string): { gpa?: number; device?: string; bar?: number; offset?: number } {
  const m = /^([A-Za-z0-9_.-]+):BAR([0-5])(?:\+(0x[0-9a-fA-F]+|\d+))?$/.exec(text);
  if (m) return { device: m[1], bar: Number(m[2]), offset: m[3] ? Number(m[3]) : 0 };
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new VhwError(
      'E_CONFIG',
      `--address ${text}; allowed: a guest address (e.g. 0x200001000) or DEVICE:BARn+OFFSET (e.g. nvme0:BAR0+0x1000)`,
    );
  }
  return { gpa: n };
}

function configOf(opts: PointOptions): ExperimentConfig {
  return {
    patches: parsePatchList(opts.patches),
    variant: opts.variant,
    seed: opts.seed,
    ...(opts.pageSize ? { pageSize: opts.pageSize } : {}),
  };
}

async function cmdRun(io: Io, scenarioRef: string, o: RunCommandOptions): Promise<void> {
  const scenario = await loadScenario(scenarioRef);
  let trace: WriteStream | undefined;
  if (o.trace) trace = await openTrace(o.trace);
  try {
    const r = runExperiment(scenario, configOf(o), {
      ops: o.ops,
      costs: parseSets(o.set),
      trace: trace ? (line) => trace!.write(`${line}\n`) : undefined,
    });
    if (o.format === 'json') io.out(JSON.stringify(r, null, 2));
    else if (o.format === 'csv') io.out(toCsv([r]));
    else io.out(runTable(r));
  } finally {
    if (trace) await new Promise((res) => trace!.end(res));
  }
}

async function openTrace(file: string): Promise<WriteStream> {
  const s = createWriteStream(resolve(file));
  await new Promise<void>((res, rej) => {
    s.once('open', () => res());
    s.once('error', (e) => rej(new VhwError('E_NOT_FOUND', `--trace ${file}: cannot write: ${e.message}`)));
  });
  return s;
}

async function cmdSweep(io: Io, scenarioRef: string | undefined, o: SweepCommandOptions): Promise<void> {
  const ref = scenarioRef ?? DEFAULT_SCENARIO;
  const outDir = o.out ? requireDir(o.out, '--out') : undefined;
  const scenario = await loadScenario(ref);
  const variants = parseVariants(o.variant);
  const vary = o.vary ? parseVary(o.vary, o.steps, o.log === true) : undefined;
  const costs = parseSets(o.set);
  let points = sweepGrid(scenario.name, variants, vary);
  if (o.shard) points = shardOf(points, parseShard(o.shard));
  const bar =
    o.progress !== false && process.stderr.isTTY
      ? new SingleBar({ format: 'sweep {bar} {value}/{total} runs', stream: process.stderr, hideCursor: true })
      : undefined;
  bar?.start(points.length, 0);
  const refForWorkers = scenarioRef && (scenarioRef.includes('/') || /\.(m?[jt]s)$/.test(scenarioRef)) ? resolve(scenarioRef) : ref;
  let results: RunResult[];
  try {
    results = await executeGrid(scenario, points, {
      scenarioRef: refForWorkers,
      ops: o.ops,
      costs,
      pageSize: o.pageSize,
      seed: o.seed,
      jobs: o.jobs,
      onProgress: (d) => bar?.update(d),
    });
  } finally {
    bar?.stop();
  }
  await emitSweep(io, results, { format: o.format, costs }, outDir, scenario);
}

async function emitSweep(io: Io, results: RunResult[], o: EmitOptions, outDir: string | undefined, scenario?: Scenario): Promise<void> {
  if (o.format === 'json') io.out(JSON.stringify(results, null, 2));
  else if (o.format === 'csv') io.out(toCsv(results));
  else io.out(sweepTable(results));
  if (!outDir) return;
  const hasVary = results.some((r) => r.vary);
  const sweepSvg = await sweepChartSvg(results, { measure: 'speedup' });
  const varySvg = hasVary ? await varyChartSvg(results) : undefined;
  const pageMaps: Array<{ label: string; svg: string }> = [];
  let costRows: Array<{ name: string; value: number; unit: string; source: string; confidence: string }> | undefined;
  if (scenario) {
    // Page maps of the two ends of the experiment, for each variant present.
    for (const variant of [...new Set(results.map((r) => r.variant))]) {
      for (const patches of ['none', 'all']) {
        const first = results.find((r) => r.variant === variant) ?? results[0];
        const pageSize = first?.platform.pageSize;
        const run = prepare(
          scenario,
          { patches: parsePatchList(patches), variant, seed: first?.seed ?? 1, ...(pageSize ? { pageSize } : {}) },
          { costs: o.costs },
        );
        pageMaps.push({
          label: `${scenario.name} ${variant} patches=${patches}`,
          svg: pageMapSvg(buildPageMap(run), { title: `${scenario.name}, ${variant}, patches: ${patches}` }),
        });
        if (!costRows)
          costRows = run.machine.costs
            .rows()
            .map((c) => ({ name: c.name, value: c.value, unit: c.unit, source: c.source, confidence: c.confidence }));
        run.machine.dispose();
      }
    }
  }
  writeFileAtomic(`${outDir}/results.json`, `${JSON.stringify(results, null, 2)}\n`);
  writeFileAtomic(`${outDir}/results.csv`, toCsv(results));
  writeFileAtomic(`${outDir}/chart.svg`, sweepSvg);
  if (varySvg) writeFileAtomic(`${outDir}/vary.svg`, varySvg);
  writeFileAtomic(
    `${outDir}/report.html`,
    htmlReport({
      title: `vhw sweep: ${[...new Set(results.map((r) => r.scenario))].join(', ')}`,
      results,
      sweepSvg,
      varySvg,
      pageMaps,
      costs: costRows,
    }),
  );
  io.err(`wrote results.json, results.csv, chart.svg${varySvg ? ', vary.svg' : ''}, report.html to ${outDir}`);
}

async function cmdMerge(io: Io, files: string[], o: MergeCommandOptions): Promise<void> {
  const outDir = o.out ? requireDir(o.out, '--out') : undefined;
  const all: RunResult[] = [];
  for (const f of files) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(f, 'utf8'));
    } catch (e) {
      throw new VhwError('E_CONFIG', `merge: ${f} is not a JSON results file: ${(e as Error).message}`);
    }
    if (!Array.isArray(parsed)) throw new VhwError('E_CONFIG', `merge: ${f} holds no array of results (write shards with --format json)`);
    all.push(...(parsed as RunResult[]));
  }
  const ordered = orderResults(all);
  const names = [...new Set(ordered.map((r) => r.scenario))];
  const scenario = names.length === 1 && builtinScenarioNames().includes(names[0]) ? await loadScenario(names[0]) : undefined;
  await emitSweep(io, ordered, { format: o.format }, outDir, scenario);
}

async function cmdMap(io: Io, scenarioRef: string, o: MapCommandOptions): Promise<void> {
  const scenario = await loadScenario(scenarioRef);
  const run = prepare(scenario, configOf(o));
  try {
    const map = buildPageMap(run);
    const title = `${scenario.name}, ${o.variant}, patches: ${patchListOf(parsePatchList(o.patches))}`;
    if (o.out) {
      writeFileAtomic(o.out, pageMapSvg(map, { title }));
      io.err(`wrote ${o.out}`);
    }
    if (!o.out || o.format === 'text') io.out(pageMapText(map));
  } finally {
    run.machine.dispose();
  }
}

async function cmdExplain(io: Io, scenarioRef: string, o: ExplainCommandOptions): Promise<void> {
  const scenario = await loadScenario(scenarioRef);
  const run = prepare(scenario, configOf(o));
  try {
    const a = parseAddress(o.address);
    let gpa = a.gpa;
    if (gpa === undefined) {
      const bar = run.vmm.bars.find((b) => b.device === a.device && b.index === a.bar);
      if (!bar) {
        throw new VhwError(
          'E_NOT_FOUND',
          `--address ${o.address}: no passed-through ${a.device}:BAR${a.bar}; BARs: ${run.vmm.bars.map((b) => `${b.device}:BAR${b.index}`).join(', ')}`,
        );
      }
      gpa = bar.guestAddress + (a.offset ?? 0);
    }
    const e = run.vmm.explain(gpa);
    const t = run.machine.mmu.translate(gpa);
    const lines: string[] = [];
    lines.push(
      `guest address ${hex(gpa)} (${scenario.name}, ${o.variant}, patches: ${patchListOf(parsePatchList(o.patches))}, page ${run.vmm.pageSize / 1024} KiB)`,
    );
    if (!e) {
      lines.push(
        `  guest page ${hex(Math.floor(gpa / run.vmm.pageSize) * run.vmm.pageSize)}: ${t.path === 'ram' ? 'guest RAM (direct)' : 'no passed-through BAR here'}`,
      );
      lines.push(`  path: ${t.path === 'ram' ? 'ram' : 'trap → VMM → unassigned (reads all-ones, writes dropped)'}`);
      io.out(lines.join('\n'));
      return;
    }
    const dev = vfioOf(run).device(e.bar.device);
    lines.push(`  guest page ${hex(e.guestPage)} → host page ${hex(e.hostPage)}`);
    lines.push(
      `  BAR: ${e.bar.device} BAR${e.bar.index} (${e.bar.size} bytes) guest ${hex(e.bar.guestAddress)} host ${hex(e.bar.hostAddress)}, offset ${hex(e.offset)}`,
    );
    const region = dev.getRegionInfo(e.bar.index);
    lines.push(
      `  vfio region info: flags=${hex(region.flags)} caps=[${region.caps.map((c) => ('areas' in c ? `sparse-mmap ${c.areas.map((x) => `${hex(x.offset)}+${hex(x.size)}`).join(' ')}` : 'msix-mappable')).join(', ')}], device flags=${hex(dev.getDeviceInfo().flags)}`,
    );
    if (e.area.path === 'direct' && e.offset >= e.bar.size) {
      lines.push(`  path: direct, but past the end of the BAR: nothing decodes it (reads all-ones; on PPC64 the PE freezes)`);
    } else if (e.area.path === 'direct') {
      lines.push(`  path: direct (mmapped host page mapped into the guest; no exit), reason: ${e.area.reason}`);
    } else {
      const via =
        e.area.via === 'fd'
          ? 'pread/pwrite on the vfio device fd'
          : e.area.via === 'qemu-mmap'
            ? "the VMM's own mmap (no syscall)"
            : "the VMM's MSI-X table emulation";
      lines.push(`  path: trap → VMM exit → ${via}`);
      lines.push(`  reason: ${e.area.reason}`);
      lines.push(`  would change with: ${REASON_REMEDY[e.area.reason] ?? VMM_REASON_REMEDY[e.area.reason] ?? 'nothing known'}`);
    }
    io.out(lines.join('\n'));
  } finally {
    run.machine.dispose();
  }
}

function cmdList(io: Io, o: ListCommandOptions): Promise<void> {
  return (async () => {
    const scenarios = [];
    for (const name of builtinScenarioNames()) {
      const s = await loadScenario(name);
      scenarios.push({ name, description: s.description, ops: s.ops, default: name === DEFAULT_SCENARIO });
    }
    const plugins = await listPlugins();
    // The cost parameters in force for the default scenario (core's and its plugins').
    const machine = Machine.create({
      plugins: (await loadScenario(DEFAULT_SCENARIO)).machine({ patches: parsePatchList('none'), variant: 'rfc-2015', seed: 1 }),
    });
    const costs = machine.costs
      .rows()
      .map(({ name, value, unit, description, source, confidence }) => ({ name, value, unit, description, source, confidence }));
    machine.dispose();
    if (o.format === 'json') {
      io.out(JSON.stringify({ scenarios, plugins, costs }, null, 2));
      return;
    }
    const lines = ['Scenarios (built-in, examples/scenarios):'];
    for (const s of scenarios) lines.push(`  ${s.name}${s.default ? ' (default)' : ''}: ${s.description} [${s.ops} ops]`);
    lines.push('', 'Plugins:');
    for (const p of plugins) {
      lines.push(`  ${p.name} (${p.kind}, ${p.package}): ${p.description}`);
      for (const opt of p.options)
        lines.push(
          `      ${opt.field}: ${opt.type}${opt.default !== undefined ? ` = ${JSON.stringify(opt.default)}` : ''}${opt.description ? `  ${opt.description}` : ''}`,
        );
    }
    lines.push('', `Cost parameters (override with --set cost.FIELD=VALUE; values for ${DEFAULT_SCENARIO}):`);
    for (const c of costs)
      lines.push(`  cost.${c.name} = ${c.value} ${c.unit} [${c.confidence}]: ${c.description}`, `      source: ${c.source}`);
    io.out(lines.join('\n'));
  })();
}

/** Builds the commander program; `io` receives output so tests can capture it. */
export function buildProgram(io: Io): Command {
  const program = new Command('vhw')
    .description('vhw, the virtual-hardware workbench: run passthrough experiments on emulated PPC64 and control machines')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.replace(/\n$/, '')), writeErr: (s) => io.err(s.replace(/\n$/, '')) });

  const experimentOptions = (c: Command) =>
    c
      .addOption(new Option('--page-size <size>', "host page size: 4k, 16k or 64k (default: the platform's)").argParser(parsePageSize))
      .addOption(new Option('--ops <n>', "workload operations (default: the scenario's)").argParser(parsePositiveInt))
      .addOption(new Option('--seed <n>', 'seed recorded with the run').argParser(parsePositiveInt).default(1))
      .option('--set <cost.FIELD=VALUE>', 'override a cost-model parameter (repeatable; see vhw list)', collect, []);

  // The options of a command that builds one experiment point and runs no workload (`PointOptions`).
  const pointOptions = (c: Command) =>
    c
      .addOption(patchesOption())
      .addOption(variantOption(false))
      .addOption(new Option('--page-size <size>', '4k, 16k or 64k').argParser(parsePageSize))
      .addOption(new Option('--seed <n>').argParser(parsePositiveInt).default(1).hideHelp());

  program
    .command('list')
    .description('list the built-in scenarios and the installed plugins with their options')
    .addOption(new Option('--format <fmt>', 'table or json').argParser(parseFormat(['table', 'json'])).default('table'))
    .action((o: ListCommandOptions) => cmdList(io, o));

  experimentOptions(
    program
      .command('run')
      .description('run one scenario at one patch combination')
      .argument('<scenario>', 'a built-in scenario name or the path of a .ts/.js scenario file')
      .addOption(patchesOption())
      .addOption(variantOption(false))
      .addOption(new Option('--format <fmt>', 'table, json or csv').argParser(parseFormat(['table', 'json', 'csv'])).default('table'))
      .option('--trace <file>', 'write every guest access and trap to FILE'),
  ).action((scenario: string, o: RunCommandOptions) => cmdRun(io, scenario, o));

  experimentOptions(
    program
      .command('sweep')
      .description(`run all 8 patch combinations and compare each with none (default scenario: ${DEFAULT_SCENARIO})`)
      .argument('[scenario]', 'a built-in scenario name or the path of a .ts/.js scenario file')
      .addOption(variantOption(true))
      .addOption(new Option('--format <fmt>', 'table, json or csv').argParser(parseFormat(['table', 'json', 'csv'])).default('table'))
      .option('--out <dir>', 'write results.json, results.csv, chart.svg, report.html (and vary.svg) to DIR')
      .option('--vary <cost.FIELD=A..B>', 'repeat the sweep over a cost parameter range (or a comma list)')
      .addOption(new Option('--steps <n>', 'points of a --vary range').argParser(parsePositiveInt).default(5))
      .option('--log', 'space --vary points geometrically')
      .addOption(new Option('--jobs <n>', 'worker threads').argParser(parsePositiveInt).default(1))
      .option('--shard <I/N>', 'run only shard I of N of the grid (merge the JSON with vhw merge)')
      .option('--no-progress', 'no progress bar'),
  ).action((scenario: string | undefined, o: SweepCommandOptions) => cmdSweep(io, scenario, o));

  program
    .command('merge')
    .description('join the JSON results of sweep shards into one result, table and charts')
    .argument('<files...>', 'results JSON files (vhw sweep --format json)')
    .addOption(new Option('--format <fmt>', 'table, json or csv').argParser(parseFormat(['table', 'json', 'csv'])).default('table'))
    .option('--out <dir>', 'write results.json, results.csv, chart.svg, report.html to DIR')
    .action((files: string[], o: MergeCommandOptions) => cmdMerge(io, files, o));

  const map = program
    .command('map')
    .description('draw the host MMIO pages: which BARs sit in which page, which are direct and which trap, and why')
    .argument('<scenario>', 'a built-in scenario name or a scenario file');
  pointOptions(map)
    .option('--out <file.svg>', 'write the map as SVG')
    .addOption(
      new Option('--format <fmt>', 'text (also printed when --out is not given)').argParser(parseFormat(['text', 'svg'])).default('svg'),
    )
    .action((scenario: string, o: MapCommandOptions) => cmdMap(io, scenario, o));

  const explain = program
    .command('explain')
    .description('for one guest address: the whole path an access takes, and for a trap the reason and the patch that would change it')
    .argument('<scenario>', 'a built-in scenario name or a scenario file')
    .requiredOption('--address <addr>', 'a guest address, or DEVICE:BARn+OFFSET (e.g. nvme0:BAR0+0x1000)');
  pointOptions(explain).action((scenario: string, o: ExplainCommandOptions) => cmdExplain(io, scenario, o));

  return program;
}

/** Runs the CLI; returns the exit code. Errors become one clear message, never a stack trace. */
export async function main(argv: string[], io: Io = { out: (s) => console.log(s), err: (s) => console.error(s) }): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (VhwError.is(e)) {
      io.err(`vhw: ${e.message}`);
      return 2;
    }
    io.err(
      `vhw: internal error: ${(e as Error)?.message ?? String(e)}${process.env.VHW_DEBUG ? `\n${(e as Error)?.stack}` : ' (set VHW_DEBUG=1 for the stack)'}`,
    );
    return 70;
  }
}
