import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { SingleBar } from 'cli-progress';
import { VhwError } from '@vhw/core';
import {
  DEFAULT_SCENARIO,
  type RunResult,
  type VarySpec,
  executeGrid,
  parseSetOptions,
  parseRelocations,
  parseVmms,
  parseShard,
  parseVariants,
  parseVary,
  shardOf,
  sweepGrid,
  workloadOps,
} from '@vhw/experiment';
import { emitSweep } from '../emit-sweep.js';
import { type OutDir, openOutDir } from '../out-dir.js';
import type { Io } from '../output.js';
import { loadScenarioOf } from '../scenario-file.js';
import {
  type ResultFormat,
  type WorkloadOptions,
  collect,
  msixRelocationOption,
  vmmOption,
  parsePositiveInt,
  positiveIntOption,
  resultFormatOption,
  variantOption,
  workloadOptions,
} from '../options.js';

/** `vhw sweep`. */
export interface SweepCommandOptions extends WorkloadOptions {
  /** One variant or `both`, parsed by `parseVariants`. */
  variant: string;
  /** One relocation mode or `both`, parsed by `parseRelocations`. */
  msixRelocation?: string;
  /** One VMM or `all`, parsed by `parseVmms`. */
  vmm?: string;
  format: ResultFormat;
  out?: string;
  /** Each `--vary` given (one at most until grids exist). */
  vary: string[];
  /** `--steps`; undefined when not given (5 then). */
  steps?: number;
  log?: boolean;
  jobs: number;
  shard?: string;
  /** False with `--no-progress`. */
  progress: boolean;
}

/** `vhw sweep`: every patch combination (and `--vary` point) of one scenario, on worker threads, then printed and written. */
export async function sweepAction(io: Io, scenarioRef: string | undefined, o: SweepCommandOptions): Promise<void> {
  const ref = scenarioRef ?? DEFAULT_SCENARIO;
  const out = o.out ? openOutDir(o.out, '--out', io.err) : undefined;
  try {
    await sweepInto(io, ref, scenarioRef, o, out);
  } finally {
    out?.release();
  }
}

async function sweepInto(
  io: Io,
  ref: string,
  scenarioRef: string | undefined,
  o: SweepCommandOptions,
  out: OutDir | undefined,
): Promise<void> {
  const scenario = await loadScenarioOf(io, ref);
  workloadOps(scenario, o.ops, `scenario file ${ref}`);
  const variants = parseVariants(o.variant);
  const vary = varyOf(o);
  const { costs, pluginSets } = parseSetOptions(o.set);
  const grid = sweepGrid(scenario.name, variants, vary, parseRelocations(o.msixRelocation), parseVmms(o.vmm));
  const shard = o.shard ? parseShard(o.shard) : undefined;
  const points = shard ? shardOf(grid, shard) : grid;
  const bar =
    o.progress !== false && process.stderr.isTTY
      ? new SingleBar({ format: 'sweep {bar} {value}/{total} runs', stream: process.stderr, hideCursor: true })
      : undefined;
  bar?.start(points.length, 0);
  // Workers load the scenario themselves: a file path must not depend on their working directory.
  const refForWorkers = scenarioRef && (scenarioRef.includes('/') || /\.(m?[jt]s)$/.test(scenarioRef)) ? resolve(scenarioRef) : ref;
  let results: RunResult[];
  try {
    results = await executeGrid(scenario, points, {
      scenarioRef: refForWorkers,
      ops: o.ops,
      costs,
      pluginSets,
      pageSize: o.pageSize,
      seed: o.seed,
      jobs: o.jobs,
      onProgress: (d) => bar?.update(d),
    });
  } finally {
    bar?.stop();
  }
  const description = { scenario, scenarioRef: ref, variants, vary, ops: o.ops, seed: o.seed, pageSize: o.pageSize, costs, pluginSets };
  const sweep = { description, points, gridSize: grid.length, shard };
  await emitSweep(io, results, { format: o.format, costs, pluginSets, sweep }, out, scenario);
}

/** The `--vary` of the sweep, refusing what would be silently ignored: a second `--vary`, or `--steps`/`--log` without one. */
function varyOf(o: SweepCommandOptions): VarySpec | undefined {
  if (o.vary.length > 1) {
    throw new VhwError('E_CONFIG', `--vary given ${o.vary.length} times; grids are not supported yet: give one --vary`);
  }
  const text = o.vary[0];
  if (text === undefined) {
    const lone = [o.steps !== undefined ? '--steps' : '', o.log ? '--log' : ''].filter(Boolean).join(' and ');
    if (lone) throw new VhwError('E_CONFIG', `${lone} without --vary would be ignored; allowed: with --vary cost.FIELD=A..B only`);
    return undefined;
  }
  return parseVary(text, o.steps ?? DEFAULT_STEPS, o.log === true);
}

/** Points of a `--vary` range when `--steps` is not given. */
const DEFAULT_STEPS = 5;

/** Adds `vhw sweep` to `program`. */
export function addSweepCommand(program: Command, io: Io): void {
  workloadOptions(
    program
      .command('sweep')
      .description(`run all 8 patch combinations and compare each with none (default scenario: ${DEFAULT_SCENARIO})`)
      .argument('[scenario]', 'a built-in scenario name or the path of a .ts/.js scenario file')
      .addOption(variantOption(true))
      .addOption(msixRelocationOption(true))
      .addOption(vmmOption(true))
      .addOption(resultFormatOption())
      .option('--out <dir>', 'write results.json, results.csv, chart.svg, report.html (and vary.svg) to DIR')
      .option('--vary <cost.FIELD=A..B>', 'repeat the sweep over a cost parameter range (or a comma list)', collect, [])
      .addOption(new Option('--steps <n>', `points of a --vary range (default: ${DEFAULT_STEPS})`).argParser(parsePositiveInt))
      .option('--log', 'space --vary points geometrically')
      .addOption(positiveIntOption('--jobs <n>', 'worker threads', 1))
      .option('--shard <I/N>', 'run only shard I of N of the grid (merge the JSON with vhw merge)')
      .option('--no-progress', 'no progress bar'),
  ).action((scenario: string | undefined, o: SweepCommandOptions) => sweepAction(io, scenario, o));
}
