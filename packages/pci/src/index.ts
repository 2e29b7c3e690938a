/** @vhw/pci: PCI as the spec defines it, and the host bridge platforms build on. */
export * from './config-space.js';
export * from './msix.js';
export * from './device.js';
export * from './registers.js';
export * from './allocator.js';
export * from './iommu.js';
export * from './pci-function.js';
export * from './platform-policy.js';
export * from './host-resources.js';
export * from './msi-router.js';
export * from './dma-port.js';
export { BarGate, mmioTarget, wholeSpaceHandler } from './bar-access.js';
export * from './bar-placement.js';
export * from './host-bridge.js';
export * from './bind-host-bridge.js';
export * from './tokens.js';
