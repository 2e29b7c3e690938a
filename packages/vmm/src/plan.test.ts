import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  Reason,
  VFIO_DEVICE_FLAGS_PCI,
  VFIO_DEVICE_FLAGS_PCI_MSIX_MMAP,
  VFIO_REGION_INFO_CAP_MSIX_MAPPABLE,
  VFIO_REGION_INFO_CAP_SPARSE_MMAP,
  VFIO_REGION_INFO_FLAG_MMAP,
  type VfioRegionInfo,
} from '@vhw/vfio-pci';
import { type BarPlanInput, planBar } from './plan.js';
import { VmmReason } from './reasons.js';

const K = 1024;
const P = 64 * K;

function input(over: Partial<BarPlanInput> & { region: VfioRegionInfo }): BarPlanInput {
  return {
    pageSize: P,
    guestAddress: 0x2_0000_0000,
    deviceInfo: { flags: VFIO_DEVICE_FLAGS_PCI, numRegions: 9, numIrqs: 5 },
    noMsixEmulation: false,
    guestPageShared: () => false,
    kernelReason: () => Reason.SubPageBar,
    ...over,
  };
}

const region = (size: number, mmap: boolean, caps: VfioRegionInfo['caps'] = []): VfioRegionInfo => ({
  index: 0,
  size,
  offset: 0,
  flags: 3 | (mmap ? VFIO_REGION_INFO_FLAG_MMAP : 0),
  caps,
});

function covers(areas: Array<{ offset: number; size: number }>, size: number): boolean {
  let at = 0;
  for (const a of areas) {
    if (a.offset !== at || a.size <= 0) return false;
    at += a.size;
  }
  return at === size;
}

