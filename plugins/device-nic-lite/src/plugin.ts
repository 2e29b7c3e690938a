import { ContainerModule, definePlugin } from '@vhw/core';
import { GuestDriverToken } from '@vhw/guest';
import { PciDeviceToken } from '@vhw/pci';
import { NicLiteDevice } from './device.js';
import { NicLiteDriver } from './driver.js';
import { NIC_LITE_PLUGIN, nicLiteSchema } from './options.js';

/**
 * The `nic-lite` device plugin: one igbvf-shaped virtual function bound to
 * `PciDeviceToken` and its guest driver bound to `GuestDriverToken`. Each machine that
 * loads the plugin gets its own device and driver instances.
 * @param input - options; see `nicLiteSchema` (all optional)
 * @returns the plugin, to pass to `Machine.create({ plugins })`
 * @throws VhwError E_CONFIG naming the plugin and the bad field
 * @example
 * Machine.create({ plugins: [ppc64Platform(), guestRam(), nicLite({ interruptBatch: 16 })] });
 */
export const nicLite = definePlugin({
  name: NIC_LITE_PLUGIN,
  kind: 'device',
  description: 'NIC-like VF shaped like the Intel 82576 VF (igbvf): BAR0 16 KiB registers, BAR3 16 KiB MSI-X, looped-back TX/RX rings',
  schema: nicLiteSchema,
  instance: (o) => o.name,
  module: (o) =>
    new ContainerModule(({ bind }) => {
      bind(PciDeviceToken)
        .toDynamicValue(() => new NicLiteDevice(o))
        .inSingletonScope();
      bind(GuestDriverToken)
        .toDynamicValue(() => new NicLiteDriver(o))
        .inSingletonScope();
    }),
});
