import { VhwError, hex } from '@vhw/core';
import type { BarDecl } from '@vhw/pci';
import type { SparseMmapArea } from './uapi.js';

/**
 * A device's own sparse-mmap list (`BarDecl.sparseAreas`), checked against the host page
 * size. The device author's stand-in for a vfio variant driver, a mediated device's parent
 * or a vfio-user server that reports its own VFIO_REGION_INFO_CAP_SPARSE_MMAP for a BAR
 * (nvgrace-gpu does for its device-memory BARs: one area, the part backed by memory).
 *
 * The kernel maps whole pages: an mmap's offset and length are page multiples, and
 * vfio_pci_core_mmap() maps at most the BAR rounded up to a page. So an area must start on
 * a host page and be whole host pages long, or end exactly at the BAR's end (which, BAR
 * sizes being powers of two, only differs for a BAR smaller than a page: its one area
 * `[0, size)` maps the whole page, as patch 2 does). The device does not know the host's
 * page size, so this is checked here, when vfio-pci binds it, and not in the device's spec.
 * @param device The device's name (for the error).
 * @param bar The BAR and its list, already checked by `validatePciDeviceSpec` (inside the BAR, disjoint).
 * @param pageSize The host page size.
 * @returns A copy of the list, in offset order (touching areas stay apart, as the device gave them).
 * @throws VhwError E_CONFIG naming the device, the BAR, the area and the allowed values.
 * @example
 * deviceSparseAreas('gpu0', { index: 2, size: 0x40000, sparseAreas: [{ offset: 0, size: 0x30000 }] }, 0x10000);
 */
export function deviceSparseAreas(device: string, bar: BarDecl, pageSize: number): SparseMmapArea[] {
  const areas = bar.sparseAreas ?? [];
  areas.forEach((a, i) => {
    const endsBar = a.offset + a.size === bar.size;
    if (a.offset % pageSize !== 0 || (a.size % pageSize !== 0 && !endsBar)) {
      throw new VhwError(
        'E_CONFIG',
        `vfio-pci: device "${device}": BAR${bar.index} sparseAreas[${i}] [${hex(a.offset)}, ${hex(a.offset + a.size)}) is not whole host pages; allowed: offset a multiple of ${hex(pageSize)} (the host page size) and size a multiple of it or reaching the BAR's end (${hex(bar.size)})`,
      );
    }
  });
  // Reported as the device gave it, in offset order: a variant driver's list reaches QEMU
  // as is, and QEMU mmaps each area on its own (touching ones too).
  return [...areas].sort((x, y) => x.offset - y.offset).map((a) => ({ offset: a.offset, size: a.size }));
}

/**
 * `areas` with `[start, end)` cut out: what is left of a device's list once the kernel keeps
 * the MSI-X table's pages from userspace (before Linux 4.16 vfio_pci_mmap() refused any
 * mmap overlapping the table whatever the region info said; vhw keeps those pages out of
 * the list it reports too, so that the list and the mmap rule agree).
 */
export function withoutRange(areas: readonly SparseMmapArea[], start: number, end: number): SparseMmapArea[] {
  const out: SparseMmapArea[] = [];
  for (const a of areas) {
    const aEnd = a.offset + a.size;
    if (a.offset < start) out.push({ offset: a.offset, size: Math.min(aEnd, start) - a.offset });
    if (aEnd > end) out.push({ offset: Math.max(a.offset, end), size: aEnd - Math.max(a.offset, end) });
  }
  return out;
}

/**
 * Whether the mmap `[offset, offset + size)` lies inside the areas, each taken up to its
 * last page's end (an area ending a sub-page BAR maps its whole page).
 */
export function coveredByAreas(areas: readonly SparseMmapArea[], offset: number, size: number, pageSize: number): boolean {
  let covered = 0;
  for (const a of areas) {
    const end = Math.ceil((a.offset + a.size) / pageSize) * pageSize;
    covered += Math.max(0, Math.min(end, offset + size) - Math.max(a.offset, offset));
  }
  return covered === size;
}
