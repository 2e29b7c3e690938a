import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { VhwError } from '@vhw/core';
import { type RunResult, builtinScenarioNames, loadScenario, orderResults, parseResultRows } from '@vhw/experiment';
import { emitSweep } from '../emit-sweep.js';
import { type Io, requireDir } from '../output.js';
import { type ResultFormat, resultFormatOption } from '../options.js';

/** `vhw merge`. */
export interface MergeCommandOptions {
  format: ResultFormat;
  out?: string;
}

/** `vhw merge`: joins the JSON results of sweep shards and prints and writes them as one sweep. */
export async function mergeAction(io: Io, files: string[], o: MergeCommandOptions): Promise<void> {
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
    all.push(...parseResultRows(f, parsed));
  }
  const ordered = orderResults(all);
  const names = [...new Set(ordered.map((r) => r.scenario))];
  // Page maps need the scenario itself: only a single built-in one can be loaded again by name.
  const only = names.length === 1 ? names[0] : undefined;
  const scenario = only !== undefined && builtinScenarioNames().includes(only) ? await loadScenario(only) : undefined;
  await emitSweep(io, ordered, { format: o.format }, outDir, scenario);
}

/** Adds `vhw merge` to `program`. */
export function addMergeCommand(program: Command, io: Io): void {
  program
    .command('merge')
    .description('join the JSON results of sweep shards into one result, table and charts')
    .argument('<files...>', 'results JSON files (vhw sweep --format json)')
    .addOption(resultFormatOption())
    .option('--out <dir>', 'write results.json, results.csv, chart.svg, report.html to DIR')
    .action((files: string[], o: MergeCommandOptions) => mergeAction(io, files, o));
}
