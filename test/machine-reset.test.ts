/** A machine reset of the whole passthrough stack leaves no host state behind. */
import { describe, expect, it } from 'vitest';
import { Machine, guestRam } from '@vhw/core';
import { nvmeLite } from '@vhw/device-nvme-lite';
import { PciHostToken } from '@vhw/pci';
import { type Ppc64Phb, ppc64Platform } from '@vhw/platform-ppc64';
import { vfioPci } from '@vhw/vfio-pci';
import { VmmToken, vmm } from '@vhw/vmm';

describe('machine reset', () => {
  it('a machine reset unfreezes every PE and gives the host MSI-X vectors back', () => {
    const m = Machine.create({ plugins: [ppc64Platform(), guestRam({ size: 1 << 22 }), nvmeLite({ name: 'n' }), vfioPci(), vmm()] });
    const v = m.get(VmmToken);
    const fn = v.find('n');
    fn.paravirtMsi!(2);
    const dev = v.functions[0]!.dev;
    expect(dev.msixIrqs).toHaveLength(2);
    const phb = m.get(PciHostToken) as Ppc64Phb;
    phb.injectError(dev.fn.group.id);
    m.reset();
    expect(phb.eehState(dev.fn.group.id)).toBe('normal');
    expect(dev.msixIrqs).toEqual([]);
  });
});
