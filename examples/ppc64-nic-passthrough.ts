/**
 * PPC64 (64 KiB pages) passing a NIC VF shaped like the Intel 82576 VF to a pSeries
 * guest: patches 1+2 free its register BAR; patch 3 only matters for its MSI-X BAR.
 * Run: node --import tsx --conditions=vhw-source examples/ppc64-nic-passthrough.ts
 */
import { GuestMemoryToken, Machine, Path, VhwError, guestRam } from '@vhw/core';
import { nicLite } from '@vhw/device-nic-lite';
import { GuestDriverToken, GuestOs, GuestPciBusToken } from '@vhw/guest';
import { ppc64Platform } from '@vhw/platform-ppc64';
import { vfioPci } from '@vhw/vfio-pci';
import { VmmToken, vmm } from '@vhw/vmm';

for (const [p1, p2] of [
  [false, false],
  [true, false],
  [true, true],
]) {
  const machine = Machine.create({
    plugins: [
      ppc64Platform({ alignBars: p1 }),
      guestRam({ size: 32 << 20 }),
      nicLite({ name: 'nic0' }),
      vfioPci({ subPageMmap: p2 }),
      vmm(),
    ],
  });
  const bus = machine.get(GuestPciBusToken);
  const [driver] = machine.getAll(GuestDriverToken);
  if (!driver) throw new VhwError('E_NOT_FOUND', 'ppc64-nic-passthrough: no guest driver bound (nic-lite contributes one)');
  driver.probe({ cpu: machine.cpu, bus, os: new GuestOs(machine.cpu, machine.get(GuestMemoryToken)) });
  machine.stats.reset();
  const t0 = machine.clock.now;
  const r = driver.run(2000);
  const bars = machine.get(VmmToken).bars.map((b) => `BAR${b.index}: ${b.plan.areas.map((a) => `${a.path} (${a.reason})`).join(', ')}`);
  console.log(
    `P1=${p1 ? 'on' : 'off'} P2=${p2 ? 'on' : 'off'}: ${r.completed} packets in ${((machine.clock.now - t0) / 1000).toFixed(0)} us;`,
    `direct ${machine.stats.count(Path.Direct)}, trapped ${machine.stats.count(Path.Trap)}; ${bars.join('; ')}`,
  );
  machine.dispose();
}
