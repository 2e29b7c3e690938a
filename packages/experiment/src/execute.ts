import { fileURLToPath } from 'node:url';
import type { RunResult } from './result.js';
import { type RunOptions, runExperiment } from './run.js';
import type { Scenario } from './scenario.js';
import type { GridPoint } from './sweep.js';

export interface ExecuteOptions {
  scenarioRef: string;
  ops?: number;
  costs: Record<string, number>;
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
    },
  };
}

/**
 * Runs grid points serially, or over `jobs` worker threads. Each point is an
 * independent, deterministic machine, so both give identical results in grid order.
 */
export async function executeGrid(scenario: Scenario, points: readonly GridPoint[], o: ExecuteOptions): Promise<RunResult[]> {
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
  // Loaded only for a threaded sweep: importing piscina was a tenth of every command's start-up.
  const { Piscina } = await import('piscina');
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
