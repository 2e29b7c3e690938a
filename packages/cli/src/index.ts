/**
 * vhw: the command line over the experiment API. The API itself is `@vhw/experiment`,
 * re-exported here so a scenario file that imports `defineScenario` and
 * `passthroughMachine` from 'vhw' keeps working; `render` holds the output formats.
 */
export * from '@vhw/experiment';
export * as render from './render/index.js';
