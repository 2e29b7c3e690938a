import type { MsixRelocationMode, PassthroughBar, Vmm } from '@vhw/vmm';

/**
 * The marker a result's `bars[]` entry carries when the VMM relocated a function's MSI-X
 * table into this BAR (`x-msix-relocation`). Absent on every other BAR, and on every BAR of
 * a run without relocation, so such results keep their shape.
 */
export interface BarMsixRelocation {
  /** A BAR the VMM added in an unused slot (nothing on the host backs it), or an existing one it doubled. */
  added: boolean;
  /** Bytes of the BAR the device backs (its lower part; 0 when added). The BAR's `size` is what the guest sees. */
  deviceSize: number;
  /** The emulated table: offset in the BAR and bytes (16 per vector). */
  table: { offset: number; size: number };
  /** The emulated PBA, right after the table. */
  pba: { offset: number; size: number };
  /** Whether the VMM emulates the table there (false when the machine sets vfio-no-msix-emulation). */
  emulated: boolean;
  /** Whether `auto` chose the BAR (by vhw's rule; QEMU refuses auto). */
  auto: boolean;
}

/** The device's own MSI-X table after a relocation: what became of its host page. */
export interface DeviceTableAfterRelocation {
  bar: number;
  offset: number;
  size: number;
  /** The host page that holds it. */
  hostPage: number;
  /** How the guest reaches the bytes of its guest page that the BAR covers: all direct, all trapped, or both. */
  path: 'direct' | 'trap' | 'mixed';
  /** The reasons of the BAR's areas in that page. */
  reasons: string[];
  /** Why, in words. */
  why: string;
}

/** One relocated MSI-X table in the page map (`PageMap.msixRelocations`). */
export interface PageMapMsixRelocation extends BarMsixRelocation {
  device: string;
  /** The BAR that holds the relocated table. */
  bar: number;
  /** Guest physical address and size of that BAR as the guest sees it. */
  guestAddress: number;
  guestSize: number;
  /** The device's own table, which stays where it is on the host. */
  deviceTable: DeviceTableAfterRelocation;
}

/** The relocation mode a run's VMM applied (`off` when its options do not name one). */
export function relocationOf(vmm: Vmm): MsixRelocationMode {
  return vmm.options.msixRelocation ?? 'off';
}

/** The `msixRelocated` marker of a `bars[]` entry, or undefined when `bar` holds no relocated table. */
export function barMsixRelocation(vmm: Vmm, bar: PassthroughBar): BarMsixRelocation | undefined {
  const r = bar.fn.relocation;
  if (!r || r.bar !== bar.index) return undefined;
  const vectors = bar.fn.msix!.vectors;
  return {
    added: r.added,
    deviceSize: r.deviceSize,
    table: { offset: r.tableOffset, size: vectors * 16 },
    pba: { offset: r.pbaOffset, size: Math.ceil(vectors / 64) * 8 },
    emulated: !vmm.noMsixEmulation,
    auto: r.auto,
  };
}

/** What to say of the device's own table page after a relocation, from its plan. */
function whyOf(path: DeviceTableAfterRelocation['path'], reasons: readonly string[]): string {
  if (path === 'direct') {
    return 'mapped direct: the kernel lets the table page be mmapped (patch 3) and the VMM emulates the table in the relocated BAR instead';
  }
  if (reasons.includes('msix-table') || reasons.includes('msix-emulation')) {
    return 'still trapped: the VMM emulates the device table here too';
  }
  // The relocation doubled this very BAR: its device part, smaller than a page, now shares
  // its guest page with the emulated space, whatever the kernel allows (see MsixRelocationReason).
  if (reasons.includes('msix-relocation-page')) {
    return 'still trapped (msix-relocation-page): the relocation enlarged this BAR, so its device registers share their guest page with the emulated space; relocate to a free BAR slot or to a BAR of at least a page';
  }
  return `still trapped (${reasons.join(', ')}): the kernel does not let the table page be mmapped, so QEMU's fix-up still leaves it out of the mmap; relocation only moves the emulated table`;
}

/**
 * The relocated MSI-X tables of a run for its page map: which BAR, its size, the emulated
 * table and PBA, and what became of the device's own table page (mapped, or trapped and why).
 * @returns one entry per relocated function (empty without relocation).
 */
export function pageMapMsixRelocations(vmm: Vmm): PageMapMsixRelocation[] {
  const out: PageMapMsixRelocation[] = [];
  const P = vmm.pageSize;
  for (const bar of vmm.bars) {
    const marker = barMsixRelocation(vmm, bar);
    const d = bar.fn.deviceMsix;
    if (!marker || !d) continue;
    const own = vmm.bars.find((b) => b.fn === bar.fn && b.index === d.tableBar);
    const size = d.vectors * 16;
    // The bytes of the device BAR in the guest page of the table's first byte.
    const lo = own ? Math.floor((own.guestAddress + d.tableOffset) / P) * P - own.guestAddress : 0;
    const areas = own?.plan.areas.filter((a) => a.offset < lo + P && lo < a.offset + a.size && a.offset < own.region.size) ?? [];
    const paths = new Set(areas.map((a) => a.path));
    const path = paths.size === 1 && paths.has('direct') ? 'direct' : paths.has('direct') ? 'mixed' : 'trap';
    const reasons = [...new Set(areas.map((a) => a.reason))];
    out.push({
      device: bar.device,
      bar: bar.index,
      guestAddress: bar.guestAddress,
      guestSize: bar.size,
      ...marker,
      deviceTable: {
        bar: d.tableBar,
        offset: d.tableOffset,
        size,
        hostPage: own ? Math.floor((own.hostAddress + d.tableOffset) / P) * P : 0,
        path,
        reasons,
        why: whyOf(path, reasons),
      },
    });
  }
  return out;
}
