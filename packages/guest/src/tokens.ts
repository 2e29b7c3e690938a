/** Extension points of the guest side. */
import { token } from '@vhw/core';
import type { GuestDriver } from './driver.js';
import type { GuestPciBus } from './pci-bus.js';

/** The VMM binds the guest's PCI bus view here; guest drivers find their device through it. */
export const GuestPciBusToken = token<GuestPciBus>('vhw.GuestPciBus');

/** Device plugins bind their guest driver (the workload that exercises the device) here (multi-bound). */
export const GuestDriverToken = token<GuestDriver>('vhw.GuestDriver');
