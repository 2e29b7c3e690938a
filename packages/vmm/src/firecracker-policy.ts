import { hex } from '@vhw/core';
import type { BarPlan, BarPlanInput, MsixLayout } from './plan.js';
import type { PolicyFunction, VmmPolicy, VmmRefusal } from './policy.js';
import { vmmTraits } from './policy-traits.js';
import { barBasics, type BarRange, type TrapPiece, assemblePlan, roundOut, subtractRanges, within } from './policy-plan.js';
import { PolicyReason, VmmReason } from './reasons.js';

const COMMIT = '85c8fe03bcb1e82482cc2f244f11bd01878226dd';

/** A Firecracker MSI-X hole: BAR-relative, rounded out to host pages, with what it holds. */
interface FcHole extends BarRange {
  bar: number;
  table: boolean;
  pba: boolean;
}

/**
 * Firecracker's MSI-X holes (`vfio_calculate_bar_areas()`): the table and the PBA
 * (`ceil(n / 64) * 8` bytes) each rounded out to host pages; two starting on one page merge
 * (the larger length), as its unit tests `..._overlapping_msix_holes` and
 * `..._same_gpa_different_size_msix_holes` show.
 */
export function firecrackerHoles(m: MsixLayout, pageSize: number, merge = true): FcHole[] {
  const table = { bar: m.tableBar, ...roundOut({ offset: m.tableOffset, size: m.vectors * 16 }, pageSize), table: true, pba: false };
  const pba = {
    bar: m.pbaBar,
    ...roundOut({ offset: m.pbaOffset, size: Math.ceil(m.vectors / 64) * 8 }, pageSize),
    table: false,
    pba: true,
  };
  if (merge && table.bar === pba.bar && table.offset === pba.offset) return [{ ...table, size: Math.max(table.size, pba.size), pba: true }];
  return [table, pba];
}

/**
 * Firecracker (`src/vmm/src/vfio.rs` at the head of PR #6055, 85c8fe03, with its unit
 * tests): a device must have MSI-X; the table and PBA holes are rounded out to host pages and
 * must lie inside their BARs (`MsixTableOutOfRange`, `MsixPbaOutOfRange`); a SPARSE_MMAP list
 * is checked (inside the BAR, whole pages) and mapped as given; MSIX_MAPPABLE maps the BAR
 * minus the holes; an MSI-X BAR with neither maps nothing and only its holes trap; a BAR
 * without MMAP has no trap path. Each area is one KVM slot of its own length (no rounding),
 * so an area that is not whole pages fails the device. Table and PBA are emulated in the
 * holes; the hole's other bytes go to the fd. No relocation, no sub-page growth.
 */
export const firecrackerPolicy: VmmPolicy = {
  id: 'firecracker',
  title: 'Firecracker',
  sources: [
    { repo: 'firecracker-microvm/firecracker', commit: COMMIT, file: 'src/vmm/src/vfio.rs', symbol: 'vfio_calculate_bar_areas' },
    { repo: 'firecracker-microvm/firecracker', commit: COMMIT, file: 'src/vmm/src/vfio.rs', symbol: 'vfio_handle_bar_access' },
    { repo: 'firecracker-microvm/firecracker', commit: COMMIT, file: 'src/vmm/src/vfio.rs', symbol: 'vfio_prepare_device' },
  ],
  traits: vmmTraits('firecracker'),
  relocationKnob: 'Firecracker never relocates the MSI-X table',
  admit(fn: PolicyFunction, pageSize: number): VmmRefusal | undefined {
    const m = fn.msix;
    if (!m) return { code: 'no-msix-irq', why: 'Device does not provide MSIx irq' };
    // Each hole is checked against its BAR before the two merge (table first, then PBA).
    for (const h of firecrackerHoles(m, pageSize, false)) {
      const size = fn.barSizes[h.bar] ?? 0;
      if (h.offset + h.size > size) {
        const kind = h.table ? 'table' : 'PBA';
        return {
          code: h.table ? 'msix-table-out-of-range' : 'msix-pba-out-of-range',
          bar: h.bar,
          why: `BAR ${h.bar} MSI-X ${kind} at offset ${hex(h.offset)} size ${hex(h.size)} does not fit in region of size ${hex(size)}`,
        };
      }
    }
    const [a, b] = firecrackerHoles(m, pageSize);
    if (a && b && a.bar === b.bar && a.offset < b.offset + b.size && b.offset < a.offset + a.size) {
      return {
        code: 'msix-holes-overlap',
        bar: a.bar,
        why: `MSI-X table and PBA holes overlap on different pages of BAR ${a.bar}: the MMIO bus refuses the second (the VMM panics)`,
      };
    }
    return undefined;
  },
  relocate: () => undefined,
  planBar(input: BarPlanInput): BarPlan | VmmRefusal {
    const { P, G, D, S, index, rv, notes } = barBasics(input);
    const m = input.msix?.device;
    const holes = m ? firecrackerHoles(m, P).filter((h) => h.bar === index) : [];
    let areas: BarRange[] = [];
    if (holes.length > 0 && !rv.msixMappable && !rv.sparse) {
      if (D > holes.reduce((n, h) => n + h.size, 0))
        notes.push(
          'Firecracker maps nothing of an MSI-X BAR without MSIX_MAPPABLE or a sparse list: its bytes outside the holes are unreachable',
        );
    } else if (rv.mmap || rv.sparse) {
      if (rv.sparse) {
        for (const a of rv.sparse) {
          if (a.offset + a.size > D || a.offset % P !== 0 || a.size % P !== 0) {
            return {
              code: 'sparse-mmap-area-out-of-range',
              why: `BAR ${index} sparse mmap area at offset ${hex(a.offset)} size ${hex(a.size)} does not fit in region of size ${hex(D)}`,
            };
          }
        }
        areas = rv.sparse;
      } else areas = rv.msixMappable ? subtractRanges([{ offset: 0, size: D }], holes) : [{ offset: 0, size: D }];
    } else if (holes.length === 0) notes.push('Firecracker has no trap path for a BAR it cannot mmap: the BAR is unreachable');
    for (const a of areas) {
      if ((G + a.offset) % P !== 0 || a.size % P !== 0) {
        return {
          code: 'set-user-memory-region',
          why: `KVM refuses a memory slot at guest ${hex(G + a.offset)} of ${hex(a.size)} bytes (not whole host pages)`,
        };
      }
    }
    const pieces: TrapPiece[] = [];
    if (m && m.tableBar === index)
      pieces.push({ offset: m.tableOffset, size: m.vectors * 16, via: 'msix-table', reason: VmmReason.MsixTable });
    if (m && m.pbaBar === index)
      pieces.push({ offset: m.pbaOffset, size: Math.ceil(m.vectors / 64) * 8, via: 'msix-pba', reason: PolicyReason.MsixPba });
    return assemblePlan({
      size: S,
      slots: areas,
      mmapAreas: areas,
      pieces,
      rest: (off) =>
        within(holes, off) ? { via: 'fd', reason: PolicyReason.MsixHole } : { via: 'dropped', reason: PolicyReason.Unreachable },
      emulatesTable: pieces.some((p) => p.via === 'msix-table'),
      notes,
    });
  },
};
