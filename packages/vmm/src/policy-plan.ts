import {
  Reason,
  VFIO_REGION_INFO_CAP_MSIX_MAPPABLE,
  VFIO_REGION_INFO_CAP_SPARSE_MMAP,
  VFIO_REGION_INFO_FLAG_MMAP,
  type VfioRegionInfo,
} from '@vhw/vfio-pci';
import type { BarPlan, BarPlanInput, PlannedArea, PlannedDirect, TrapVia } from './plan.js';
import type { AreaReason } from './reasons.js';
import { VmmReason } from './reasons.js';

/*
 * Helpers the non-QEMU policies share: page rounding, range arithmetic, what region info
 * says, and one assembler that turns a policy's KVM slots and trapped pieces into a
 * `BarPlan` the `PassthroughBar` installs. QEMU's own `planBar` stays as it was.
 */

/** A byte range of a BAR, from the BAR start. */
export interface BarRange {
  offset: number;
  size: number;
}

/** `x` rounded down to a multiple of `p`. */
export const down = (x: number, p: number): number => Math.floor(x / p) * p;
/** `x` rounded up to a multiple of `p`. */
export const up = (x: number, p: number): number => Math.ceil(x / p) * p;

/** The range rounded out to whole pages: `[down(start), up(end))`. */
export function roundOut(r: BarRange, p: number): BarRange {
  const start = down(r.offset, p);
  return { offset: start, size: up(r.offset + r.size, p) - start };
}

/** `areas` minus `holes`, in order (both lists of disjoint or overlapping ranges). */
export function subtractRanges(areas: readonly BarRange[], holes: readonly BarRange[]): BarRange[] {
  let out = areas.map((a) => ({ ...a }));
  for (const h of holes) {
    const next: BarRange[] = [];
    for (const a of out) {
      const aEnd = a.offset + a.size;
      const hEnd = h.offset + h.size;
      if (hEnd <= a.offset || aEnd <= h.offset) {
        next.push(a);
        continue;
      }
      if (a.offset < h.offset) next.push({ offset: a.offset, size: h.offset - a.offset });
      if (hEnd < aEnd) next.push({ offset: hEnd, size: aEnd - hEnd });
    }
    out = next;
  }
  return out.filter((a) => a.size > 0).sort((a, b) => a.offset - b.offset);
}

/** Whether `off` lies in one of `ranges`. */
export const within = (ranges: readonly BarRange[], off: number): boolean => ranges.some((r) => off >= r.offset && off < r.offset + r.size);

/** What region info says, as the VMMs read it. */
export interface RegionView {
  /** VFIO_REGION_INFO_FLAG_MMAP. */
  mmap: boolean;
  /** The SPARSE_MMAP areas, when the capability is there (zero-size areas dropped). */
  sparse: BarRange[] | undefined;
  /** The MSIX_MAPPABLE capability. */
  msixMappable: boolean;
  /** The first of SPARSE_MMAP and MSIX_MAPPABLE in chain order (Cloud Hypervisor reads only that one). */
  first: 'sparse' | 'msix-mappable' | undefined;
}

/** Reads a region's flags and capability chain. */
export function regionView(region: VfioRegionInfo, mmapFlag: number): RegionView {
  const sparseCap = region.caps.find((c) => c.id === VFIO_REGION_INFO_CAP_SPARSE_MMAP);
  const first = region.caps.find((c) => c.id === VFIO_REGION_INFO_CAP_SPARSE_MMAP || c.id === VFIO_REGION_INFO_CAP_MSIX_MAPPABLE);
  return {
    mmap: (region.flags & mmapFlag) !== 0,
    sparse: sparseCap && 'areas' in sparseCap ? sparseCap.areas.filter((a) => a.size > 0).map((a) => ({ ...a })) : undefined,
    msixMappable: region.caps.some((c) => c.id === VFIO_REGION_INFO_CAP_MSIX_MAPPABLE),
    first: first === undefined ? undefined : first.id === VFIO_REGION_INFO_CAP_SPARSE_MMAP ? 'sparse' : 'msix-mappable',
  };
}

/** The numbers every policy's `planBar` starts from. */
export interface BarBasics {
  /** Host page size. */
  P: number;
  /** Guest address of the BAR. */
  G: number;
  /** Bytes the device backs (the region's size). */
  D: number;
  /** The BAR as the guest sees it. */
  S: number;
  /** The BAR index. */
  index: number;
  /** What region info says. */
  rv: RegionView;
  /** Notes for `explain`, filled by the policy. */
  notes: string[];
}

