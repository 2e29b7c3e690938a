import { nicLite } from '@vhw/device-nic-lite';
import { defineScenario, passthroughMachine } from '@vhw/experiment';

/** PPC64 (64 KiB pages) passing through a NIC VF shaped like the Intel 82576 VF. */
export default defineScenario({
  name: 'ppc64-nic',
  description: 'PPC64 64 KiB pages: nic-lite, BAR0 16 KiB registers + BAR3 16 KiB MSI-X (needs P1+P2)',
  ops: 4000,
  machine: (config) => passthroughMachine({ platform: 'ppc64', devices: [nicLite({ name: 'nic0' })] }, config),
});
