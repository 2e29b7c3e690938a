/** Extension points of the PCI layer. */

/** Device plugins bind their PciDevice instances here (multi-bound). */
export const PciDeviceToken = Symbol.for('vhw.PciDevice');

/** The platform binds its HostBridge here (through `bindHostBridge`); its `platform` is the facts record bound under core's `Platform`. */
export const PciHostToken = Symbol.for('vhw.PciHost');
