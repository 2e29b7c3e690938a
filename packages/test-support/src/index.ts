/**
 * Helpers shared by vhw's tests. Only test files import this package; no package's code
 * depends on it (`npm run lint:deps` checks both).
 */
export { expectVhwError } from './expect-vhw-error.js';
export { ToyDevice, toyDevice } from './toy-device.js';
export * from './host-msi.js';
export * from './toy-layouts.js';
export * from './bar-table-oracle.js';
