/** Extension points of the PCI layer. */

/** Device plugins bind their PciDevice instances here (multi-bound). */
export const PciDeviceToken = Symbol.for('vhw.PciDevice');

/** The platform binds its HostBridge here (through `bindHostBridge`); its `platform` is the facts record bound under core's `Platform`. */
export const PciHostToken = Symbol.for('vhw.PciHost');

/** The VMM binds the guest's PCI bus view here; guest drivers find their device through it. */
export const GuestPciBusToken = Symbol.for('vhw.GuestPciBus');

/** Device plugins bind their guest driver (the workload that exercises the device) here (multi-bound). */
export const GuestDriverToken = Symbol.for('vhw.GuestDriver');
