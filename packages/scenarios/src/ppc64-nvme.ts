import { nvmeLite } from '@vhw/device-nvme-lite';
import { defineScenario, passthroughMachine } from '@vhw/experiment';

/** PPC64 (64 KiB pages) passing through one NVMe controller with the common 16 KiB BAR0. */
export default defineScenario({
  name: 'ppc64-nvme',
  description: 'PPC64 64 KiB pages: nvme-lite, 16 KiB BAR0 with the MSI-X table (needs P1+P2+P3)',
  ops: 4000,
  machine: (config) => passthroughMachine({ platform: 'ppc64', devices: [nvmeLite({ name: 'nvme0', layout: 'bar0-16k' })] }, config),
});