describe('planBar', () => {
  it('traps a whole BAR through the fd when the kernel gives no MMAP flag', () => {
    const plan = planBar(input({ region: region(16 * K, false) }));
    expect(plan.areas).toEqual([{ offset: 0, size: 16 * K, path: 'trap', via: 'fd', reason: Reason.SubPageBar }]);
    expect(plan.directs).toEqual([]);
  });

  it('grows a mmappable sub-page BAR to one page when the guest BAR is page aligned', () => {
    const plan = planBar(input({ region: region(16 * K, true), noMsixEmulation: true }));
    expect(plan.grown).toBe(true);
    expect(plan.directs).toEqual([{ offset: 0, size: P }]);
    expect(plan.areas).toEqual([{ offset: 0, size: 16 * K, path: 'direct', via: 'kvm', reason: VmmReason.MmapSubPage }]);
  });

  it('does not grow a sub-page BAR the guest placed off a page boundary: it traps via the VMM mmap', () => {
    const plan = planBar(input({ region: region(16 * K, true), guestAddress: 0x2_0000_4000 }));
    expect(plan.grown).toBe(false);
    expect(plan.directs).toEqual([]);
    expect(plan.areas).toEqual([{ offset: 0, size: 16 * K, path: 'trap', via: 'qemu-mmap', reason: VmmReason.GuestBarUnaligned }]);
  });

  it('keeps a page trapping when another guest BAR shares it', () => {
    const plan = planBar(input({ region: region(16 * K, true), guestPageShared: () => true }));
    expect(plan.directs).toEqual([]);
    expect(plan.areas[0]).toMatchObject({ path: 'trap', via: 'qemu-mmap', reason: VmmReason.GuestPageShared });
  });

  it('traps only the pages of a multi-page BAR that another guest BAR shares, and maps the rest direct', () => {
    const G = 0x2_0000_0000;
    // A BAR of four pages; another guest BAR lies in its third page (a guest BAR move onto it).
    const plan = planBar(input({ region: region(4 * P, true), guestAddress: G, guestPageShared: (page) => page === G + 2 * P }));
    expect(plan.directs).toEqual([
      { offset: 0, size: 2 * P },
      { offset: 3 * P, size: P },
    ]);
    expect(plan.areas).toEqual([
      { offset: 0, size: 2 * P, path: 'direct', via: 'kvm', reason: Reason.Mmap },
      { offset: 2 * P, size: P, path: 'trap', via: 'qemu-mmap', reason: VmmReason.GuestPageShared },
      { offset: 3 * P, size: P, path: 'direct', via: 'kvm', reason: Reason.Mmap },
    ]);
  });

  it('follows the sparse areas of a pre-patch 64 KiB BAR with the table inside: everything traps', () => {
    const plan = planBar(
      input({
        region: region(P, true, [{ id: VFIO_REGION_INFO_CAP_SPARSE_MMAP, areas: [] }]),
        msixTable: { offset: 0x5200, size: 16 * 16 },
        kernelReason: () => Reason.MsixTablePage,
      }),
    );
    expect(plan.directs).toEqual([]);
    expect(plan.areas.map((a) => [a.offset, a.size, a.via, a.reason])).toEqual([
      [0, 0x5200, 'fd', Reason.MsixTablePage],
      [0x5200, 0x100, 'msix-table', VmmReason.MsixTable],
      [0x5300, P - 0x5300, 'fd', Reason.MsixTablePage],
    ]);
  });

  it('maps a 64 KiB BAR direct when the table is mappable and the machine does not emulate it', () => {
    const plan = planBar(
      input({
        region: region(P, true, [{ id: VFIO_REGION_INFO_CAP_MSIX_MAPPABLE }]),
        msixTable: { offset: 0x5200, size: 0x100 },
        noMsixEmulation: true,
      }),
    );
    expect(plan.directs).toEqual([{ offset: 0, size: P }]);
    expect(plan.areas).toEqual([{ offset: 0, size: P, path: 'direct', via: 'kvm', reason: Reason.Mmap }]);
  });

  it('keeps the table page trapping via its own mmap while it emulates the table (no syscall for registers)', () => {
    const plan = planBar(
      input({
        region: region(P, true, [{ id: VFIO_REGION_INFO_CAP_MSIX_MAPPABLE }]),
        msixTable: { offset: 0x5200, size: 0x100 },
        noMsixEmulation: false,
      }),
    );
    expect(plan.directs).toEqual([]);
    expect(plan.areas.map((a) => [a.via, a.reason])).toEqual([
      ['qemu-mmap', VmmReason.MsixEmulation],
      ['msix-table', VmmReason.MsixTable],
      ['qemu-mmap', VmmReason.MsixEmulation],
    ]);
  });

  it('splits a whole-BAR mmap around the table itself when the kernel sent no capability (QEMU fix-up)', () => {
    const plan = planBar(input({ region: region(4 * P, true), msixTable: { offset: P + 0x100, size: 0x100 }, pageSize: P }));
    expect(plan.mmapAreas).toEqual([
      { offset: 0, size: P },
      { offset: 2 * P, size: 2 * P },
    ]);
    expect(plan.directs).toEqual([
      { offset: 0, size: P },
      { offset: 2 * P, size: 2 * P },
    ]);
  });

  it('treats the RFC MSIX_MMAP device flag like the MSIX_MAPPABLE capability', () => {
    const plan = planBar(
      input({
        region: region(16 * K, true),
        deviceInfo: { flags: VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_PCI_MSIX_MMAP, numRegions: 9, numIrqs: 5 },
        msixTable: { offset: 0x2000, size: 0x80 },
        noMsixEmulation: true,
      }),
    );
    expect(plan.directs).toEqual([{ offset: 0, size: P }]);
  });

  it('areas always cover the BAR exactly, in order, and direct pages are whole pages (property)', () => {
    const sizes = [4 * K, 16 * K, 32 * K, P, 2 * P, 4 * P];
    fc.assert(
      fc.property(
        fc.constantFrom(...sizes),
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        fc.boolean(),
        fc.nat(15),
        fc.constantFrom(4 * K, 16 * K, P),
        (size, mmap, sparse, mappable, noEmu, tableSlot, pageSize) => {
          const tableOffset = Math.min(tableSlot * 0x1000, size - 0x100);
          const areas = sparse ? [{ offset: 0, size: Math.floor(tableOffset / pageSize) * pageSize }].filter((a) => a.size > 0) : undefined;
          const caps: VfioRegionInfo['caps'] = [];
          if (areas) caps.push({ id: VFIO_REGION_INFO_CAP_SPARSE_MMAP, areas });
          if (mappable) caps.push({ id: VFIO_REGION_INFO_CAP_MSIX_MAPPABLE });
          const plan = planBar(
            input({ pageSize, region: region(size, mmap, caps), msixTable: { offset: tableOffset, size: 0x100 }, noMsixEmulation: noEmu }),
          );
          expect(covers(plan.areas, size)).toBe(true);
          for (const d of plan.directs) {
            expect(d.offset % pageSize).toBe(0);
            expect(d.size % pageSize).toBe(0);
          }
          // Direct bytes in areas are exactly those inside direct mappings.
          for (const a of plan.areas) {
            const inDirect = plan.directs.some((d) => a.offset >= d.offset && a.offset + a.size <= d.offset + d.size);
            expect(a.path === 'direct').toBe(inDirect);
          }
          // The emulated table never maps direct.
          if (!noEmu)
            expect(plan.areas.some((a) => a.path === 'direct' && a.offset < tableOffset + 0x100 && tableOffset < a.offset + a.size)).toBe(
              false,
            );
        },
      ),
      { numRuns: 300 },
    );
  });
});
