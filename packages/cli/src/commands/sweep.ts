import { resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { SingleBar } from 'cli-progress';
import { VhwError } from '@vhw/core';
import {
  DEFAULT_SCENARIO,
  type RunResult,
  type VarySpec,
  executeGrid,
  experimentStamper,
  parseSetOptions,
  parseRelocations,
  parseVmms,
  parseShard,
  parseVariants,
  parseVaryDimensions,
  shardOf,
  threadsFor,
  sweepGrid,
  workloadOps,
} from '@vhw/experiment';
import { emitSweep, jsonArrayWriter } from '../emit-sweep.js';
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
  /** Each `--vary` given: one dimension of the grid each, in order. */
  vary: string[];
  /** `--steps`: one count, or one per range `--vary` in order; undefined when not given (5 then). */
  steps?: number[];
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
  const relocations = o.msixRelocation !== undefined ? parseRelocations(o.msixRelocation).filter((m) => m !== undefined) : undefined;
  const vmms = o.vmm !== undefined ? parseVmms(o.vmm).filter((m) => m !== undefined) : undefined;
  const description = {
    scenario,
    scenarioRef: ref,
    variants,
    vary,
    ops: o.ops,
    seed: o.seed,
    pageSize: o.pageSize,
    costs,
    pluginSets,
    ...(relocations ? { relocations } : {}),
    ...(vmms ? { vmms } : {}),
  };
  // Each row is stamped with its grid and, for --format json, printed as soon as it is taken,
  // so a long sweep's output grows as it runs; its machine is gone by then.
  const stamp = experimentStamper(description, grid.length, shard);
  const json = o.format === 'json' ? jsonArrayWriter(io.out) : undefined;
  const rows: RunResult[] = [];
  try {
    await executeGrid(scenario, points, {
      scenarioRef: refForWorkers,
      ops: o.ops,
      costs,
      pluginSets,
      pageSize: o.pageSize,
      seed: o.seed,
      jobs: threadsFor(points.length, o.jobs),
      onProgress: (d) => bar?.update(d),
      onRow: (row, i) => {
        const stamped = stamp(row, points[i]!);
        rows.push(stamped);
        json?.push(stamped);
      },
    });
  } finally {
    bar?.stop();
  }
  json?.end();
  const sweep = { description, points, gridSize: grid.length, shard, stamped: true, printed: json !== undefined };
  await emitSweep(io, rows, { format: o.format, costs, pluginSets, sweep }, out, scenario);
}

/**
 * The `--vary` dimensions of the sweep (their product is the grid), refusing what would be
 * silently ignored: `--steps`/`--log` without a range `--vary`.
 */
function varyOf(o: SweepCommandOptions): VarySpec[] | undefined {
  if (o.vary.length === 0) {
    const lone = [o.steps !== undefined ? '--steps' : '', o.log ? '--log' : ''].filter(Boolean).join(' and ');
    if (lone) throw new VhwError('E_CONFIG', `${lone} without --vary would be ignored; allowed: with --vary cost.FIELD=A..B only`);
    return undefined;
  }
  return parseVaryDimensions(o.vary, o.steps ?? [DEFAULT_STEPS], o.log === true);
}

/** Parses `--steps`: one count, or a comma list of counts (one per range `--vary`). */
function parseStepsList(v: string): number[] {
  return v.split(',').map((x) => parsePositiveInt(x.trim()));
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
      .option(
        '--vary <NAME.FIELD=A..B>',
        'repeat the sweep over a cost parameter range or list (cost.FIELD), or a plugin option list (TARGET.FIELD=a,b); repeat for a grid',
        collect,
        [],
      )
      .addOption(
        new Option('--steps <n>', `points of each --vary range, or one count per range --vary: 5,3 (default: ${DEFAULT_STEPS})`).argParser(
          parseStepsList,
        ),
      )
      .option('--log', 'space the points of every --vary range geometrically')
      .addOption(positiveIntOption('--jobs <n>', 'worker threads', 1))
      .option('--shard <I/N>', 'run only shard I of N of the grid (merge the JSON with vhw merge)')
      .option('--no-progress', 'no progress bar'),
  ).action((scenario: string | undefined, o: SweepCommandOptions) => sweepAction(io, scenario, o));
}
