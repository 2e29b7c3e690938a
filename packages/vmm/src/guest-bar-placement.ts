import { packBars } from '@vhw/pci';
import type { VfioRegionInfo } from '@vhw/vfio-pci';
import type { PassthroughFunction } from './passthrough-function.js';

/** How the guest's firmware places BARs: on host-page boundaries, or packed with natural alignment. */
export type GuestBarPlacement = 'page-aligned' | 'natural';

/** The guest MMIO windows the firmware places BARs in, and how. */
export interface GuestMmioWindows {
  guestBarPlacement: GuestBarPlacement;
  /** Window for 64-bit BARs. */
  guestMmioBase: number;
  guestMmioSize: number;
  /** Window below 4 GiB for 32-bit BARs. */
  guestMmio32Base: number;
  guestMmio32Size: number;
}

/** Where the guest's firmware put one BAR. */
export interface PlacedGuestBar {
  fn: PassthroughFunction;
  region: VfioRegionInfo;
  guestAddress: number;
  /** The BAR's size as the guest sees it (larger than the region's after an MSI-X relocation enlarged it). */
  size: number;
  /** Where the BAR sits in host MMIO; 0 for a BAR the VMM added for a relocated MSI-X table (nothing backs it). */
  hostAddress: number;
}

/**
 * Guest firmware's BAR placement: every BAR vfio reports (size > 0 and placed on the host)
 * is packed into the guest MMIO window, 64-bit BARs above 4 GiB and 32-bit ones in the window
 * below, aligned to at least the host page (`page-aligned`) or naturally (`natural`).
 * @param pageSize the host page size.
 * @returns the placements, functions in order and BARs by index within each.
 * @throws VhwError E_ALLOCATION when a window is too small.
 */
export function placeGuestBars(functions: readonly PassthroughFunction[], o: GuestMmioWindows, pageSize: number): PlacedGuestBar[] {
  const requests: Array<{
    key: string;
    size: number;
    fn: PassthroughFunction;
    region: VfioRegionInfo;
    is64: boolean;
    hostAddress: number;
  }> = [];
  for (const fn of functions) {
    for (let i = 0; i <= 5; i++) {
      const region = fn.dev.getRegionInfo(i);
      const assigned = fn.dev.fn.bar(i);
      // A BAR the VMM added for a relocated MSI-X table has no region and no host address.
      const added = fn.relocation?.added === true && fn.relocation.bar === i;
      if (!added && (region.size === 0 || !assigned)) continue;
      const size = fn.guestBarSize(i);
      requests.push({ key: `${fn.name}:BAR${i}`, size, fn, region, is64: fn.barIs64(i), hostAddress: assigned?.address ?? 0 });
    }
  }
  const minAlign = o.guestBarPlacement === 'page-aligned' ? pageSize : 0;
  const placed = [
    ...packBars(
      { name: 'guest MMIO (64-bit)', base: o.guestMmioBase, size: o.guestMmioSize },
      requests.filter((r) => r.is64),
      minAlign,
    ),
    ...packBars(
      { name: 'guest MMIO (32-bit)', base: o.guestMmio32Base, size: o.guestMmio32Size },
      requests.filter((r) => !r.is64),
      minAlign,
    ),
  ];
  return requests.map((r) => ({
    fn: r.fn,
    region: r.region,
    guestAddress: placed.find((x) => x.key === r.key)!.address,
    size: r.size,
    hostAddress: r.hostAddress,
  }));
}
