import { hex } from '@vhw/core';
import type { MsixLayout } from './plan.js';
import type { BarPlan, BarPlanInput } from './plan.js';
import type { PolicyFunction, VmmPolicy, VmmRefusal } from './policy.js';
import { vmmTraits } from './policy-traits.js';
import { barBasics, type BarRange, type TrapPiece, assemblePlan, unsharedSlots, up } from './policy-plan.js';
import { PolicyReason, VmmReason } from './reasons.js';

const COMMIT = 'b48735e5d562eaffb96cf98a91da212176f1534c';

/** kvmtool's table and PBA window lengths: `align8(16n)` and `align8(ceil(n / 64))` (8 bytes up to 512 vectors). */
export function kvmtoolMsixWindows(vectors: number): { tableBytes: number; pbaBytes: number } {
  return { tableBytes: up(16 * vectors, 8), pbaBytes: up(Math.ceil(vectors / 64), 8) };
}

/**
 * kvmtool (`vfio/pci.c`, `vfio/core.c` at b48735e5): reads no region-info capability (no
 * sparse list, no MSIX_MAPPABLE), only the MMAP flag. It moves the MSI-X table to offset 0
 * of its BAR in the guest's view and never maps an MSI-X BAR: the table is emulated, the PBA
 * read from the device through the fd, and every other byte of that BAR has no handler
 * (registers there are unreachable; f93acc0 for the RTL8168 on 64 KiB arm64). Any other BAR
 * is one mmap and one KVM slot of the BAR rounded up to a page when its guest address is page
 * aligned (b4fc4f6: else it traps whole). It refuses a table (moved to 0) that overlaps the
 * PBA and a PBA past its BAR (`vfio_pci_create_msix_table()`).
 */
export const kvmtoolPolicy: VmmPolicy = {
  id: 'kvmtool',
  title: 'kvmtool',
  sources: [
    { repo: 'kvmtool/kvmtool', commit: COMMIT, file: 'vfio/pci.c', symbol: 'vfio_pci_create_msix_table' },
    { repo: 'kvmtool/kvmtool', commit: COMMIT, file: 'vfio/pci.c', symbol: 'vfio_pci_bar_activate' },
    { repo: 'kvmtool/kvmtool', commit: COMMIT, file: 'vfio/core.c', symbol: 'vfio_map_region' },
  ],
  traits: vmmTraits('kvmtool'),
  relocationKnob: 'kvmtool always moves the MSI-X table to offset 0 of its BAR and never maps that BAR',
  admit(fn: PolicyFunction): VmmRefusal | undefined {
    for (const [i, size] of fn.barSizes.entries()) {
      if (size > 0 && !fn.ioBars[i] && (size & (size - 1)) !== 0)
        return { code: 'region-not-power-of-two', bar: i, why: `region is not power of two: ${hex(size)}` };
    }
    const m = fn.msix;
    if (!m || m.tableBar !== m.pbaBar) return undefined;
    const w = kvmtoolMsixWindows(m.vectors);
    if (w.tableBytes > m.pbaOffset) {
      return {
        code: 'msix-table-overlaps-pba',
        bar: m.tableBar,
        why: `MSIX table overlaps with PBA (table moved to 0, ${hex(w.tableBytes)} bytes; PBA at ${hex(m.pbaOffset)})`,
      };
    }
    if (m.pbaOffset + w.pbaBytes > (fn.barSizes[m.pbaBar] ?? 0)) {
      return {
        code: 'msix-pba-exceeds-region',
        bar: m.pbaBar,
        why: `PBA exceeds the size of the region (PBA at ${hex(m.pbaOffset)}, BAR ${hex(fn.barSizes[m.pbaBar] ?? 0)})`,
      };
    }
    return undefined;
  },
  relocate(input) {
    const m = input.msix;
    if (!m || (m.tableOffset === 0 && m.pbaBar === m.tableBar)) return undefined;
    const size = input.bars[m.tableBar]?.size ?? 0;
    const w = kvmtoolMsixWindows(m.vectors);
    return {
      bar: m.tableBar,
      added: false,
      guestSize: size,
      deviceSize: size,
      is64: input.bars[m.tableBar]?.is64 ?? false,
      tableOffset: 0,
      // A PBA in the table's BAR keeps its offset; one in its own BAR moves to 0 there.
      pbaOffset: m.pbaBar === m.tableBar ? m.pbaOffset : 0,
      ...(m.pbaBar !== m.tableBar ? { pbaBar: m.pbaBar } : {}),
      msixSize: w.tableBytes + w.pbaBytes,
      auto: false,
    };
  },
  planBar(input: BarPlanInput): BarPlan {
    const { P, G, D, S, index, rv, notes } = barBasics(input);
    const g: MsixLayout | undefined = input.msix?.guest;
    const dev = input.msix?.device;
    if (g && dev && (g.tableBar === index || g.pbaBar === index)) {
      const w = kvmtoolMsixWindows(g.vectors);
      const pieces: TrapPiece[] = [];
      if (g.tableBar === index) pieces.push({ offset: g.tableOffset, size: w.tableBytes, via: 'msix-table', reason: VmmReason.MsixTable });
      if (g.pbaBar === index) {
        // The PBA is read from the device at its real offset: the fd when the guest sees it there.
        const same = dev.pbaBar === index && dev.pbaOffset === g.pbaOffset;
        pieces.push({ offset: g.pbaOffset, size: w.pbaBytes, via: same ? 'fd' : 'msix-pba', reason: PolicyReason.MsixPba });
      }
      const served = pieces.reduce((n, p) => n + p.size, 0);
      if (S > served)
        notes.push(
          'kvmtool maps nothing of an MSI-X BAR: its bytes outside the table and PBA windows have no handler (registers there are unreachable)',
        );
      return assemblePlan({
        size: S,
        slots: [],
        mmapAreas: [],
        pieces,
        rest: () => ({ via: 'dropped', reason: PolicyReason.Unreachable }),
        emulatesTable: g.tableBar === index,
        notes,
      });
    }
    const mmap = rv.mmap;
    const aligned = G % P === 0;
    const slots: BarRange[] = mmap && aligned && D > 0 ? [{ offset: 0, size: up(D, P) }] : [];
    return assemblePlan({
      size: S,
      slots: unsharedSlots(slots, G, P, input.guestPageShared, notes),
      mmapAreas: slots.length > 0 ? [{ offset: 0, size: D }] : [],
      pieces: [],
      rest: (off) =>
        mmap && !aligned
          ? { via: 'fd', reason: VmmReason.GuestBarUnaligned }
          : mmap
            ? { via: 'fd', reason: VmmReason.GuestPageShared }
            : { via: 'fd', reason: input.kernelReason(off) },
      emulatesTable: false,
      notes,
    });
  },
};