/** Reads the numbers a policy plans one BAR from. */
export function barBasics(input: BarPlanInput): BarBasics {
  return {
    P: input.pageSize,
    G: input.guestAddress,
    D: input.region.size,
    S: input.barSize ?? input.region.size,
    index: input.index ?? input.region.index,
    rv: regionView(input.region, VFIO_REGION_INFO_FLAG_MMAP),
    notes: [],
  };
}

/** A trapped piece a policy names, and how it is served. */
export interface TrapPiece extends BarRange {
  via: TrapVia;
  reason: AreaReason;
}

/** What a policy decided for one BAR, before it becomes a `BarPlan`. */
export interface PolicyBarDecision {
  /** The BAR as the guest sees it (bytes). */
  size: number;
  /** KVM slots, BAR-relative, whole host pages at page-aligned guest addresses (a sub-page BAR's one page may pass `size`). */
  slots: readonly BarRange[];
  /** The areas the VMM mmaps through vfio-pci (each slot lies in one of them, rounded up to pages). */
  mmapAreas: readonly BarRange[];
  /** Trapped pieces the VMM serves its own way; the first that holds a byte wins. */
  pieces: readonly TrapPiece[];
  /** How every other trapped byte is served. */
  rest: (offset: number) => { via: TrapVia; reason: AreaReason };
  /** Whether a trapped table is emulated. */
  emulatesTable: boolean;
  notes: string[];
}

/**
 * The slots whose guest pages hold no other guest BAR. A VMM that rounds a slot up without
 * looking (crosvm, kvmtool, Cloud Hypervisor's expanded area) would cover the neighbour:
 * KVM refuses overlapping slots, so vhw leaves such a slot out (the bytes trap) and says so.
 */
export function unsharedSlots(
  slots: readonly BarRange[],
  guestAddress: number,
  pageSize: number,
  shared: (page: number) => boolean,
  notes: string[],
): BarRange[] {
  return slots.filter((s) => {
    for (let page = guestAddress + s.offset; page < guestAddress + s.offset + s.size; page += pageSize) {
      if (shared(page)) {
        notes.push(
          `the slot at BAR offset 0x${s.offset.toString(16)} would cover another guest BAR in its page: KVM refuses it, the bytes trap`,
        );
        return false;
      }
    }
    return true;
  });
}

/**
 * Turns a policy's decision into the `BarPlan` the `PassthroughBar` installs: pieces that
 * cover the BAR exactly, in order (direct where a slot holds them), and the slots as direct
 * mappings.
 */
export function assemblePlan(d: PolicyBarDecision): BarPlan {
  const S = d.size;
  const cuts = new Set<number>([0, S]);
  for (const r of [...d.slots, ...d.pieces]) cuts.add(r.offset).add(r.offset + r.size);
  const points = [...cuts].filter((c) => c >= 0 && c <= S).sort((a, b) => a - b);
  const grown = d.slots.some((s) => s.offset + s.size > S);
  const areas: PlannedArea[] = [];
  for (let i = 0; i + 1 < points.length; i++) {
    const off = points[i]!;
    const size = points[i + 1]! - off;
    let piece: Omit<PlannedArea, 'offset' | 'size'>;
    if (within(d.slots, off)) piece = { path: 'direct', via: 'kvm', reason: grown ? VmmReason.MmapSubPage : Reason.Mmap };
    else {
      const p = d.pieces.find((x) => off >= x.offset && off < x.offset + x.size);
      piece = { path: 'trap', ...(p ? { via: p.via, reason: p.reason } : d.rest(off)) };
    }
    const prev = areas[areas.length - 1];
    if (prev && prev.path === piece.path && prev.via === piece.via && prev.reason === piece.reason) prev.size += size;
    else areas.push({ offset: off, size, ...piece });
  }
  // One direct mapping per slot: each lies inside one mmap, as KVM's slots do.
  const directs: PlannedDirect[] = [...d.slots].sort((a, b) => a.offset - b.offset).map((s) => ({ offset: s.offset, size: s.size }));
  return {
    areas,
    directs,
    mmapAreas: d.mmapAreas.map((a) => ({ ...a })),
    emulatesTable: d.emulatesTable,
    grown,
    ...(d.notes.length > 0 ? { notes: d.notes } : {}),
  };
}
