/**
 * @vhw/experiment: the experiment API that scenario files and scripts import. Scenarios,
 * the standard passthrough stack, the platform registry, runs, sweep grids executed
 * serially or over worker threads, the result contract and host page maps.
 */
export * from './result.js';
// The one vocabulary of the experiment, defined in core, for scenario files and scripts.
export {
  ALL_PATCHES,
  NO_PATCHES,
  PATCHES,
  type PatchId,
  type PatchInfo,
  type PatchKey,
  VARIANTS,
  allPatchCombinations,
  findPatch,
  parsePatchList,
  parseVariant,
  patchListOf,
  patchShortLabel,
} from '@vhw/core';
export * from './platforms.js';
export * from './scenario.js';
export * from './run.js';
export * from './msix-relocation-report.js';
export * from './trace.js';
export { ChromeTraceWriter, type TraceEvent } from './chrome-trace.js';
export { preparePassthrough } from './prepare-passthrough.js';
export * from './sweep.js';
export * from './result-set.js';
export * from './plugin-sets.js';
export * from './scenarios.js';
export { type ExecuteOptions, MIN_POINTS_PER_THREAD, executeGrid, threadsFor } from './execute.js';
export { parseResultRows } from './result-schema.js';
