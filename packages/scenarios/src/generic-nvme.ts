import { nvmeLite } from '@vhw/device-nvme-lite';
import { defineScenario, passthroughMachine } from '@vhw/experiment';

/** The control: the same NVMe controller on a 4 KiB-page host with no EEH. */
export default defineScenario({
  name: 'generic-nvme',
  description: 'control, 4 KiB pages, no EEH: nvme-lite 16 KiB BAR0',
  ops: 4000,
  machine: (config) => passthroughMachine({ platform: 'generic', devices: [nvmeLite({ name: 'nvme0', layout: 'bar0-16k' })] }, config),
});
