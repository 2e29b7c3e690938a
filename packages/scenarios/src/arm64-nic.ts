import { nicLite } from '@vhw/device-nic-lite';
import { defineScenario, passthroughMachine } from '@vhw/experiment';

/** arm64 (64 KiB pages, QEMU `virt` guest) passing through a NIC VF shaped like the Intel 82576 VF. */
export default defineScenario({
  name: 'arm64-nic',
  description: 'arm64 64 KiB pages, virt guest: nic-lite, BAR0 16 KiB registers + BAR3 16 KiB MSI-X (needs P1+P2)',
  ops: 4000,
  machine: (config) => passthroughMachine({ platform: 'arm64', devices: [nicLite({ name: 'nic0' })] }, config),
});
