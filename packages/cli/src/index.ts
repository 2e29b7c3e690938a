/**
 * vhw: the experiment API and CLI. Scenario files import `defineScenario` and
 * `passthroughMachine` from here.
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
export * from './experiment/scenario.js';
export * from './experiment/run.js';
export { preparePassthrough } from './experiment/prepare-passthrough.js';
export * from './experiment/sweep.js';
export * from './experiment/scenarios.js';
export { executeGrid } from './experiment/execute.js';
export * as render from './render/index.js';
