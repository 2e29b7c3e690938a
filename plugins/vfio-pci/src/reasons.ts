/**
 * Why a part of a BAR is reached directly or traps. A fixed vocabulary shared by the
 * kernel model (vfio-pci), the VMM, statistics and the CLI's explanations.
 */
export const Reason = {
  /** Whole host pages the kernel let userspace mmap and the VMM mapped into the guest. */
  Mmap: 'mmap',
  /** A sub-page BAR mapped by growing the guest mapping to one host page. */
  MmapSubPage: 'mmap-sub-page',
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
  /** The VMM emulates the MSI-X table: accesses to the table itself. */
  MsixTable: 'msix-table',
  /** The table page may be mmapped but the VMM still emulates the table, so the page traps. */
  MsixEmulation: 'msix-emulation',
  /** The guest placed a sub-page BAR off a host-page boundary: no growth, it traps. */
  GuestBarUnaligned: 'guest-bar-unaligned',
  /** Another guest BAR shares the guest page, so it cannot be one direct mapping. */
  GuestPageShared: 'guest-page-shared',
  /** I/O BARs are never mmapped. */
  IoBar: 'io-bar',
  /** The VMM's mmap request was refused. */
  MmapFailed: 'mmap-failed',
  /** Guest access to an address nothing decodes. */
  Unassigned: 'unassigned',
} as const;
export type Reason = (typeof Reason)[keyof typeof Reason];

/** For each trap reason: which patch (or setting) would change it. Used by `vhw explain`. */
export const REASON_REMEDY: Readonly<Record<string, string>> = {
  [Reason.SubPageBar]: 'patch 2 (subpage-mmap), with patch 1 (align-bars) under rfc-2015',
  [Reason.BarsNotPageAligned]: 'patch 1 (align-bars): the platform must guarantee page-aligned BARs',
  [Reason.SubPageBarUnaligned]: 'patch 1 (align-bars) places the BAR on a page boundary',
  [Reason.SharedPage]: 'patch 1 (align-bars) keeps other BARs out of the page',
  [Reason.MsixTablePage]: 'patch 3 (msix-mmap)',
  [Reason.NoIsolation]: 'a platform with EEH/PE MSI validation (ppc64) for rfc-2015 patch 3',
  [Reason.MsixTable]: 'patch 3 plus a machine that sets up MSIs paravirtually (vfio-no-msix-emulation)',
  [Reason.MsixEmulation]: 'the machine property vfio-no-msix-emulation (pSeries sets it)',
  [Reason.GuestBarUnaligned]: 'guest BAR placement page-aligned (vmm guestBarPlacement)',
  [Reason.GuestPageShared]: 'guest BAR placement page-aligned (vmm guestBarPlacement)',
  [Reason.IoBar]: 'none: I/O BARs always trap',
  [Reason.MmapFailed]: 'see the mmap error',
  [Reason.Unassigned]: 'none: nothing decodes the address',
};
