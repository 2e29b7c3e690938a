/**
 * vhw: the experiment API and CLI. Scenario files import `defineScenario` and
 * `passthroughMachine` from here.
 */
export * from './result.js';
export * from './experiment/scenario.js';
export * from './experiment/run.js';
export { preparePassthrough } from './experiment/prepare-passthrough.js';
export * from './experiment/sweep.js';
export * from './experiment/scenarios.js';
export { executeGrid } from './experiment/execute.js';
export * as render from './render/index.js';
