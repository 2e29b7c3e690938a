import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { VhwError } from '@vhw/core';
import {
  ChromeTraceWriter,
  type RunResult,
  type TraceLineListener,
  type TraceRecorder,
  parseSetOptions,
  patchListOf,
  runExperiment,
  workloadOps,
} from '@vhw/experiment';
import { loadScenarioOf } from '../scenario-file.js';
import type { Io } from '../output.js';
import {
  type PointOptions,
  type ResultFormat,
  type WorkloadOptions,
  configOf,
  msixRelocationOption,
  vmmOption,
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
  const trace = o.trace
    ? openTrace(o.trace, { scenario: scenario.name, variant: config.variant, patches: patchListOf(config.patches) })
    : undefined;
  let r: RunResult;
  try {
    r = runExperiment(scenario, config, { ops: o.ops, ...parseSetOptions(o.set), allVsNone: true, trace: trace?.recorder });
    trace?.commit();
  } catch (e) {
    trace?.discard();
    throw e;
  }
  if (o.format === 'json') io.out(JSON.stringify(r, null, 2));
  else if (o.format === 'csv') io.out(csvAsPrintedLine(toCsv([r])));
  else io.out(runTable(r));
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
  /** What the run sends its records to: the JSON writer, or the line format's lines. */
  recorder: TraceRecorder | TraceLineListener;
  /** Finishes the file and moves it into place. */
  commit: () => void;
  /** Closes and removes the temporary file (a failed run leaves no partial trace). */
  discard: () => void;
}

/** Bytes of trace text gathered before each write: the run is synchronous, so nothing else would drain a stream. */
const TRACE_WRITE_BYTES = 1 << 16;

/**
 * Opens the `--trace` file's temporary twin, refusing before the run when it cannot be written.
 * @param otherData - what a JSON trace says of the run besides its events
 */
function openTrace(t: TraceFile, otherData: Record<string, string>): OpenTrace {
  const path = resolve(t.path);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  let fd: number;
  try {
    fd = openSync(tmp, 'w');
  } catch (e) {
    throw new VhwError(
      'E_NOT_FOUND',
      `--trace ${t.path}: cannot write: ${(e as NodeJS.ErrnoException).code ?? String(e)} in ${dirname(path)}`,
    );
  }
  let closed = false;
  let pending: string[] = [];
  let bytes = 0;
  const flush = () => {
    if (pending.length > 0) writeSync(fd, pending.join(''));
    pending = [];
    bytes = 0;
  };
  const write = (chunk: string) => {
    pending.push(chunk);
    bytes += chunk.length;
    if (bytes >= TRACE_WRITE_BYTES) flush();
  };
  const writer = t.format === 'json' ? new ChromeTraceWriter(write, otherData) : undefined;
  return {
    recorder: writer ?? ((line) => write(`${line}\n`)),
    commit: () => {
      writer?.end();
      flush();
      closeSync(fd);
      closed = true;
      renameSync(tmp, path);
    },
    discard: () => {
      if (!closed) closeSync(fd);
      rmSync(tmp, { force: true });
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
      .addOption(msixRelocationOption(false))
      .addOption(vmmOption(false))
      .addOption(resultFormatOption())
      .option(
        '--trace <file>',
        'write the run as a trace: FILE.json is Chrome trace-event JSON (Perfetto UI, chrome://tracing), FILE.log one line per event',
        parseTraceFile,
      ),
  ).action((scenario: string, o: RunCommandOptions) => runAction(io, scenario, o));
}
