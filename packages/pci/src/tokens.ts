/** Extension points of the PCI layer. */

/** Device plugins bind their PciDevice instances here (multi-bound). */
export const PciDeviceToken = Symbol.for('vhw.PciDevice');

/** The platform binds its HostBridge (which states the PlatformFacts) here. */
export const PciHostToken = Symbol.for('vhw.PciHost');
