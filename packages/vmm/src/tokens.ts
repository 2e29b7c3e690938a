/** The VMM service and its stage (its options and dependency tokens sit beside their interfaces in vmm.ts). */
import { token } from '@vhw/core';
import { VFIO_PCI_STAGE } from '@vhw/vfio-pci';
import type { Vmm } from './vmm.js';

/** The VMM service (also bound as the guest PCI bus). */
export const VmmToken = token<Vmm>('vhw.Vmm');

/** When the VMM builds the guest view: after vfio-pci has bound the devices it reads. */
export const VMM_STAGE = VFIO_PCI_STAGE + 100;
