import { nicLite } from '@vhw/device-nic-lite';
import { defineScenario, passthroughMachine } from '@vhw/experiment';

/** The control: the same NIC VF on a 4 KiB-page host with no EEH. */
export default defineScenario({
  name: 'generic-nic',
  description: 'control, 4 KiB pages, no EEH: nic-lite (82576 VF shape)',
  ops: 4000,
  machine: (config) => passthroughMachine({ platform: 'generic', devices: [nicLite({ name: 'nic0' })] }, config),
});
