import { resolve } from 'node:path';
import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import {
  DEFAULT_SCENARIO,
  type RunResult,
  executeGrid,
  loadScenario,
  parseSetOptions,
  parseShard,
  parseVariants,
  parseVary,
  shardOf,
  sweepGrid,
} from '@vhw/experiment';
import { emitSweep } from '../emit-sweep.js';
import { type Io, requireDir } from '../output.js';
import {
  type ResultFormat,
  type WorkloadOptions,
  positiveIntOption,
  resultFormatOption,
  variantOption,
  workloadOptions,
} from '../options.js';

/** `vhw sweep`. */
export interface SweepCommandOptions extends WorkloadOptions {
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

/** `vhw sweep`: every patch combination (and `--vary` point) of one scenario, on worker threads, then printed and written. */
export async function sweepAction(io: Io, scenarioRef: string | undefined, o: SweepCommandOptions): Promise<void> {
  const ref = scenarioRef ?? DEFAULT_SCENARIO;
  const outDir = o.out ? requireDir(o.out, '--out') : undefined;
  const scenario = await loadScenario(ref);
  const variants = parseVariants(o.variant);
  const vary = o.vary ? parseVary(o.vary, o.steps, o.log === true) : undefined;
  const { costs, pluginSets } = parseSetOptions(o.set);
  let points = sweepGrid(scenario.name, variants, vary);
  if (o.shard) points = shardOf(points, parseShard(o.shard));
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
  await emitSweep(io, results, { format: o.format, costs, pluginSets }, outDir, scenario);
}

/** Adds `vhw sweep` to `program`. */
export function addSweepCommand(program: Command, io: Io): void {
  workloadOptions(
    program
      .command('sweep')
      .description(`run all 8 patch combinations and compare each with none (default scenario: ${DEFAULT_SCENARIO})`)
      .argument('[scenario]', 'a built-in scenario name or the path of a .ts/.js scenario file')
      .addOption(variantOption(true))
      .addOption(resultFormatOption())
      .option('--out <dir>', 'write results.json, results.csv, chart.svg, report.html (and vary.svg) to DIR')
      .option('--vary <cost.FIELD=A..B>', 'repeat the sweep over a cost parameter range (or a comma list)')
      .addOption(positiveIntOption('--steps <n>', 'points of a --vary range', 5))
      .option('--log', 'space --vary points geometrically')
      .addOption(positiveIntOption('--jobs <n>', 'worker threads', 1))
      .option('--shard <I/N>', 'run only shard I of N of the grid (merge the JSON with vhw merge)')
      .option('--no-progress', 'no progress bar'),
  ).action((scenario: string | undefined, o: SweepCommandOptions) => sweepAction(io, scenario, o));
}
