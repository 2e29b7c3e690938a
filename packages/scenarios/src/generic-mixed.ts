import { nicLite } from '@vhw/device-nic-lite';
import { nvmeLite } from '@vhw/device-nvme-lite';
import { defineScenario, passthroughMachine } from '@vhw/experiment';

/** The control for the default scenario: the same three devices on a 4 KiB-page host with no EEH. */
export default defineScenario({
  name: 'generic-mixed',
  description: 'control, 4 KiB pages, no EEH: the devices of ppc64-mixed',
  ops: 6000,
  machine: (config) =>
    passthroughMachine(
      {
        platform: 'generic',
        devices: [
          nvmeLite({ name: 'nvme0', layout: 'bar0-16k' }),
          nicLite({ name: 'nic0' }),
          nvmeLite({ name: 'nvme1', layout: 'bar0-64k' }),
        ],
      },
      config,
    ),
});
