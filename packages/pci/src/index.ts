/** @vhw/pci: PCI as the spec defines it, and the host bridge platforms build on. */
export * from './config-space.js';
export * from './msix.js';
export * from './device.js';
export * from './allocator.js';
export * from './iommu.js';
export * from './host-bridge.js';
export * from './tokens.js';
