import {
  Reason,
  type VfioDeviceInfo,
  type VfioRegionInfo,
  VFIO_DEVICE_FLAGS_PCI_MSIX_MMAP,
  VFIO_REGION_INFO_CAP_MSIX_MAPPABLE,
  VFIO_REGION_INFO_CAP_SPARSE_MMAP,
  VFIO_REGION_INFO_FLAG_MMAP,
  type readMsixLayout,
} from '@vhw/vfio-pci';
import { type MsixRelocation, MsixRelocationReason } from './msix-relocation.js';

import { type AreaReason, VmmReason } from './reasons.js';

/** An MSI-X layout: the table and PBA, each a BAR index and an offset in it. */
export type MsixLayout = NonNullable<ReturnType<typeof readMsixLayout>>;

/** How a trapped piece is served once the access has exited to the VMM. */
export type TrapVia =
  /** pread/pwrite on the vfio device fd (the kernel's table protection applies). */
  | 'fd'
  /** The VMM's own mmap of the area: no syscall, but still an exit. */
  | 'qemu-mmap'
  /** The VMM's MSI-X table emulation. */
  | 'msix-table'
  /** The VMM's emulated PBA (crosvm, Firecracker). */
  | 'msix-pba'
  /** Nothing serves it: reads return 0, writes are lost (kvmtool's MSI-X BAR outside the table and PBA, a Cloud Hypervisor fd access past the region, a Firecracker BAR with no trap path). */
  | 'dropped';

/** One piece of a BAR as the VMM installs it. Pieces cover the BAR exactly, in order. */
export interface PlannedArea {
  offset: number;
  size: number;
  path: 'direct' | 'trap';
  via: TrapVia | 'kvm';
  reason: AreaReason;
}

/** A direct mapping to install: whole guest pages backed by whole host pages of the BAR. */
export interface PlannedDirect {
  /** Offset in the BAR of the first mapped byte (page aligned). */
  offset: number;
  /** Bytes mapped (whole pages; a grown sub-page BAR maps one page). */
  size: number;
}

export interface BarPlanInput {
  pageSize: number;
  /** Guest physical address of the BAR. */
  guestAddress: number;
  region: VfioRegionInfo;
  deviceInfo: VfioDeviceInfo;
  /** The MSI-X table in this BAR, if here (where the VMM emulates it: after a relocation, the relocated one). */
  msixTable?: { offset: number; size: number };
  /**
   * The device's own MSI-X table in this BAR when the VMM relocated its emulation elsewhere
   * (or elsewhere in this BAR): QEMU's fix-up still splits the mmap around it. Defaults to
   * `msixTable`.
   */
  deviceMsixTable?: { offset: number; size: number };
  /**
   * The BAR's size as the guest sees it, when the VMM enlarged it for a relocated MSI-X
   * table: the device backs only the region's bytes (the lower part). Defaults to the
   * region's size.
   */
  barSize?: number;
  /** The machine says the guest sets MSIs up paravirtually (vfio-no-msix-emulation). */
  noMsixEmulation: boolean;
  /** Another guest BAR lies in one of this BAR's guest pages. */
  guestPageShared: (pageGpa: number) => boolean;
  /** Label for a byte the kernel does not let us mmap (the kernel's diagnostics). */
  kernelReason: (offset: number) => AreaReason;
  /** The BAR index (read by policies other than QEMU's, which take the MSI-X layout by BAR). */
  index?: number;
  /** Whether the BAR is a 64-bit memory BAR. */
  is64?: boolean;
  /** The function's MSI-X layouts: as the guest sees it, as the device has it, and the VMM's relocation. */
  msix?: { guest: MsixLayout; device: MsixLayout; relocation?: MsixRelocation };
}

export interface BarPlan {
  areas: PlannedArea[];
  directs: PlannedDirect[];
  /** The areas userspace may mmap after the MSI-X fix-up. */
  mmapAreas: Array<{ offset: number; size: number }>;
  /** Whether the VMM emulates the MSI-X table of this BAR. */
  emulatesTable: boolean;
  /** Whether the sub-page BAR was grown to a page. */
  grown: boolean;
  /** What `explain` should say about this BAR under the VMM's rules although nothing is refused. */
  notes?: string[];
}

/**
 * Decides, from region info alone (as QEMU does), how each byte of a BAR reaches the
 * device: the kernel's mmappable areas (sparse capability or the whole region), QEMU's
 * MSI-X fix-up (split around the table rounded to host pages unless the table is
 * mappable), MSI-X table emulation (unless the machine sets vfio-no-msix-emulation),
 * sub-page growth (only when the guest BAR is host-page aligned) and KVM's rule that
 * only whole host pages of RAM-device memory are mapped into the guest.
 */
