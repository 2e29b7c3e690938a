/** The VMM's MSI-X emulation as the guest sees it through config space. */
import { describe, expect, it } from 'vitest';
import { Machine, guestRam } from '@vhw/core';
import { nvmeLite } from '@vhw/device-nvme-lite';
import { ppc64Platform } from '@vhw/platform-ppc64';
import { vfioPci } from '@vhw/vfio-pci';
import { VmmToken, vmm } from '@vhw/vmm';

describe('MSI-X message control in the guest config space', () => {
  it('a dword config access at the MSI-X capability sees and sets the emulated message control', () => {
    const m = Machine.create({
      plugins: [ppc64Platform(), guestRam({ size: 1 << 22 }), nvmeLite({ name: 'n' }), vfioPci(), vmm({ noMsixEmulation: false })],
    });
    const fn = m.get(VmmToken).find('n');
    const dword = fn.configRead(0x40, 4);
    expect(dword & 0xff).toBe(0x11); // MSI-X capability id
    expect(dword >>> 31).toBe(0); // not enabled yet (vfio's host control is not shown)
    fn.configWrite(0x40, 4, (dword | 0x8000_0000) >>> 0);
    expect(fn.configRead(0x42, 2) & 0x8000).toBe(0x8000);
    fn.configWrite(0x42, 1, 0); // a byte write to the low half leaves enable alone
    expect(fn.configRead(0x42, 2) & 0x8000).toBe(0x8000);
  });
});
