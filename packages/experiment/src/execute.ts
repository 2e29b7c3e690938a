import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { type PluginSet, applyPluginSets } from './plugin-sets.js';
import type { RunResult } from './result.js';
import { type RunOptions, runExperiment } from './run.js';
import type { Scenario } from './scenario.js';
import type { GridPoint } from './sweep.js';

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
    }
    return results;
  }
  const pool = new Piscina({
    filename: fileURLToPath(new URL('./worker-entry.mjs', import.meta.url)),
    maxThreads: o.jobs,
    minThreads: Math.min(o.jobs, points.length),
  });
  try {
    await Promise.all(
      points.map(async (p, i) => {
        results[i] = await pool.run({ scenario: o.scenarioRef, ...taskOf(p, o) });
        o.onProgress?.(++done, points.length);
      }),
    );
  } finally {
    await pool.destroy();
  }
  return results;
}
