/**
 * @vhw/core: the machine's skeleton. See README.md for the path of one access.
 */
export * from './errors.js';
export * from './access.js';
export * from './mmio-route.js';
export * from './flat-view.js';
export * from './address-space.js';
export * from './clock.js';
export * from './cost-model.js';
export * from './cost-meter.js';
export * from './stats.js';
export * from './events.js';
export * from './mmu.js';
export * from './cpu.js';
export * from './cpu-bigint.js';
export * from './trap-handler.js';
export * from './guest-memory.js';
export * from './tokens.js';
export * from './contribution.js';
export * from './plugin.js';
export * from './machine.js';
export * from './patches.js';
export * from './builtin-plugins.js';
export { ContainerModule, inject, injectable, multiInject, named, optional } from 'inversify';
export { z } from 'zod';
