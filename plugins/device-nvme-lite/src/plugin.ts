import { ContainerModule, definePlugin } from '@vhw/core';
import { GuestDriverToken } from '@vhw/guest';
import { PciDeviceToken } from '@vhw/pci';
import { NvmeLiteDevice } from './device.js';
import { NvmeLiteDriver } from './driver.js';
import { NVME_LITE_PLUGIN, nvmeLiteSchema } from './options.js';

/**
 * The `nvme-lite` device plugin: one NVMe-like PCI function bound to `PciDeviceToken`
 * and its guest driver bound to `GuestDriverToken`. Each machine that loads the plugin
 * gets its own device and driver instances.
 * @param input - options; see `nvmeLiteSchema` (all optional)
 * @returns the plugin, to pass to `Machine.create({ plugins })`
 * @throws VhwError E_CONFIG naming the plugin and the bad field
 * @example
 * Machine.create({ plugins: [ppc64Platform(), guestRam(), nvmeLite({ layout: 'bar0-64k', vectors: 16 })] });
 */
export const nvmeLite = definePlugin({
  name: NVME_LITE_PLUGIN,
  kind: 'device',
  description: 'NVMe-like controller: registers, doorbells from 0x1000 and MSI-X in BAR0 (16 KiB NVMe or 64 KiB KIOXIA CD8P layout)',
  schema: nvmeLiteSchema,
  instance: (o) => o.name,
  module: (o) =>
    new ContainerModule(({ bind }) => {
      bind(PciDeviceToken)
        .toDynamicValue(() => new NvmeLiteDevice(o))
        .inSingletonScope();
      bind(GuestDriverToken)
        .toDynamicValue(() => new NvmeLiteDriver(o))
        .inSingletonScope();
    }),
});
