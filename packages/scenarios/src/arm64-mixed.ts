import { nicLite } from '@vhw/device-nic-lite';
import { nvmeLite } from '@vhw/device-nvme-lite';
import { defineScenario, passthroughMachine } from '@vhw/experiment';

/**
 * The devices of ppc64-mixed on an arm64 host with 64 KiB pages (SMMU groups, GICv3 ITS,
 * no EEH) and a QEMU `virt` guest, which programs the MSI-X table itself: the VMM emulates
 * the table, so its host page traps even where the kernel lets it be mmapped.
 */
export default defineScenario({
  name: 'arm64-mixed',
  description: 'arm64 64 KiB pages, virt guest: nvme-lite 16 KiB BAR + nic-lite (82576 VF shape) + nvme-lite 64 KiB BAR',
  ops: 6000,
  machine: (config) =>
    passthroughMachine(
      {
        platform: 'arm64',
        devices: [
          nvmeLite({ name: 'nvme0', layout: 'bar0-16k' }),
          nicLite({ name: 'nic0' }),
          nvmeLite({ name: 'nvme1', layout: 'bar0-64k' }),
        ],
      },
      config,
    ),
});
