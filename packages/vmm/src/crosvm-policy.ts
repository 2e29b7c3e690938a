import type { BarPlan, BarPlanInput } from './plan.js';
import type { VmmPolicy } from './policy.js';
import { vmmTraits } from './policy-traits.js';
import {
  type BarRange,
  barBasics,
  type TrapPiece,
  assemblePlan,
  roundOut,
  subtractRanges,
  unsharedSlots,
  up,
  within,
} from './policy-plan.js';
import { PolicyReason, VmmReason } from './reasons.js';

const COMMIT = 'f1e797a68dada35cbafef8d0cfae36bacfaea85e';

/**
 * crosvm's MSI-X geometry after its clip: when the table and PBA share a BAR and the PBA
 * starts inside the table, the table is cut to end where the PBA starts (7458a3a19,
 * e892738ed). Entries and PBA length `ceil(n / 64) * 8`.
 */
export function crosvmMsixClip(m: { vectors: number; tableBar: number; tableOffset: number; pbaBar: number; pbaOffset: number }): {
  entries: number;
  pbaBytes: number;
} {
  let n = m.vectors;
  if (m.tableBar === m.pbaBar && m.pbaOffset > m.tableOffset && m.tableOffset + 16 * n > m.pbaOffset)
    n = (m.pbaOffset - m.tableOffset) / 16;
  return { entries: n, pbaBytes: Math.ceil(n / 64) * 8 };
}

/**
 * crosvm (`devices/src/pci/vfio_pci.rs`, `devices/src/vfio.rs` at f1e797a6): a SPARSE_MMAP
 * list or MSIX_MAPPABLE marks the region "MSI-X mappable" and crosvm cuts no hole
 * (eb98b0b02, NVIDIA vGPU): the table page is then registered with KVM and its emulation
 * bypassed. Only a whole-region mmap without either capability gets holes: the table and
 * the PBA, each intersected with the area and rounded out to host pages (overlapping
 * removals allowed since 6087a7907, Intel SSD 660P). Each area becomes a KVM slot at
 * `G + offset` whose size is rounded up to a host page (e2d00176e), so a sub-page BAR maps
 * one page; a slot at a guest address that is not page aligned is refused by KVM and the
 * BAR's remaining areas trap. Trapped table and PBA are emulated, the rest goes to the fd.
 * crosvm refuses no layout and never relocates.
 */
export const crosvmPolicy: VmmPolicy = {
  id: 'crosvm',
  title: 'crosvm',
  sources: [
    { repo: 'google/crosvm', commit: COMMIT, file: 'devices/src/pci/vfio_pci.rs', symbol: 'add_bar_mmap' },
    { repo: 'google/crosvm', commit: COMMIT, file: 'devices/src/vfio.rs', symbol: 'get_regions' },
    { repo: 'google/crosvm', commit: COMMIT, file: 'hypervisor/src/kvm/mod.rs', symbol: 'add_memory_region' },
  ],
  traits: vmmTraits('crosvm'),
  relocationKnob: 'crosvm never relocates the MSI-X table',
  admit: () => undefined,
  relocate: () => undefined,
  planBar(input: BarPlanInput): BarPlan {
    const { P, G, D, S, index, rv, notes } = barBasics(input);
    let areas: BarRange[] = [];
    let markedMappable = false;
    if (rv.mmap) {
      if (rv.sparse) [areas, markedMappable] = [rv.sparse, true];
      else if (rv.msixMappable) [areas, markedMappable] = [[{ offset: 0, size: D }], true];
      else areas = [{ offset: 0, size: D }];
    }
    const m = input.msix?.device;
    const pieces: TrapPiece[] = [];
    let holes: BarRange[] = [];
    if (m) {
      const clip = crosvmMsixClip(m);
      if (clip.entries !== m.vectors) notes.push(`crosvm clips the MSI-X table to ${clip.entries} entries: the PBA starts inside it`);
      const table = m.tableBar === index ? { offset: m.tableOffset, size: clip.entries * 16 } : undefined;
      const pba = m.pbaBar === index ? { offset: m.pbaOffset, size: clip.pbaBytes } : undefined;
      if (table) pieces.push({ ...table, via: 'msix-table', reason: VmmReason.MsixTable });
      if (pba) pieces.push({ ...pba, via: 'msix-pba', reason: PolicyReason.MsixPba });
      const own = [table, pba].filter((x): x is BarRange => x !== undefined);
      if (own.length > 0 && !markedMappable) {
        // Each hole is cut from each area it meets, rounded out to pages after the intersection.
        for (const a of areas) {
          for (const h of own) {
            const lo = Math.max(a.offset, h.offset);
            const hi = Math.min(a.offset + a.size, h.offset + h.size);
            if (lo < hi) holes.push(roundOut({ offset: lo, size: hi - lo }, P));
          }
        }
        areas = subtractRanges(areas, holes);
      } else if (own.length > 0 && areas.length > 0) {
        notes.push('crosvm maps the MSI-X table page when the region is MSI-X mappable: its table emulation is bypassed');
      }
    }
    // KVM slots: each area at G + offset, size rounded up; the first refused one ends the BAR's slots.
    const slots: BarRange[] = [];
    for (const a of areas) {
      if ((G + a.offset) % P !== 0) {
        notes.push(`KVM refuses the slot at guest 0x${(G + a.offset).toString(16)} (not host-page aligned): the rest of the BAR traps`);
        break;
      }
      slots.push({ offset: a.offset, size: up(a.size, P) });
    }
    holes = holes.filter((h) => h.size > 0);
    return assemblePlan({
      size: S,
      slots: unsharedSlots(slots, G, P, input.guestPageShared, notes),
      mmapAreas: areas,
      pieces,
      rest: (off) =>
        within(holes, off)
          ? { via: 'fd', reason: PolicyReason.MsixHole }
          : within(areas, off)
            ? { via: 'fd', reason: VmmReason.GuestBarUnaligned }
            : { via: 'fd', reason: input.kernelReason(off) },
      emulatesTable: pieces.some((p) => p.via === 'msix-table'),
      notes,
    });
  },
};
