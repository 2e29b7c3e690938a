/** @vhw/guest: the guest OS side of a machine, as a guest kernel and its drivers see it. */
export * from './pci-bus.js';
export * from './eeh.js';
export * from './driver.js';
export * from './mmio-loop.js';
export * from './os.js';
export * from './tokens.js';
