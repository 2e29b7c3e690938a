import { type PreparedRun, type RunOptions, prepare } from './run.js';
import { NO_PATCHES } from '@vhw/core';
import { type ExperimentConfig, type PassthroughMachineSpec, defineScenario, passthroughMachine } from './scenario.js';

/**
 * Builds the standard passthrough stack (`passthroughMachine`) for one experiment point
 * and probes its guest drivers, without a scenario file: for tests and scripts that
 * drive the devices themselves. Shorthand for `prepare(defineScenario({ machine: (c) =>
 * passthroughMachine(spec, c), ... }), config)`.
 * @param spec - platform, devices and options, as for `passthroughMachine`
 * @param config - the experiment point; unset fields default to no patches, variant `rfc-2015`, seed 1
 * @param options - as for `prepare` (cost overrides, trace)
 * @returns the machine, host bridge, VMM, guest bus, guest OS and the probed drivers (in plugin order)
 * @throws VhwError E_CONFIG when no device contributes a guest driver, the platform is not
 *   registered, or a plugin option is bad
 * @example
 * const run = preparePassthrough({ platform: 'generic', devices: [nvmeLite({ name: 'nvme0' })] });
 * run.drivers[0].run(200); // { completed: 200, failed: 0 }
 */
export function preparePassthrough<P extends string>(
  spec: PassthroughMachineSpec<P>,
  config: Partial<ExperimentConfig> = {},
  options: RunOptions = {},
): PreparedRun {
  const scenario = defineScenario({
    name: `passthrough-${spec.platform}`,
    description: 'a passthrough machine prepared by preparePassthrough()',
    ops: 1,
    machine: (c) => passthroughMachine(spec, c),
  });
  return prepare(scenario, { patches: NO_PATCHES, variant: 'rfc-2015', seed: 1, ...config }, options);
}
