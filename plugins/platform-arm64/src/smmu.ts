import type { PciDevice } from '@vhw/pci';

/**
 * How the SMMU's stream IDs fall into IOMMU groups: `'acs'` when every device's path to
 * the root complex has ACS (Access Control Services: no peer-to-peer short cut past the
 * SMMU), so each device is a group of its own; `'bus'` when it has not, so every device on
 * the bus can reach the others untranslated and the kernel puts them all in one group.
 */
export type SmmuGrouping = 'acs' | 'bus';

/**
 * The IOMMU group of the `slot`-th device behind an SMMUv3, as the kernel forms it
 * (pci_device_group(): a device joins its upstream neighbours' group unless ACS isolates
 * it). Only isolation: arm64 has no EEH, so a group never freezes.
 * @param smmu The SMMU's name (the group ids start with it).
 * @param grouping Per device with ACS, else one group for the bus.
 * @param _device The device (its stream ID is its requester ID; unused while one bus is modelled).
 * @param slot Its enumeration order on the bus.
 * @returns The group id, `<smmu>:grp<N>`.
 * @example
 * smmuGroupId('smmu0', 'acs', dev, 2); // 'smmu0:grp2'
 */
export function smmuGroupId(smmu: string, grouping: SmmuGrouping, _device: PciDevice, slot: number): string {
  return `${smmu}:grp${grouping === 'bus' ? 0 : slot}`;
}
