import { fileURLToPath } from 'node:url';
import { VhwError } from '@vhw/core';
import { type PluginSet, applyPluginSets } from './plugin-sets.js';
import type { RunResult } from './result.js';
import { type RunOptions, runExperiment } from './run.js';
import type { Scenario } from './scenario.js';
import type { GridPoint, VaryPoint } from './sweep.js';
import { workerBundle } from './worker-bundle.js';
import { type WorkerReply, type WorkerTask, deserializeError } from './worker.js';

export interface ExecuteOptions {
  scenarioRef: string;
  ops?: number;
  costs: Record<string, number>;
  /** Plugin options set on the command line, applied in every run. */
  pluginSets?: readonly PluginSet[];
  pageSize?: number;
  seed: number;
  jobs: number;
  pageMaps?: boolean;
  onProgress?: (done: number, total: number) => void;
  /**
   * Receives each row in grid order as soon as it and every row before it are done (threads
   * finish out of order), so the caller can write it out while later points run.
   */
  onRow?: (row: RunResult, index: number) => void;
}

/** The plugin option set a plugin dimension's value stands for, as `--set TARGET.FIELD=VALUE` would give it. */
function pluginSetOf(v: VaryPoint): PluginSet {
  const dot = v.field.indexOf('.');
  return { target: v.field.slice(0, dot), field: v.field.slice(dot + 1), value: String(v.value), text: `${v.field}=${String(v.value)}` };
}

/** What one point runs with: `--set` overrides, then the point's own `--vary` values on top. */
function taskOf(p: GridPoint, o: ExecuteOptions): { config: Parameters<typeof runExperiment>[1]; options: RunOptions } {
  const vary = p.vary ?? [];
  const costs = { ...o.costs };
  for (const v of vary) if (v.kind !== 'plugin') costs[v.field] = Number(v.value);
  const pluginSets = [...(o.pluginSets ?? []), ...vary.filter((v) => v.kind === 'plugin').map(pluginSetOf)];
  return {
    config: {
      patches: p.patches,
      variant: p.variant,
      seed: o.seed,
      ...(o.pageSize ? { pageSize: o.pageSize } : {}),
      ...(p.relocation ? { relocation: p.relocation } : {}),
      ...(p.vmm ? { vmm: p.vmm } : {}),
    },
    options: {
      ops: o.ops,
      costs: vary.length > 0 ? costs : o.costs,
      ...(vary.length > 0 ? { vary: vary.map(({ field, value }) => ({ field, value })) } : {}),
      pageMap: o.pageMaps,
      ...(pluginSets.length ? { pluginSets } : {}),
    },
  };
}

/**
 * Checks every value of the grid's plugin dimensions with the plugin's own schema, before any
 * run, so that a bad value is refused at once (not at the first point that uses it).
 * @throws VhwError E_CONFIG naming the `--vary`, the field and what the plugin allows
 */
function checkVaryPlugins(scenario: Scenario, points: readonly GridPoint[], o: ExecuteOptions): void {
  const first = points[0];
  if (!first) return;
  const seen = new Set<string>();
  for (const p of points) {
    for (const v of p.vary ?? []) {
      const key = `${v.field}=${String(v.value)}`;
      if (v.kind !== 'plugin' || seen.has(key)) continue;
      seen.add(key);
      try {
        applyPluginSets(scenario.machine(taskOf(first, o).config), [...(o.pluginSets ?? []), pluginSetOf(v)], scenario.name);
      } catch (e) {
        if (!VhwError.is(e)) throw e;
        throw new VhwError('E_CONFIG', e.message.replace(`--set "${key}"`, `--vary ${v.field}: value ${JSON.stringify(v.value)}`), {
          cause: e,
        });
      }
    }
  }
}

/**
 * Points each worker thread must have for a pool to pay: a thread takes about as long to start
 * as 5 to 10 runs, so fewer points run faster serially.
 */
export const MIN_POINTS_PER_THREAD = 16;

/**
 * The worker threads worth starting for `points` points when `jobs` are allowed: at most one
 * per {@link MIN_POINTS_PER_THREAD} points, and 1 (serial) when even two would not pay. `vhw
 * sweep --jobs N` runs with this; results are the same either way.
 */
export function threadsFor(points: number, jobs: number): number {
  return Math.max(1, Math.min(jobs, Math.floor(points / MIN_POINTS_PER_THREAD)));
}

/** Whether a scenario reference names a file (a user's scenario) rather than a built-in. */
const isPath = (ref: string) => ref.includes('/') || ref.includes('\\') || /\.(m?[jt]s)$/.test(ref);

