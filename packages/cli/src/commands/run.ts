import { createWriteStream, type WriteStream } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { VhwError } from '@vhw/core';
import { parseSetOptions, runExperiment, workloadOps } from '@vhw/experiment';
import { loadScenarioOf } from '../scenario-file.js';
import type { Io } from '../output.js';
import {
  type PointOptions,
  type ResultFormat,
  type WorkloadOptions,
  configOf,
  msixRelocationOption,
  patchesOption,
  resultFormatOption,
  variantOption,
  workloadOptions,
} from '../options.js';
import { runTable, csvAsPrintedLine, toCsv } from '../render/index.js';

/** `vhw run`. */
export interface RunCommandOptions extends PointOptions, WorkloadOptions {
  format: ResultFormat;
  trace?: string;
}

/** `vhw run`: one scenario at one patch combination, printed as a table, JSON or CSV. */
export async function runAction(io: Io, scenarioRef: string, o: RunCommandOptions): Promise<void> {
  const scenario = await loadScenarioOf(io, scenarioRef);
  workloadOps(scenario, o.ops, `scenario file ${scenarioRef}`);
  const trace = o.trace ? await openTrace(o.trace) : undefined;
  try {
    const r = runExperiment(scenario, configOf(o), {
      ops: o.ops,
      ...parseSetOptions(o.set),
      allVsNone: true,
      trace: trace ? (line) => trace.write(`${line}\n`) : undefined,
    });
    if (o.format === 'json') io.out(JSON.stringify(r, null, 2));
    else if (o.format === 'csv') io.out(csvAsPrintedLine(toCsv([r])));
    else io.out(runTable(r));
  } finally {
    if (trace) await new Promise((res) => trace.end(res));
  }
}

/** Opens the `--trace` file, refusing before the run when it cannot be written. */
async function openTrace(file: string): Promise<WriteStream> {
  const s = createWriteStream(resolve(file));
  await new Promise<void>((res, rej) => {
    s.once('open', () => res());
    s.once('error', (e) => rej(new VhwError('E_NOT_FOUND', `--trace ${file}: cannot write: ${e.message}`)));
  });
  return s;
}

/** Adds `vhw run` to `program`. */
export function addRunCommand(program: Command, io: Io): void {
  workloadOptions(
    program
      .command('run')
      .description('run one scenario at one patch combination')
      .argument('<scenario>', 'a built-in scenario name or the path of a .ts/.js scenario file')
      .addOption(patchesOption())
      .addOption(variantOption(false))
      .addOption(msixRelocationOption(false))
      .addOption(resultFormatOption())
      .option('--trace <file>', 'write every guest access and trap to FILE'),
  ).action((scenario: string, o: RunCommandOptions) => runAction(io, scenario, o));
}
