import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { VhwError } from '@vhw/core';
import {
  type MergedSet,
  type ResultSource,
  type Scenario,
  loadScenario,
  mergeResultSets,
  parseResultRows,
  scenarioFileOf,
  scenarioSha256,
} from '@vhw/experiment';
import { emitSweep } from '../emit-sweep.js';
import { openOutDir, resultSetDir } from '../out-dir.js';
import type { Io } from '../output.js';
import { type ResultFormat, resultFormatOption } from '../options.js';

/** `vhw merge`. */
export interface MergeCommandOptions {
  format: ResultFormat;
  out?: string;
  /** Merge an incomplete set (the output says which points are missing). */
  allowPartial?: boolean;
}

/** Reads one input of a merge: a results JSON file, or a result set directory (`sweep --out DIR`). */
function readSource(input: string): ResultSource {
  let file = input;
  if (existsSync(input) && statSync(input).isDirectory()) {
    // A directory is read as out-dir.ts swaps it: DIR, or the complete old set while DIR is being replaced.
    const dir = resultSetDir(input);
    file = join(dir ?? input, 'results.json');
  } else if (!existsSync(input)) {
    const dir = resultSetDir(input);
    if (dir) file = join(dir, 'results.json');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new VhwError('E_CONFIG', `merge: ${input} is not a JSON results file: ${(e as Error).message}`);
  }
  if (!Array.isArray(parsed)) throw new VhwError('E_CONFIG', `merge: ${input} holds no array of results (write shards with --format json)`);
  return { name: input, rows: parseResultRows(input, parsed) };
}

/**
 * The scenario of a merged set, to draw its page maps: reloaded from what the rows record,
 * and only when its file is still the one the runs were made with (never a built-in
 * scenario that merely has the same name).
 */
async function recordedScenario(set: MergedSet): Promise<{ scenario?: Scenario; because?: string }> {
  const e = set.experiment;
  if (!e) return { because: 'the rows record no scenario file' };
  const file = scenarioFileOf(e.scenarioRef);
  if (!file) return { because: `the scenario ${e.scenarioRef} is not found here` };
  if (scenarioSha256(e.scenarioRef) !== e.identity.scenario.sha256) return { because: `${file} has changed since the runs` };
  const scenario = await loadScenario(e.scenarioRef);
  if (scenario.name !== e.identity.scenario.name) return { because: `${file} now names scenario ${scenario.name}` };
  return { scenario };
}

/**
 * `vhw merge`: joins the JSON results of sweep shards and prints and writes them as one sweep.
 * Refuses shards of different experiments, a shard given twice and an incomplete set
 * (unless `--allow-partial`), all with exit 2 and the first difference or what is missing.
 */
export async function mergeAction(io: Io, inputs: string[], o: MergeCommandOptions): Promise<void> {
  const set = mergeResultSets(inputs.map(readSource), { allowPartial: o.allowPartial === true });
  const out = o.out ? openOutDir(o.out, '--out', io.err) : undefined;
  try {
    const { scenario, because } = out ? await recordedScenario(set) : {};
    await emitSweep(
      io,
      set.rows,
      { format: o.format, costs: set.experiment?.identity.costs, merge: { inputs, set }, ...(because ? { noMapsBecause: because } : {}) },
      out,
      scenario,
    );
  } finally {
    out?.release();
  }
}

/** Adds `vhw merge` to `program`. */
export function addMergeCommand(program: Command, io: Io): void {
  program
    .command('merge')
    .description(
      'join the JSON results of sweep shards into one result, table and charts; refuses shards of different experiments and incomplete sets',
    )
    .argument('<files...>', 'results JSON files (vhw sweep --format json) or result directories (vhw sweep --out)')
    .addOption(resultFormatOption())
    .option('--out <dir>', 'write results.json, results.csv, chart.svg, report.html and manifest.json to DIR')
    .option('--allow-partial', 'merge an incomplete set; the output says which points are missing')
    .action((files: string[], o: MergeCommandOptions) => mergeAction(io, files, o));
}
