/**
 * PPC64 (64 KiB pages) passing an NVMe-like controller with the common 16 KiB BAR0 to a
 * pSeries guest, once without and once with the RFC's three patches.
 * Run: node --import tsx --conditions=vhw-source examples/ppc64-nvme-passthrough.ts
 */
import { GuestMemoryToken, Machine, Path, VhwError, guestRam } from '@vhw/core';
import { nvmeLite } from '@vhw/device-nvme-lite';
import { GuestDriverToken, GuestOs, GuestPciBusToken } from '@vhw/guest';
import { ppc64Platform } from '@vhw/platform-ppc64';
import { vfioPci } from '@vhw/vfio-pci';
import { vmm } from '@vhw/vmm';

for (const patched of [false, true]) {
  const machine = Machine.create({
    plugins: [
      ppc64Platform({ alignBars: patched }), // patch 1
      guestRam({ size: 32 << 20 }),
      nvmeLite({ name: 'nvme0', layout: 'bar0-16k' }),
      vfioPci({ variant: 'rfc-2015', subPageMmap: patched, msixMmap: patched }), // patches 2 and 3
      vmm(),
    ],
  });
  const bus = machine.get(GuestPciBusToken);
  const os = new GuestOs(machine.cpu, machine.get(GuestMemoryToken));
  const [driver] = machine.getAll(GuestDriverToken);
  if (!driver) throw new VhwError('E_NOT_FOUND', 'ppc64-nvme-passthrough: no guest driver bound (nvme-lite contributes one)');
  driver.probe({ cpu: machine.cpu, bus, os });

  machine.stats.reset();
  const t0 = machine.clock.now;
  const { completed, failed } = driver.run(1000);
  const us = (machine.clock.now - t0) / 1000;
  const s = machine.stats;
  console.log(
    `${patched ? 'P1+P2+P3' : 'no patches'}: ${completed} commands (${failed} failed) in ${us.toFixed(0)} us simulated;`,
    `MMIO direct ${s.count(Path.Direct)}, trapped ${s.count(Path.Trap)}`,
    s.trapsByReason,
  );
  machine.dispose();
}
