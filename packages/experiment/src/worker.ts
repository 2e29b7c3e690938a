import type { RunResult } from './result.js';
import { runExperiment, type RunOptions } from './run.js';
import type { ExperimentConfig, Scenario } from './scenario.js';
import { loadScenario } from './scenarios.js';

export interface WorkerTask {
  scenario: string;
  config: ExperimentConfig;
  options: RunOptions;
}

const cache = new Map<string, Promise<Scenario>>();

/** Runs one grid point in a worker thread (piscina task). */
export default async function runTask(task: WorkerTask): Promise<RunResult> {
  let s = cache.get(task.scenario);
  if (!s) {
    s = loadScenario(task.scenario);
    cache.set(task.scenario, s);
  }
  return runExperiment(await s, task.config, task.options);
}
