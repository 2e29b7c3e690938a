import { hex } from '@vhw/core';
import { MsixRelocationReason } from './msix-relocation.js';
import type { BarPlan, BarPlanInput } from './plan.js';
import type { VmmPolicy, VmmRefusal } from './policy.js';
import { vmmTraits } from './policy-traits.js';
import { barBasics, type BarRange, type TrapPiece, assemblePlan, down, unsharedSlots, up, within } from './policy-plan.js';
import { PolicyReason, VmmReason } from './reasons.js';

const COMMIT = 'ae44c2971c83dd2b1bd704fa81102ec0dec4e7d4';
const K4 = 0x1000;

/** Cloud Hypervisor's PBA length, `(floor(n / 64) + 1) * 8` (`MsixCap::pba_range()`: a qword more when n is a multiple of 64). */
export const chPbaBytes = (vectors: number): number => (Math.floor(vectors / 64) + 1) * 8;

/**
 * Cloud Hypervisor's holes on the MSIX_MAPPABLE path (`generate_sparse_areas()`): for the
 * table `[down(o), down(o) + up(16n))` and the PBA `[down(o), down(o) + up(pbaLen))`, keyed
 * by start (a PBA hole with the table's start replaces it), only when the start lies inside
 * the physical BAR (915675882, issue #7898); then the areas between them.
 * @returns the mmap areas and the holes.
 */
export function chSparseAreas(
  regionSize: number,
  pageSize: number,
  table: { offset: number; size: number } | undefined,
  pba: { offset: number; size: number } | undefined,
): { areas: BarRange[]; holes: BarRange[] } {
  const byStart = new Map<number, number>();
  for (const h of [table, pba]) {
    if (!h) continue;
    const key = down(h.offset, pageSize);
    if (key < regionSize) byStart.set(key, up(h.size, pageSize));
  }
  const holes = [...byStart.entries()].sort((a, b) => a[0] - b[0]).map(([offset, size]) => ({ offset, size }));
  const areas: BarRange[] = [];
  let cur = 0;
  for (const h of holes) {
    if (h.offset > cur) areas.push({ offset: cur, size: h.offset - cur });
    cur = down(h.offset + h.size, pageSize);
  }
  if (regionSize > cur) areas.push({ offset: cur, size: regionSize - cur });
  return { areas, holes };
}

/**
 * Cloud Hypervisor (`pci/src/vfio.rs` at ae44c297). A BAR holding the MSI-X table or PBA is
 * not mapped at all without MSIX_MAPPABLE; otherwise the first of SPARSE_MMAP (trusted) and
 * MSIX_MAPPABLE (its own holes, `chSparseAreas`, after checking that the guest address is
 * 4 KiB aligned and the size a 4 KiB multiple) in chain order decides the areas. A 64-bit
 * BAR whose table is not host-page aligned is doubled and the table moved to its middle
 * (`fixup_msix_region()`, a71871683, #5292); trapped bytes past the physical BAR are refused
 * by the fd path (dropped). A sub-page area at offset 0 is expanded to a page (23a980cd5,
 * PR #7939); one elsewhere, or a slot KVM cannot take, fails the device. Only the table is
 * emulated: the PBA goes to the fd.
 */
export const cloudHypervisorPolicy: VmmPolicy = {
  id: 'cloud-hypervisor',
  title: 'Cloud Hypervisor',
  sources: [
    { repo: 'cloud-hypervisor/cloud-hypervisor', commit: COMMIT, file: 'pci/src/vfio.rs', symbol: 'generate_sparse_areas' },
    { repo: 'cloud-hypervisor/cloud-hypervisor', commit: COMMIT, file: 'pci/src/vfio.rs', symbol: 'fixup_msix_region' },
    { repo: 'cloud-hypervisor/cloud-hypervisor', commit: COMMIT, file: 'pci/src/vfio.rs', symbol: 'map_mmio_regions' },
  ],
  traits: vmmTraits('cloud-hypervisor'),
  relocationKnob: 'Cloud Hypervisor relocates by its own rule (64-bit BARs whose table is not page aligned)',
  admit: () => undefined,
  relocate(input) {
    const m = input.msix;
    const bar = m ? input.bars[m.tableBar] : undefined;
    if (!m || !bar?.is64 || m.tableOffset % input.pageSize === 0) return undefined;
    const msixSize = up(m.vectors * 16 + chPbaBytes(m.vectors), input.pageSize);
    const guestSize = Math.max(2 * bar.size, 2 * msixSize);
    const tableOffset = guestSize / 2;
    return {
      bar: m.tableBar,
      added: false,
      guestSize,
      deviceSize: bar.size,
      is64: true,
      tableOffset,
      pbaOffset: tableOffset + m.pbaOffset - m.tableOffset,
      msixSize,
      auto: false,
    };
  },
  planBar(input: BarPlanInput): BarPlan | VmmRefusal {
    const { P, G, D, S, index, rv, notes } = barBasics(input);
    const dev = input.msix?.device;
    const g = input.msix?.guest;
    const holdsMsix = dev !== undefined && (dev.tableBar === index || dev.pbaBar === index);
    const table = g && g.tableBar === index ? { offset: g.tableOffset, size: g.vectors * 16 } : undefined;
    const pba = g && g.pbaBar === index ? { offset: g.pbaOffset, size: chPbaBytes(g.vectors) } : undefined;
    let areas: BarRange[] = [];
    let holes: BarRange[] = [];
    if (rv.mmap && !(holdsMsix && !rv.msixMappable)) {
      if (rv.first === 'sparse') areas = rv.sparse ?? [];
      else if (rv.first === 'msix-mappable') {
        if (G % K4 !== 0) return { code: 'region-alignment', why: `Region start address ${hex(G)} must be at least aligned on 4KiB` };
        if (D % K4 !== 0) return { code: 'region-size', why: `Region size ${hex(D)} must be at least a multiple of 4KiB` };
        ({ areas, holes } = chSparseAreas(D, P, table, pba));
        if (table && within(areas, table.offset + table.size - 1))
          notes.push('the table hole misses the last page the table touches: that page is mapped and its entries bypass the emulation');
      } else areas = [{ offset: 0, size: D }];
    }
    const slots: BarRange[] = [];
    for (const a of areas) {
      if (a.size < P && a.offset !== 0) {
        return {
          code: 'mmap-area',
          why: `BAR ${index}: sub-page sparse area at non-zero offset ${hex(a.offset)} cannot be safely expanded to page size`,
        };
      }
      const size = Math.max(a.size, P);
      if ((G + a.offset) % P !== 0 || size % P !== 0) {
        return {
          code: 'create-user-memory-region',
          why: `Failed to create user memory region (guest ${hex(G + a.offset)}, ${hex(size)} bytes: not whole host pages)`,
        };
      }
      slots.push({ offset: a.offset, size });
    }
    const pieces: TrapPiece[] = table ? [{ ...table, via: 'msix-table', reason: VmmReason.MsixTable }] : [];
    return assemblePlan({
      size: S,
      slots: unsharedSlots(slots, G, P, input.guestPageShared, notes),
      mmapAreas: areas,
      pieces,
      rest: (off) =>
        off >= D
          ? { via: 'dropped', reason: MsixRelocationReason.Relocated }
          : holdsMsix && !rv.msixMappable
            ? { via: 'fd', reason: PolicyReason.MsixBar }
            : within(holes, off)
              ? { via: 'fd', reason: PolicyReason.MsixHole }
              : { via: 'fd', reason: input.kernelReason(off) },
      emulatesTable: table !== undefined,
      notes,
    });
  },
};
