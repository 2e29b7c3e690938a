/**
 * Why the kernel lets a part of a BAR be mmapped or not: the reasons vfio-pci itself
 * decides (its mmap policy with patches 2 and 3, and `diagnose()`). The VMM adds its own
 * reasons on top (guest placement, MSI-X emulation, sub-page growth) in `@vhw/vmm`.
 */
export const Reason = {
  /** Whole host pages the kernel let userspace mmap (and the VMM mapped into the guest). */
  Mmap: 'mmap',
  /** The kernel refuses to mmap a BAR smaller than a page (patch 2 off). */
  SubPageBar: 'sub-page-bar',
  /** RFC patch 2 is on but the platform does not guarantee page-aligned BARs (patch 1 off). */
  BarsNotPageAligned: 'bars-not-page-aligned',
  /** Upstream patch 2: the sub-page BAR does not start on a page boundary. */
  SubPageBarUnaligned: 'sub-page-bar-unaligned',
  /** Upstream patch 2: the rest of the BAR's page could not be reserved (something else is there). */
  SharedPage: 'shared-page',
  /** The kernel excludes the page(s) holding the MSI-X table from mmap (patch 3 off). */
  MsixTablePage: 'msix-table-page',
  /** RFC patch 3 is on but the platform has no EEH/PE MSI validation. */
  NoIsolation: 'no-isolation',
  /** The device's own sparse-mmap list leaves this part of the BAR out (a variant driver's or vfio-user server's choice). */
  DeviceSparse: 'device-sparse',
  /** I/O BARs are never mmapped. */
  IoBar: 'io-bar',
  /** An address nothing decodes (a region with no BAR; the VMM uses it for unassigned guest accesses too). */
  Unassigned: 'unassigned',
} as const;
/** One of the kernel's reasons. */
export type Reason = (typeof Reason)[keyof typeof Reason];

/** For each of the kernel's trap reasons: which patch (or platform) would change it. `vhw explain` prints it. */
export const REASON_REMEDY: Readonly<Record<string, string>> = {
  [Reason.SubPageBar]: 'patch 2 (subpage-mmap), with patch 1 (align-bars) under rfc-2015',
  [Reason.BarsNotPageAligned]: 'patch 1 (align-bars): the platform must guarantee page-aligned BARs',
  [Reason.SubPageBarUnaligned]: 'patch 1 (align-bars) places the BAR on a page boundary',
  [Reason.SharedPage]: 'patch 1 (align-bars) keeps other BARs out of the page',
  [Reason.MsixTablePage]: 'patch 3 (msix-mmap)',
  [Reason.NoIsolation]: 'a platform with EEH/PE MSI validation (ppc64) for rfc-2015 patch 3',
  [Reason.DeviceSparse]: "none of the patches: the device's own sparse-mmap list (BarDecl.sparseAreas) decides",
  [Reason.IoBar]: 'none: I/O BARs always trap',
  [Reason.Unassigned]: 'none: nothing decodes the address',
};
