import type { UnassignedReason } from '@vhw/core';
import type { BarPlacement, MmioWindowSpec } from './allocator.js';
import type { PciDevice } from './device.js';
import type { HostOwner, IsolationGroup, PciFunction } from './pci-function.js';

/**
 * What a platform decides for its host bridge: how devices are grouped for isolation,
 * where BARs go, who owns window segments and how the hardware reacts to a stray access,
 * a foreign MSI or a DMA fault. The host bridge's units ask; the platform answers. Every
 * member is optional: what a platform leaves out behaves as on a plain host with one
 * isolation group per device and no error handling (the generic control host).
 *
 * | member | default | PPC64 (IODA2 PHB) |
 * |---|---|---|
 * | `groupIdFor` | one group per device | the device's PE |
 * | `barAlignment` | 0 (natural alignment) | the page size under patch 1 |
 * | `placeBars` | `packBars` over the one window | per-PE runs of M32 segments |
 * | `segmentsIn` | none | M32 segments and their PE |
 * | `unassignedAccess` | nothing | freeze the PE (EEH) |
 * | `validateMsi` | passes | the PE's own vectors only |
 * | `msiBlockedByFreeze` | false | a frozen PE raises no MSI |
 * | `dmaFault` | nothing | freeze the PE |
 * | `resetGroup` | reset, unfreeze, restore | EEH's slot reset sequence |
 */
export interface HostBridgePolicy {
  /** The isolation group (PE) id of the `slot`-th device. @throws VhwError E_ALLOCATION when none is left. */
  groupIdFor?(device: PciDevice, slot: number): string;
  /** The alignment every memory BAR gets at least (pcibios_default_alignment(); patch 1 raises it to the page size). */
  barAlignment?(): number;
  /** Places every memory BAR of every group. @throws VhwError E_ALLOCATION when a BAR does not fit. */
  placeBars?(groups: readonly IsolationGroup[], window: MmioWindowSpec): BarPlacement[];
  /** Window segments in `[base, base + size)` owned by groups, for the isolation rule. */
  segmentsIn?(base: number, size: number): HostOwner[];
  /** An access in the window no BAR decodes, or of a size the BAR does not accept (after the policy answered it). */
  unassignedAccess?(addr: number, size: number, isWrite: boolean, reason: UnassignedReason): void;
  /** Whether an MSI from `source` for an IRQ owned by `owner` may pass (MSI validation, interrupt remapping). */
  validateMsi?(source: PciFunction, owner: PciFunction | undefined): boolean;
  /** Whether `source`'s MSIs are dropped because its group is frozen. */
  msiBlockedByFreeze?(source: PciFunction): boolean;
  /** A DMA of `fn` at `iova` the IOMMU could not translate. */
  dmaFault?(fn: PciFunction, iova: number): void;
  /**
   * Resets a group and brings it back: reset each device, unfreeze, then `restore` each
   * function's BARs and command register (the platform's recovery sequence, e.g. EEH's).
   */
  resetGroup?(group: IsolationGroup, restore: (fn: PciFunction) => void): void;
}
