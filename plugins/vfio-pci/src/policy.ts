import type { PatchSet, Variant } from '@vhw/core';
import type { Platform } from '@vhw/core';
import { withoutRange } from './device-areas.js';
import { Reason } from './reasons.js';
import type { SparseMmapArea } from './uapi.js';

/**
 * The kernel-side patch toggles, named as the experiment vocabulary (`PATCHES` in core)
 * names them: patch 2 (`subPageMmap`) and patch 3 (`msixMmap`), and the variant. Patch 1
 * (`alignBars`) lives in the platform.
 */
export interface VfioPatches extends Pick<PatchSet, 'subPageMmap' | 'msixMmap'> {
  /** Patch 2 (`subpage-mmap`): mmap sub-page BARs, under the variant's condition. */
  subPageMmap: boolean;
  /** Patch 3 (`msix-mmap`): mmap the page that holds the MSI-X table, under the variant's condition. */
  msixMmap: boolean;
  /** The series as posted (`rfc-2015`) or as merged (`upstream`). */
  variant: Variant;
}

/** The facts about one BAR the policy decides on. */
export interface BarFacts {
  index: number;
  size: number;
  /** Host physical address. */
  address: number;
  isIo: boolean;
  /** The MSI-X table's range in this BAR, if it is here. */
  msixTable?: { offset: number; size: number };
  /** Upstream patch 2: tries to reserve the rest of the BAR's page for the device. */
  claimPageRemainder: () => boolean;
  /**
   * The device's own sparse-mmap list for this BAR (whole host pages, in offset order), when
   * it describes one: reported in place of the list vfio-pci would compute.
   */
  deviceAreas?: readonly SparseMmapArea[];
}

/** What vfio-pci decided for a BAR, with the reason for every part it will not map. */
export interface BarMmapDecision {
  index: number;
  /** VFIO_REGION_INFO_FLAG_MMAP. */
  mmap: boolean;
  /** Why the whole BAR is not mmappable (when `mmap` is false). */
  reason: Reason;
  /** Set when a sparse-mmap capability is reported: the only areas userspace may mmap. */
  sparseAreas?: SparseMmapArea[];
  /** The device's own list, when it described one (`sparseAreas` is then derived from it). */
  deviceAreas?: SparseMmapArea[];
  /** The excluded range around the MSI-X table (page-rounded) and why, when excluded. */
  excluded?: { offset: number; size: number; reason: Reason };
  /** Upstream: the MSIX_MAPPABLE capability is attached. */
  msixMappable: boolean;
  /** Upstream patch 2: the page remainder was reserved (released on close). */
  reservedRemainder: boolean;
}

/**
 * The mmap policy of vfio-pci with the series' two kernel patches as toggles: one small
 * decision per BAR, every refusal carrying its reason. Patch 1 is not here: it is a
 * platform fact (`allMmioBarsPageAligned`) this policy reads.
 *
 * rfc-2015: a sub-page BAR is mmappable when the platform guarantees all BARs are page
 * aligned; the table page is mmappable when the platform has EEH.
 * upstream: a sub-page BAR is mmappable when it starts on a page and the rest of its
 * page can be reserved; the table is mappable unconditionally (MSIX_MAPPABLE), with no
 * sparse capability for the BAR.
 *
 * A device that describes its own areas (`BarFacts.deviceAreas`) stands for a variant
 * driver, an mdev parent or a vfio-user server: in Linux its region-info op answers for
 * that BAR and core's list is never built (nvgrace-gpu returns its own one-area list and
 * hands every other index to vfio_pci_core_ioctl()). Whether the BAR may be mmapped at all
 * stays core's decision (I/O BAR, patch 2 for a sub-page BAR: bar_mmap_supported is
 * computed by vfio_pci_core_enable(), which variant drivers call), and so does the MSI-X
 * table: where the table is not mappable its pages are cut out of the device's list (the
 * pre-4.16 mmap refused them whatever region info said), and where it is, upstream still
 * attaches MSIX_MAPPABLE (a statement about the host's MSI isolation, not the device).
 */
export class SubPageMmapPolicy {
  constructor(
    readonly patches: VfioPatches,
    private readonly facts: Pick<Platform, 'pageSize' | 'allMmioBarsPageAligned' | 'eeh'>,
  ) {}

  /** The RFC's PCI_PAGE_ALIGNED device flag. */
  get reportsPageAligned(): boolean {
    return this.patches.variant === 'rfc-2015' && this.patches.subPageMmap && this.facts.allMmioBarsPageAligned;
  }

  /** The RFC's PCI_MSIX_MMAP device flag. */
  get reportsMsixMmap(): boolean {
    return this.patches.variant === 'rfc-2015' && this.patches.msixMmap && this.facts.eeh;
  }

  decide(bar: BarFacts): BarMmapDecision {
    const d: BarMmapDecision = { index: bar.index, mmap: false, reason: Reason.Mmap, msixMappable: false, reservedRemainder: false };
    if (bar.isIo) return { ...d, reason: Reason.IoBar };

    const page = this.facts.pageSize;
    if (bar.size < page) {
      const refusal = this.subPageRefusal(bar);
      if (refusal !== undefined) return { ...d, reason: refusal };
      d.reservedRemainder = this.patches.variant === 'upstream';
    }
    d.mmap = true;
    const own = bar.deviceAreas;
    if (own !== undefined) {
      d.deviceAreas = own.map((a) => ({ ...a }));
      d.sparseAreas = own.map((a) => ({ ...a }));
    }

    if (bar.msixTable === undefined) return d;
    if (this.tableMappable()) {
      d.msixMappable = this.patches.variant === 'upstream';
      return d;
    }
    // Exclude the table rounded out to whole pages and advertise what is left (msix_sparse_mmap_cap()).
    const start = Math.floor(bar.msixTable.offset / page) * page;
    const end = Math.min(Math.ceil((bar.msixTable.offset + bar.msixTable.size) / page) * page, bar.size);
    let areas: SparseMmapArea[] = [];
    if (own !== undefined) areas = withoutRange(own, start, end);
    else {
      if (start > 0) areas.push({ offset: 0, size: start });
      if (end < bar.size) areas.push({ offset: end, size: bar.size - end });
    }
    const reason =
      this.patches.msixMmap && this.patches.variant === 'rfc-2015' && !this.facts.eeh ? Reason.NoIsolation : Reason.MsixTablePage;
    d.sparseAreas = areas;
    d.excluded = { offset: start, size: end - start, reason };
    return d;
  }

  /** Why a sub-page BAR may not be mmapped, or undefined if it may. */
  private subPageRefusal(bar: BarFacts): Reason | undefined {
    if (!this.patches.subPageMmap) return Reason.SubPageBar;
    if (this.patches.variant === 'rfc-2015') {
      return this.facts.allMmioBarsPageAligned ? undefined : Reason.BarsNotPageAligned;
    }
    if (bar.address % this.facts.pageSize !== 0) return Reason.SubPageBarUnaligned;
    return bar.claimPageRemainder() ? undefined : Reason.SharedPage;
  }

  private tableMappable(): boolean {
    if (!this.patches.msixMmap) return false;
    return this.patches.variant === 'upstream' || this.facts.eeh;
  }
}
