/** Extension points of the guest side. */

/** The VMM binds the guest's PCI bus view here; guest drivers find their device through it. */
export const GuestPciBusToken = Symbol.for('vhw.GuestPciBus');

/** Device plugins bind their guest driver (the workload that exercises the device) here (multi-bound). */
export const GuestDriverToken = Symbol.for('vhw.GuestDriver');
