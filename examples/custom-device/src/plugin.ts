import { ContainerModule, definePlugin } from '@vhw/core';
import { GuestDriverToken } from '@vhw/guest';
import { PciDeviceToken } from '@vhw/pci';
import { RngLiteDevice, rngLiteSchema } from './device.js';
import { RngLiteDriver } from './driver.js';

/**
 * Step 4: the plugin. `definePlugin` validates the options when the factory is called
 * (a bad option is a VhwError E_CONFIG naming `rng-lite` and the field) and returns the
 * plugin with its one ContainerModule. The module binds the device to `PciDeviceToken`
 * (the platform's host bridge enumerates every binding) and the driver to
 * `GuestDriverToken` (the VMM probes it and the CLI runs it as the workload). Dynamic
 * singleton bindings give each machine its own instances.
 * @example
 * Machine.create({ plugins: [simplePlatform(), guestRam(), rngLite({ poolWords: 64 }), ...] });
 */
export const rngLite = definePlugin({
  name: 'rng-lite',
  kind: 'device',
  description: 'example third-party device: a random number generator with one MSI-X vector',
  schema: rngLiteSchema,
  instance: (o) => o.name,
  module: (o) =>
    new ContainerModule(({ bind }) => {
      bind(PciDeviceToken)
        .toDynamicValue(() => new RngLiteDevice(o))
        .inSingletonScope();
      bind(GuestDriverToken)
        .toDynamicValue(() => new RngLiteDriver(o))
        .inSingletonScope();
    }),
});
