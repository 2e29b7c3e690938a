import { nicLite } from '@vhw/device-nic-lite';
import { nvmeLite } from '@vhw/device-nvme-lite';
import { defineScenario, passthroughMachine } from '@vhw/experiment';

/**
 * The cover letter's own measurement, "performance for mmio accesses": the RFC's three
 * layouts (as ppc64-mixed: the common 16 KiB NVMe BAR, the 82576 VF shape, the 64 KiB
 * KIOXIA shape) on a PowerNV host, each guest driver running a loop of register reads and
 * writes on its device's hot registers (half reads, 4-byte accesses) with no I/O stack in
 * between. Ops are MMIO accesses; `vhw run ppc64-mmio` reports them per simulated second
 * and the all-vs-none ratio. Change the mix or size with `--set nvme0.mmioReadPercent=0`,
 * `--set nvme0.mmioAccessSize=8`.
 */
export default defineScenario({
  name: 'ppc64-mmio',
  description: 'PPC64 64 KiB pages: a loop of hot-register reads and writes on the ppc64-mixed layouts (MMIO accesses/s)',
  ops: 6000,
  machine: (config) =>
    passthroughMachine(
      {
        platform: 'ppc64',
        devices: [
          nvmeLite({ name: 'nvme0', layout: 'bar0-16k', workload: 'mmio' }),
          nicLite({ name: 'nic0', workload: 'mmio' }),
          nvmeLite({ name: 'nvme1', layout: 'bar0-64k', workload: 'mmio' }),
        ],
      },
      config,
    ),
});
