import type { Reason } from '@vhw/vfio-pci';
import { MSIX_RELOCATION_REMEDY, type MsixRelocationReason } from './msix-relocation.js';

/**
 * The reasons only the VMM decides: how it places and grows guest BARs, whether it
 * emulates the MSI-X table, and what it does when its own mmap is refused. Every other
 * reason is the kernel's (`Reason` of `@vhw/vfio-pci`), read from vfio's region info.
 */
export const VmmReason = {
  /** A sub-page BAR mapped by growing the guest mapping to one host page (direct). */
  MmapSubPage: 'mmap-sub-page',
  /** The VMM emulates the MSI-X table: accesses to the table itself. */
  MsixTable: 'msix-table',
  /** The table page may be mmapped but the VMM still emulates the table, so the page traps. */
  MsixEmulation: 'msix-emulation',
  /** The guest placed a sub-page BAR off a host-page boundary (no growth), or a BAR so that one of its guest pages is not all inside it. */
  GuestBarUnaligned: 'guest-bar-unaligned',
  /** Another guest BAR shares the guest page, so it cannot be one direct mapping. */
  GuestPageShared: 'guest-page-shared',
  /** vfio-pci refused the VMM's mmap of an area it had offered. */
  MmapFailed: 'mmap-failed',
} as const;
/** One of the VMM's own reasons. */
export type VmmReason = (typeof VmmReason)[keyof typeof VmmReason];

/**
 * The reasons only VMMs other than QEMU give (their policies, `--vmm`): kept apart from
 * `VmmReason` so that QEMU runs list exactly the reasons they always did.
 */
export const PolicyReason = {
  /** The VMM keeps the page(s) of the MSI-X table or PBA out of its own mmaps (its hole, its rounding). */
  MsixHole: 'vmm-msix-hole',
  /** The VMM emulates the PBA. */
  MsixPba: 'msix-pba',
  /** The VMM maps nothing of a BAR that holds the MSI-X table or PBA (Cloud Hypervisor without MSIX_MAPPABLE, kvmtool always). */
  MsixBar: 'vmm-msix-bar',
  /** The VMM has no handler there: reads return 0, writes are lost. */
  Unreachable: 'vmm-unreachable',
} as const;
/** One of the reasons a non-QEMU policy gives. */
export type PolicyReason = (typeof PolicyReason)[keyof typeof PolicyReason];

/** Why a planned area of a BAR is direct or traps: the kernel's reason or the VMM's. */
export type AreaReason = Reason | VmmReason | MsixRelocationReason | PolicyReason;

/** For each of the VMM's trap reasons: which setting would change it. `vhw explain` prints it. */
export const VMM_REASON_REMEDY: Readonly<Record<string, string>> = {
  [VmmReason.MsixTable]: 'patch 3 plus a machine that sets up MSIs paravirtually (vfio-no-msix-emulation)',
  [VmmReason.MsixEmulation]: 'the machine property vfio-no-msix-emulation (pSeries sets it)',
  [VmmReason.GuestBarUnaligned]: 'guest BAR placement page-aligned (vmm guestBarPlacement)',
  [VmmReason.GuestPageShared]: 'guest BAR placement page-aligned (vmm guestBarPlacement)',
  [VmmReason.MmapFailed]: 'see the mmap error',
  [PolicyReason.MsixHole]: 'MSIX_MAPPABLE (patch 3) where the VMM reads it (crosvm, QEMU), or another VMM (--vmm)',
  [PolicyReason.MsixPba]: 'none: this VMM always emulates the PBA it traps',
  [PolicyReason.MsixBar]: 'patch 3 (MSIX_MAPPABLE) for cloud-hypervisor; kvmtool never maps an MSI-X BAR',
  [PolicyReason.Unreachable]: 'another VMM (--vmm): this one serves nothing at this offset',
  ...MSIX_RELOCATION_REMEDY,
};
