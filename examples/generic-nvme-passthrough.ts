/**
 * The control: the same NVMe-like controller on a 4 KiB-page host without EEH. A 16 KiB
 * BAR is four pages here, so its doorbells map direct without any patch; only the MSI-X
 * table's own page traps.
 * Run: node --import tsx --conditions=vhw-source examples/generic-nvme-passthrough.ts
 */
import { GuestMemoryToken, Machine, Path, VhwError, guestRam } from '@vhw/core';
import { nvmeLite } from '@vhw/device-nvme-lite';
import { GuestDriverToken, GuestOs, GuestPciBusToken } from '@vhw/guest';
import { genericPlatform } from '@vhw/platform-generic';
import { vfioPci } from '@vhw/vfio-pci';
import { VmmToken, vmm } from '@vhw/vmm';

const machine = Machine.create({
  plugins: [genericPlatform({ pageSize: 4096 }), guestRam({ size: 32 << 20 }), nvmeLite({ name: 'nvme0' }), vfioPci({}), vmm()],
});
const bus = machine.get(GuestPciBusToken);
const [driver] = machine.getAll(GuestDriverToken);
if (!driver) throw new VhwError('E_NOT_FOUND', 'generic-nvme-passthrough: no guest driver bound (nvme-lite contributes one)');
driver.probe({ cpu: machine.cpu, bus, os: new GuestOs(machine.cpu, machine.get(GuestMemoryToken)) });
machine.stats.reset();
const r = driver.run(1000);
for (const b of machine.get(VmmToken).bars) {
  for (const a of b.plan.areas) console.log(`BAR${b.index} +0x${a.offset.toString(16)} (${a.size} bytes): ${a.path}, ${a.reason}`);
}
console.log(`${r.completed} commands, MMIO direct ${machine.stats.count(Path.Direct)}, trapped ${machine.stats.count(Path.Trap)}`);
