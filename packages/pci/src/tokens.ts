/** Extension points of the PCI layer. */
import { CoreStage, token } from '@vhw/core';
import type { PciDevice } from './device.js';
import type { HostBridge } from './host-bridge.js';

/** Device plugins bind their PciDevice instances here (multi-bound; the host bridge reads them as a contribution point). */
export const PciDeviceToken = token<PciDevice>('vhw.PciDevice');

/** The platform binds its HostBridge here (through `bindHostBridge`); its `platform` is the facts record bound under core's `PlatformToken`. */
export const PciHostToken = token<HostBridge>('vhw.PciHost');

/** When the host bridge realizes its devices: after the platform and RAM, before devices mapped without a bus. */
export const PCI_BUS_STAGE = CoreStage.Platform + 100;
