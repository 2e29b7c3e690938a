import { fileURLToPath } from 'node:url';
import { type PluginSet, applyPluginSets } from './plugin-sets.js';
import type { RunResult } from './result.js';
import { type RunOptions, runExperiment } from './run.js';
import type { Scenario } from './scenario.js';
import type { GridPoint } from './sweep.js';
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
}

function taskOf(p: GridPoint, o: ExecuteOptions): { config: Parameters<typeof runExperiment>[1]; options: RunOptions } {
  return {
    config: { patches: p.patches, variant: p.variant, seed: o.seed, ...(o.pageSize ? { pageSize: o.pageSize } : {}) },
    options: {
      ops: o.ops,
      costs: p.vary ? { ...o.costs, [p.vary.field]: p.vary.value } : o.costs,
      ...(p.vary ? { vary: p.vary } : {}),
      pageMap: o.pageMaps,
      ...(o.pluginSets?.length ? { pluginSets: o.pluginSets } : {}),
    },
  };
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
  const results: RunResult[] = new Array(points.length);
  let done = 0;
  if (o.jobs <= 1 || points.length <= 1) {
    for (let i = 0; i < points.length; i++) {
      const t = taskOf(points[i]!, o);
      results[i] = runExperiment(scenario, t.config, t.options);
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
  const pool = new Piscina<WorkerTask, WorkerReply>({
    filename: fileURLToPath(new URL('./worker-entry.mjs', import.meta.url)),
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
