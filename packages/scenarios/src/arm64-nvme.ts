import { nvmeLite } from '@vhw/device-nvme-lite';
import { defineScenario, passthroughMachine } from '@vhw/experiment';

/**
 * arm64 (64 KiB pages, QEMU `virt` guest) passing through one NVMe controller with the
 * common 16 KiB BAR0: the guest programs the MSI-X table, so the table's page stays
 * emulated and the doorbells beside it trap whatever the patches say.
 */
export default defineScenario({
  name: 'arm64-nvme',
  description: 'arm64 64 KiB pages, virt guest: nvme-lite, 16 KiB BAR0 with the MSI-X table (emulated table: no patch helps)',
  ops: 4000,
  machine: (config) => passthroughMachine({ platform: 'arm64', devices: [nvmeLite({ name: 'nvme0', layout: 'bar0-16k' })] }, config),
});
