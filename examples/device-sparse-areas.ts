/**
 * A device that describes its own sparse-mmap areas, as a vfio variant driver or a
 * vfio-user server does: nvme-lite's 64 KiB BAR0 (KIOXIA layout) on a 4 KiB host lists its
 * register page and its upper half only, keeping the doorbell pages (0x1000..) for itself.
 * vfio-pci reports the list in the region info in place of its own; the VMM maps exactly
 * those pages (less the MSI-X table's, which it emulates) and traps the rest.
 * Run: node --import tsx --conditions=vhw-source examples/device-sparse-areas.ts
 */
import { GuestMemoryToken, Machine, Path, VhwError, guestRam } from '@vhw/core';
import { nvmeLite } from '@vhw/device-nvme-lite';
import { GuestDriverToken, GuestOs, GuestPciBusToken } from '@vhw/guest';
import { genericPlatform } from '@vhw/platform-generic';
import { VfioToken, vfioPci } from '@vhw/vfio-pci';
import { VmmToken, vmm } from '@vhw/vmm';

const sparseAreas = [
  { offset: 0, size: 0x1000 },
  { offset: 0x8000, size: 0x8000 },
];
const machine = Machine.create({
  plugins: [
    genericPlatform({ pageSize: 4096 }),
    guestRam({ size: 32 << 20 }),
    nvmeLite({ name: 'nvme0', layout: 'bar0-64k', sparseAreas }),
    vfioPci({ variant: 'upstream', subPageMmap: true, msixMmap: true }),
    vmm(),
  ],
});
console.log('region info caps:', JSON.stringify(machine.get(VfioToken).device('nvme0').getRegionInfo(0).caps));
const [driver] = machine.getAll(GuestDriverToken);
if (!driver) throw new VhwError('E_NOT_FOUND', 'device-sparse-areas: no guest driver bound (nvme-lite contributes one)');
driver.probe({ cpu: machine.cpu, bus: machine.get(GuestPciBusToken), os: new GuestOs(machine.cpu, machine.get(GuestMemoryToken)) });
machine.stats.reset();
const r = driver.run(500);
for (const a of machine.get(VmmToken).bars[0]!.plan.areas) {
  console.log(`BAR0 +0x${a.offset.toString(16)} (${a.size} bytes): ${a.path}, ${a.reason}`);
}
console.log(`${r.completed} commands, MMIO direct ${machine.stats.count(Path.Direct)}, trapped ${machine.stats.count(Path.Trap)}`);
machine.dispose();