export function planBar(input: BarPlanInput): BarPlan {
  const P = input.pageSize;
  // D: the bytes the device backs; S: the BAR as the guest sees it (larger only after an
  // MSI-X relocation enlarged it, or added it with D = 0).
  const D = input.region.size;
  const S = input.barSize ?? D;
  const G = input.guestAddress;
  const table = input.msixTable;
  const deviceTable = input.deviceMsixTable ?? table;

  // 1. What the kernel lets us mmap.
  let areas: Array<{ offset: number; size: number }> = [];
  if ((input.region.flags & VFIO_REGION_INFO_FLAG_MMAP) !== 0) {
    const sparse = input.region.caps.find((c) => c.id === VFIO_REGION_INFO_CAP_SPARSE_MMAP);
    areas = sparse && 'areas' in sparse ? sparse.areas.filter((a) => a.size > 0).map((a) => ({ ...a })) : [{ offset: 0, size: D }];
  }
  const tableMappable =
    input.region.caps.some((c) => c.id === VFIO_REGION_INFO_CAP_MSIX_MAPPABLE) ||
    (input.deviceInfo.flags & VFIO_DEVICE_FLAGS_PCI_MSIX_MMAP) !== 0;

  // 2. QEMU's fix-up: a single whole-BAR mmap is split around the table (host-page rounded).
  // It runs before (and regardless of) a relocation, on the device's own table.
  if (deviceTable && !tableMappable && areas.length === 1 && areas[0]!.offset === 0 && areas[0]!.size === D) {
    const start = Math.floor(deviceTable.offset / P) * P;
    const end = Math.ceil((deviceTable.offset + deviceTable.size) / P) * P;
    areas = [];
    if (start > 0) areas.push({ offset: 0, size: start });
    if (end < D) areas.push({ offset: end, size: D - end });
  }
  const emulatesTable = table !== undefined && !input.noMsixEmulation;

  // 3. Sub-page growth: the whole region is one mmap and the guest BAR is host-page aligned.
  const wholeMmap = areas.length === 1 && areas[0]!.offset === 0 && areas[0]!.size === D;
  // Growing only pays when the guest page is the BAR's alone: another BAR in it wins the
  // overlap (QEMU re-adds the grown BAR at priority 0), so the page cannot map whole.
  const grown = S < P && wholeMmap && G % P === 0 && !input.guestPageShared(G - (G % P));

  const inMmap = (off: number) => areas.some((a) => off >= a.offset && off < a.offset + a.size);
  const inTable = (off: number) => emulatesTable && off >= table!.offset && off < table!.offset + table!.size;

  // 4. A guest page is direct when all of it is RAM-device: mmapped, no emulated table,
  // no other guest BAR in it, and (for a sub-page BAR) grown to a page.
  const pageDirect = new Map<number, boolean>();
  const pageBlocker = new Map<number, AreaReason>();
  const guestPageOf = (off: number) => Math.floor((G + off) / P) * P;
  for (let page = guestPageOf(0); page < G + S; page += P) {
    let blocker: AreaReason | undefined;
    const lo = Math.max(page - G, 0);
    const hi = Math.min(page + P - G, S);
    if (S < P) {
      if (!wholeMmap)
        blocker = undefined; // not mmapped at all: the fd reason applies
      else if (!grown) blocker = G % P !== 0 ? VmmReason.GuestBarUnaligned : VmmReason.GuestPageShared;
    } else if (page < G || page + P > G + S) blocker = VmmReason.GuestBarUnaligned;
    if (blocker === undefined && input.guestPageShared(page)) blocker = VmmReason.GuestPageShared;
    // An enlarged BAR whose device part ends inside this page: the rest is the VMM's.
    if (blocker === undefined && lo < D && D < hi) blocker = MsixRelocationReason.RelocatedPage;
    if (blocker === undefined && emulatesTable && table!.offset < hi && lo < table!.offset + table!.size) {
      blocker = tableMappable ? VmmReason.MsixEmulation : Reason.MsixTablePage;
    }
    // Areas are disjoint, so the page is covered when their overlaps add up to it.
    let covered = 0;
    for (const a of areas) covered += Math.max(0, Math.min(hi, a.offset + a.size) - Math.max(lo, a.offset));
    let allMapped = covered === hi - lo;
    if (S < P && !grown) allMapped = false;
    pageDirect.set(page, allMapped && blocker === undefined);
    if (blocker !== undefined) pageBlocker.set(page, blocker);
  }

  // 5. Classify the BAR byte ranges between every boundary, then merge equal neighbours.
  const cuts = new Set<number>([0, S]);
  for (const a of areas) cuts.add(a.offset).add(Math.min(a.offset + a.size, S));
  if (D < S) cuts.add(D);
  if (emulatesTable) cuts.add(table!.offset).add(table!.offset + table!.size);
  for (let page = guestPageOf(0) + P; page < G + S; page += P) cuts.add(page - G);
  const points = [...cuts].filter((c) => c >= 0 && c <= S).sort((a, b) => a - b);
  const out: PlannedArea[] = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const off = points[i]!;
    const size = points[i + 1]! - off;
    if (size <= 0) continue;
    const page = guestPageOf(off);
    let piece: Omit<PlannedArea, 'offset' | 'size'>;
    if (inTable(off)) piece = { path: 'trap', via: 'msix-table', reason: VmmReason.MsixTable };
    // Beyond the device's bytes: the space the VMM added for a relocated table (PBA, padding).
    else if (off >= D) piece = { path: 'trap', via: 'msix-table', reason: MsixRelocationReason.Relocated };
    else if (inMmap(off) && pageDirect.get(page))
      piece = { path: 'direct', via: 'kvm', reason: grown ? VmmReason.MmapSubPage : Reason.Mmap };
    else if (inMmap(off)) piece = { path: 'trap', via: 'qemu-mmap', reason: pageBlocker.get(page) ?? VmmReason.GuestBarUnaligned };
    else piece = { path: 'trap', via: 'fd', reason: input.kernelReason(off) };
    const prev = out[out.length - 1];
    if (prev && prev.path === piece.path && prev.via === piece.via && prev.reason === piece.reason && prev.offset + prev.size === off)
      prev.size += size;
    else out.push({ offset: off, size, ...piece });
  }

  // 6. Direct mappings: runs of direct pages (a grown BAR maps its one page).
  const directs: PlannedDirect[] = [];
  for (const [page, direct] of [...pageDirect.entries()].sort((a, b) => a[0] - b[0])) {
    if (!direct) continue;
    const off = page - G;
    const prev = directs[directs.length - 1];
    if (prev && prev.offset + prev.size === off) prev.size += P;
    else directs.push({ offset: off, size: P });
  }
  return { areas: out, directs, mmapAreas: areas, emulatesTable, grown };
}
