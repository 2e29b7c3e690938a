import { nicLite } from '@vhw/device-nic-lite';
import { nvmeLite } from '@vhw/device-nvme-lite';
import { defineScenario, passthroughMachine } from '@vhw/experiment';

/**
 * The default scenario: a PowerNV host (64 KiB pages, EEH) passing three devices to a
 * pSeries guest, one per layout that separates the patches: an NVMe controller with the
 * common 16 KiB BAR (needs P1+P2+P3), a NIC VF shaped like the 82576 VF (needs P1+P2)
 * and an NVMe controller with a 64 KiB BAR shaped like the KIOXIA CD8P (needs P3).
 */
export default defineScenario({
  name: 'ppc64-mixed',
  description: 'PPC64 64 KiB pages: nvme-lite 16 KiB BAR + nic-lite (82576 VF shape) + nvme-lite 64 KiB BAR',
  ops: 6000,
  machine: (config) =>
    passthroughMachine(
      {
        platform: 'ppc64',
        devices: [
          nvmeLite({ name: 'nvme0', layout: 'bar0-16k' }),
          nicLite({ name: 'nic0' }),
          nvmeLite({ name: 'nvme1', layout: 'bar0-64k' }),
        ],
      },
      config,
    ),
});
