import { nvmeLite } from '@vhw/device-nvme-lite';
import { defineScenario, passthroughMachine } from '@vhw/experiment';

/** PPC64 (64 KiB pages) passing through an NVMe controller with a 64 KiB BAR0 (KIOXIA CD8P shape). */
export default defineScenario({
  name: 'ppc64-nvme-64k',
  description: 'PPC64 64 KiB pages: nvme-lite, 64 KiB BAR0 with the table at 0x5200 (needs P3)',
  ops: 4000,
  machine: (config) => passthroughMachine({ platform: 'ppc64', devices: [nvmeLite({ name: 'nvme0', layout: 'bar0-64k' })] }, config),
});
