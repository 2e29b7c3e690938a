import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { VhwError } from '@vhw/core';
import { ChromeTraceWriter, parseSetOptions, patchListOf, runExperiment, workloadOps } from '@vhw/experiment';
import { loadScenarioOf } from '../scenario-file.js';
import type { Io } from '../output.js';
import {
  type PointOptions,
  type ResultFormat,
  type WorkloadOptions,
  configOf,
  patchesOption,
  resultFormatOption,
  variantOption,
  workloadOptions,
} from '../options.js';
import { runTable, csvAsPrintedLine, toCsv } from '../render/index.js';

/** `vhw run`. */
export interface RunCommandOptions extends PointOptions, WorkloadOptions {
  format: ResultFormat;
  trace?: TraceFile;
}

/** `vhw run`: one scenario at one patch combination, printed as a table, JSON or CSV. */
export async function runAction(io: Io, scenarioRef: string, o: RunCommandOptions): Promise<void> {
  const scenario = await loadScenarioOf(io, scenarioRef);
  workloadOps(scenario, o.ops, `scenario file ${scenarioRef}`);
  const config = configOf(o);
  const trace = o.trace ? await openTrace(o.trace) : undefined;
  let done = false;
  try {
    const writer =
      trace === undefined
        ? undefined
        : o.trace?.format === 'json'
          ? new ChromeTraceWriter(trace.write, { scenario: scenario.name, variant: config.variant, patches: patchListOf(config.patches) })
          : undefined;
    const r = runExperiment(scenario, config, {
      ops: o.ops,
      ...parseSetOptions(o.set),
      trace: writer ?? (trace ? (line) => trace.write(`${line}\n`) : undefined),
    });
    writer?.end();
    if (trace) await trace.commit();
    done = true;
    if (o.format === 'json') io.out(JSON.stringify(r, null, 2));
    else if (o.format === 'csv') io.out(csvAsPrintedLine(toCsv([r])));
    else io.out(runTable(r));
  } finally {
    if (trace && !done) await trace.discard();
  }
}

/** A `--trace` file and the format its extension chose. */
export interface TraceFile {
  path: string;
  format: 'json' | 'log';
}

/** The `--trace` extensions and what each writes. */
const TRACE_FORMATS = {
  '.json': 'json',
  '.log': 'log',
} as const satisfies Record<string, TraceFile['format']>;

/** Parses `--trace FILE`: the format is its extension's, and any other extension is refused. */
export function parseTraceFile(file: string): TraceFile {
  const ext = extname(file).toLowerCase();
  const format = Object.hasOwn(TRACE_FORMATS, ext) ? TRACE_FORMATS[ext as keyof typeof TRACE_FORMATS] : undefined;
  if (format === undefined) {
    throw new InvalidArgumentError(
      'allowed: a file ending in .json (Chrome trace-event JSON, for Perfetto UI and chrome://tracing) or .log (one line per event)',
    );
  }
  return { path: file, format };
}

/** A trace being written: to a temporary file beside the target, renamed over it once complete. */
interface OpenTrace {
  write: (chunk: string) => void;
  /** Closes the file and moves it into place. */
  commit: () => Promise<void>;
  /** Closes and removes the temporary file (a failed run leaves no partial trace). */
  discard: () => Promise<void>;
}

/** Opens the `--trace` file's temporary twin, refusing before the run when it cannot be written. */
async function openTrace(t: TraceFile): Promise<OpenTrace> {
  const path = resolve(t.path);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const s = createWriteStream(tmp);
  await new Promise<void>((res, rej) => {
    s.once('open', () => res());
    s.once('error', (e: NodeJS.ErrnoException) =>
      rej(new VhwError('E_NOT_FOUND', `--trace ${t.path}: cannot write: ${e.code ?? e.message} in ${dirname(path)}`)),
    );
  });
  const close = () => new Promise<void>((res, rej) => s.end((e?: Error | null) => (e ? rej(e) : res())));
  return {
    write: (chunk) => s.write(chunk),
    commit: async () => {
      await close();
      await rename(tmp, path);
    },
    discard: async () => {
      await close().catch(() => undefined);
      await rm(tmp, { force: true });
    },
  };
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
      .addOption(resultFormatOption())
      .option(
        '--trace <file>',
        'write the run as a trace: FILE.json is Chrome trace-event JSON (Perfetto UI, chrome://tracing), FILE.log one line per event',
        parseTraceFile,
      ),
  ).action((scenario: string, o: RunCommandOptions) => runAction(io, scenario, o));
}