/**
 * The module worker threads load: the bundled worker when running from the sources (compiled
 * once, see worker-bundle.ts), else `worker-entry.mjs` (the built package's worker.js, or, for
 * a user's scenario file from the sources, the TypeScript sources through tsx so that the
 * user's file and the worker share one copy of vhw's packages).
 */
async function workerFile(scenarioRef: string): Promise<{ file: string; bundled: boolean }> {
  const bundled = isPath(scenarioRef) ? undefined : await workerBundle();
  return bundled
    ? { file: bundled, bundled: true }
    : { file: fileURLToPath(new URL('./worker-entry.mjs', import.meta.url)), bundled: false };
}

/** Node options without those that load tsx (`--import tsx`, `--import=tsx`, `--require tsx`, `--loader tsx`). */
function withoutTsx(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (/^--(import|require|loader|experimental-loader)=tsx/.test(a)) continue;
    if (/^(--import|--require|-r|--loader|--experimental-loader)$/.test(a) && argv[i + 1]?.startsWith('tsx')) {
      i++;
      continue;
    }
    out.push(a);
  }
  return out;
}

/**
 * Runs grid points serially, or over `jobs` worker threads. Each point is an
 * independent, deterministic machine, so both give identical results in grid order.
 *
 * Errors too come out as they would serially: a worker sends its error's code and message
 * (`WorkerReply`) and it is rethrown here as the same VhwError. A failing point stops the
 * run: no further point starts, the points already running are awaited (their results
 * dropped) and only then is the pool destroyed, so no worker answers a destroyed pool.
 * Of the points that failed, the one first in grid order is reported, as a serial run would.
 * @throws the error of the first failing point in grid order
 */
export async function executeGrid(scenario: Scenario, points: readonly GridPoint[], o: ExecuteOptions): Promise<RunResult[]> {
  // A bad plugin option is refused here, with the plugin's own message, before any worker starts.
  const first = points[0];
  if (o.pluginSets?.length && first) applyPluginSets(scenario.machine(taskOf(first, o).config), o.pluginSets, scenario.name);
  checkVaryPlugins(scenario, points, o);
  const results: RunResult[] = new Array(points.length);
  let done = 0;
  let given = 0;
  /** Hands on the rows finished in an unbroken run from the first not yet given. */
  const giveRows = () => {
    // `given` moves on outside the call: `o.onRow?.(…, given++)` would skip its arguments without onRow.
    for (; given < points.length && results[given] !== undefined; given++) o.onRow?.(results[given]!, given);
  };
  if (o.jobs <= 1 || points.length <= 1) {
    for (let i = 0; i < points.length; i++) {
      const t = taskOf(points[i]!, o);
      results[i] = runExperiment(scenario, t.config, t.options);
      giveRows();
      o.onProgress?.(++done, points.length);
      // End the task before the next run: V8 keeps every object a WeakRef was made to during
      // a task alive until the task ends (inversify makes WeakRefs to each container's
      // bindings), so a synchronous loop kept every run's whole machine, ~0.2 MB each, and
      // slowed down as the heap grew.
      await new Promise(setImmediate);
    }
    return results;
  }
  // Loaded only for a threaded sweep: importing piscina was a tenth of every command's start-up.
  const { Piscina } = await import('piscina');
  const worker = await workerFile(o.scenarioRef);
  const pool = new Piscina<WorkerTask, WorkerReply>({
    filename: worker.file,
    // The bundle is plain JavaScript: a thread that inherited `--import tsx` would start tsx's
    // loader hooks of its own and pass every import through them (seconds per thread).
    ...(worker.bundled ? { execArgv: withoutTsx(process.execArgv) } : {}),
    maxThreads: o.jobs,
    minThreads: Math.min(o.jobs, points.length),
  });
  // Failures by grid index; the lowest is the one a serial run would have met first.
  const failures = new Map<number, unknown>();
  // The pool's own errors (a worker that dies) are failures too, never an uncaught 'error' event.
  pool.on('error', (e: unknown) => failures.set(-1, e));
  let next = 0;
  // One lane per thread takes the next point until the points run out or one has failed:
  // every point below a failing one was started before it, so none is missed.
  const lane = async (): Promise<void> => {
    while (failures.size === 0 && next < points.length) {
      const i = next++;
      try {
        const reply = await pool.run({ scenario: o.scenarioRef, ...taskOf(points[i]!, o) });
        if (!reply.ok) {
          failures.set(i, deserializeError(reply.error));
          return;
        }
        results[i] = reply.result;
        giveRows();
        o.onProgress?.(++done, points.length);
      } catch (e) {
        failures.set(i, e);
        return;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(o.jobs, points.length) }, lane));
  } finally {
    await pool.destroy();
  }
  if (failures.size > 0) throw failures.get(Math.min(...failures.keys()));
  return results;
}
