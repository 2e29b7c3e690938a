import { VhwError, type VhwErrorCode } from '@vhw/core';
import type { RunResult } from './result.js';
import { runExperiment, type RunOptions } from './run.js';
import type { ExperimentConfig, Scenario } from './scenario.js';
import { loadScenario } from './scenarios.js';

export interface WorkerTask {
  scenario: string;
  config: ExperimentConfig;
  options: RunOptions;
}

/**
 * An error as it crosses the worker boundary. A thrown error is structured-cloned into a
 * plain Error that loses the VhwError's code (and so its exit status 2), so the worker
 * sends these fields itself and the main thread rebuilds the same error.
 */
export interface WorkerError {
  name: string;
  message: string;
  /** Set when the error was a VhwError. */
  code?: VhwErrorCode;
  stack?: string;
}

/** What a worker answers for one task: the result, or the error it threw, serialized. */
export type WorkerReply = { ok: true; result: RunResult } | { ok: false; error: WorkerError };

/** The fields of `e` that the main thread needs to rethrow it as it would have been thrown serially. */
export function serializeError(e: unknown): WorkerError {
  if (VhwError.is(e)) return { name: e.name, message: e.message, code: e.code, stack: e.stack };
  if (e instanceof Error) return { name: e.name, message: e.message, stack: e.stack };
  return { name: 'Error', message: String(e) };
}

/** The error a worker serialized, rebuilt: a VhwError with its code, or a plain Error (an internal error). */
export function deserializeError(w: WorkerError): Error {
  const e = w.code !== undefined ? new VhwError(w.code, w.message) : new Error(w.message);
  e.name = w.name;
  // The worker's stack says where it was thrown (shown with VHW_DEBUG).
  if (w.stack !== undefined) e.stack = w.stack;
  return e;
}

/**
 * The task runner of a worker whose built-in scenarios are `preloaded` (the bundled worker, see
 * worker-bundle.ts); any other scenario (a user's file) is loaded by reference and kept.
 */
export function runTaskWith(preloaded: Readonly<Record<string, Scenario>>): (task: WorkerTask) => Promise<WorkerReply> {
  const cache = new Map<string, Promise<Scenario>>(Object.entries(preloaded).map(([name, s]) => [name, Promise.resolve(s)]));
  return async (task) => {
    try {
      let s = cache.get(task.scenario);
      if (!s) {
        s = loadScenario(task.scenario);
        cache.set(task.scenario, s);
      }
      return { ok: true, result: runExperiment(await s, task.config, task.options) };
    } catch (e) {
      return { ok: false, error: serializeError(e) };
    }
  };
}

/** Runs one grid point in a worker thread (piscina task); never rejects, so no error is cloned by piscina. */
export default runTaskWith({});
