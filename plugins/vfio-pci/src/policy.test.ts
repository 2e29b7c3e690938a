import { Machine, VhwError, type VhwPlugin } from '@vhw/core';
import { type BarDecl, type HostBridge, type MsixDecl, PciHostToken } from '@vhw/pci';
import { genericPlatform } from '@vhw/platform-generic';
import { ppc64Platform } from '@vhw/platform-ppc64';
import { describe, expect, it } from 'vitest';
import { toyDevice } from '@vhw/test-support';
import type { VfioPciDevice } from './device.js';
import { VfioToken, vfioPci } from './index.js';
import type { Variant } from '@vhw/core';
import { SubPageMmapPolicy, type VfioPatches } from './policy.js';
import { Reason } from './reasons.js';
import {
  VFIO_DEVICE_FLAGS_PCI,
  VFIO_DEVICE_FLAGS_PCI_MSIX_MMAP,
  VFIO_DEVICE_FLAGS_PCI_PAGE_ALIGNED,
  VFIO_DEVICE_FLAGS_RESET,
  VFIO_PCI_NUM_REGIONS,
  VFIO_REGION_INFO_CAP_MSIX_MAPPABLE,
  VFIO_REGION_INFO_CAP_SPARSE_MMAP,
  VFIO_REGION_INFO_FLAG_CAPS,
  VFIO_REGION_INFO_FLAG_MMAP,
  VFIO_REGION_INFO_FLAG_READ,
  VFIO_REGION_INFO_FLAG_WRITE,
} from './uapi.js';

const PAGE = 0x10000;
const RW = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
const BIT4 = 1 << 4;
const BIT5 = 1 << 5;

interface Layout {
  bars: Array<BarDecl & { kind?: 'mem32' | 'mem64' }>;
  msix: MsixDecl;
}

/** The three reference layouts (NVMe 16 KiB, 82576 VF, KIOXIA CD8P). */
const LAYOUTS = {
  'nvme-16k': {
    bars: [{ index: 0, size: 0x4000, kind: 'mem64' }],
    msix: { vectors: 32, tableBar: 0, tableOffset: 0x2000, pbaBar: 0, pbaOffset: 0x3000 },
  },
  'igbvf-like': {
    bars: [
      { index: 0, size: 0x4000 },
      { index: 3, size: 0x4000 },
    ],
    msix: { vectors: 3, tableBar: 3, tableOffset: 0, pbaBar: 3, pbaOffset: 0x2000 },
  },
  'kioxia-like': {
    bars: [{ index: 0, size: 0x10000, kind: 'mem64' }],
    msix: { vectors: 64, tableBar: 0, tableOffset: 0x5200, pbaBar: 0, pbaOffset: 0xd600 },
  },
} satisfies Record<string, Layout>;
type LayoutName = keyof typeof LAYOUTS;

/**
 * What each BAR of a layout is on a 64 KiB-page PPC64 host with the device alone in its PE:
 * whether it is smaller than a page, whether it holds the MSI-X table, and what upstream
 * patch 2 finds without patch 1 (the allocator packs igbvf's BAR3 right after BAR0).
 */
const BAR_FACTS: Record<LayoutName, Array<{ index: number; subPage: boolean; table: boolean; upstreamWithoutP1: Reason | undefined }>> = {
  'nvme-16k': [{ index: 0, subPage: true, table: true, upstreamWithoutP1: undefined }], // aligned, page free
  'igbvf-like': [
    { index: 0, subPage: true, table: false, upstreamWithoutP1: Reason.SharedPage }, // BAR3 sits in its page
    { index: 3, subPage: true, table: true, upstreamWithoutP1: Reason.SubPageBarUnaligned }, // starts at +16 KiB
  ],
  'kioxia-like': [{ index: 0, subPage: false, table: true, upstreamWithoutP1: undefined }],
};

const COMBOS: Array<[boolean, boolean, boolean]> = [];
for (const p1 of [false, true]) for (const p2 of [false, true]) for (const p3 of [false, true]) COMBOS.push([p1, p2, p3]);
const VARIANTS: Variant[] = ['rfc-2015', 'upstream'];

function machineFor(
  platform: VhwPlugin,
  layout: Layout,
  variant: Variant,
  p2: boolean,
  p3: boolean,
  extra: VhwPlugin[] = [],
): { machine: Machine; bridge: HostBridge; dev: VfioPciDevice } {
  const machine = Machine.create({
    plugins: [
      platform,
      toyDevice({ name: 'dev', bars: layout.bars, msix: layout.msix }),
      ...extra,
      vfioPci({ variant, subPageMmap: p2, msixMmap: p3 }),
    ],
  });
  return { machine, bridge: machine.get(PciHostToken), dev: machine.get(VfioToken).device('dev') };
}

function mmapCode(dev: VfioPciDevice, index: number, offset: number, size: number): string {
  try {
    dev.mmap(index, offset, size);
    return 'ok';
  } catch (e) {
    return VhwError.is(e) ? e.code : String(e);
  }
}

describe('vfio-pci mmap policy: reference layouts x (P1, P2, P3) x variant on PPC64 (64 KiB pages, EEH)', () => {
  for (const [name, layout] of Object.entries(LAYOUTS) as Array<[LayoutName, Layout]>) {
    for (const variant of VARIANTS) {
      for (const [p1, p2, p3] of COMBOS) {
        it(`${name}, ${variant}, P1=${+p1} P2=${+p2} P3=${+p3}`, () => {
          const { bridge, dev } = machineFor(ppc64Platform({ alignBars: p1 }), layout, variant, p2, p3);
          const rfc = variant === 'rfc-2015';

          // Device flags: the RFC's bits 4 and 5 only in rfc-2015, under their conditions; never upstream.
          const flags = dev.getDeviceInfo().flags;
          expect(flags & (VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET)).toBe(VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET);
          expect((flags & VFIO_DEVICE_FLAGS_PCI_PAGE_ALIGNED) !== 0).toBe(rfc && p2 && p1);
          expect((flags & VFIO_DEVICE_FLAGS_PCI_MSIX_MMAP) !== 0).toBe(rfc && p3);
          if (!rfc) expect(flags & (BIT4 | BIT5)).toBe(0);

          const tableMappable = p3; // rfc: EEH is on here; upstream: unconditional
          let reservations = 0;
          for (const bar of BAR_FACTS[name]) {
            const size = layout.bars.find((b) => b.index === bar.index)!.size;
            const address = bridge.findFunction('dev').bar(bar.index)!.address;
            if (bar.subPage) {
              if (p1) expect(address % PAGE).toBe(0);
            }
            let refusal: Reason | undefined;
            if (bar.subPage) {
              if (!p2) refusal = Reason.SubPageBar;
              else if (rfc) refusal = p1 ? undefined : Reason.BarsNotPageAligned;
              else refusal = p1 ? undefined : bar.upstreamWithoutP1;
            }
            const info = dev.getRegionInfo(bar.index);
            expect(info.size).toBe(size);
            if (refusal !== undefined) {
              expect(info.flags).toBe(RW);
              expect(info.caps).toEqual([]);
              expect(dev.diagnose(bar.index, 0)).toBe(refusal);
              expect(mmapCode(dev, bar.index, 0, PAGE)).toBe('E_MMAP_DENIED');
              continue;
            }
            if (bar.subPage && !rfc) reservations++;
            expect(info.flags & VFIO_REGION_INFO_FLAG_MMAP).toBe(VFIO_REGION_INFO_FLAG_MMAP);
            if (!bar.table) {
              expect(info.flags).toBe(RW | VFIO_REGION_INFO_FLAG_MMAP);
              expect(info.caps).toEqual([]);
              expect(dev.diagnose(bar.index, 0)).toBeUndefined();
              expect(mmapCode(dev, bar.index, 0, PAGE)).toBe('ok');
            } else if (tableMappable) {
              if (rfc) {
                expect(info.flags).toBe(RW | VFIO_REGION_INFO_FLAG_MMAP);
                expect(info.caps).toEqual([]);
              } else {
                expect(info.flags).toBe(RW | VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS);
                expect(info.caps).toEqual([{ id: VFIO_REGION_INFO_CAP_MSIX_MAPPABLE }]);
              }
              expect(dev.diagnose(bar.index, layout.msix.tableOffset)).toBeUndefined();
              expect(mmapCode(dev, bar.index, 0, PAGE)).toBe('ok');
            } else {
              // Pre-patch-3 sparse capability: [0, table start rounded down) and [table end rounded up, BAR end);
              // with 64 KiB pages both are empty for these layouts, so no area is listed.
              expect(info.flags).toBe(RW | VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS);
              expect(info.caps).toEqual([{ id: VFIO_REGION_INFO_CAP_SPARSE_MMAP, areas: [] }]);
              expect(dev.diagnose(bar.index, layout.msix.tableOffset)).toBe(Reason.MsixTablePage);
              expect(dev.diagnose(bar.index, 0)).toBe(Reason.MsixTablePage);
              expect(mmapCode(dev, bar.index, 0, PAGE)).toBe('E_MMAP_DENIED');
            }
          }
          // The upstream dummy reservations, one per mmappable sub-page BAR; never in rfc-2015.
          expect(bridge.reservationList).toHaveLength(reservations);
          for (const r of bridge.reservationList) {
            expect(r.name).toMatch(/^vfio sub-page reserved dev BAR[03]$/);
            expect(r.owner).toBe('dev');
            expect((r.base + r.size) % PAGE).toBe(0);
          }
          // Regions that are no BAR of the device have size 0 and no flags.
          for (let i = 0; i < 6; i++) {
            if (!layout.bars.some((b) => b.index === i)) expect(dev.getRegionInfo(i)).toMatchObject({ size: 0, flags: 0, caps: [] });
          }
        });
      }
    }
  }
});

describe('vfio-pci mmap policy: what each patch does for each layout', () => {
  /** Which BARs can be mmapped as a whole page under the given toggles on PPC64. */
  function direct(name: LayoutName, variant: Variant, p1: boolean, p2: boolean, p3: boolean): number[] {
    const { dev } = machineFor(ppc64Platform({ alignBars: p1 }), LAYOUTS[name], variant, p2, p3);
    return BAR_FACTS[name].filter((b) => mmapCode(dev, b.index, 0, PAGE) === 'ok').map((b) => b.index);
  }

  it('NVMe-16K needs all three patches under rfc-2015', () => {
    expect(direct('nvme-16k', 'rfc-2015', false, true, false)).toEqual([]); // P2 alone: inert
    expect(direct('nvme-16k', 'rfc-2015', true, true, false)).toEqual([]); // P1+P2: the page still holds the table
    expect(direct('nvme-16k', 'rfc-2015', false, false, true)).toEqual([]); // P3 alone: still sub-page
    expect(direct('nvme-16k', 'rfc-2015', true, false, true)).toEqual([]); // P1+P3: still sub-page
    expect(direct('nvme-16k', 'rfc-2015', true, true, true)).toEqual([0]);
  });

  it('igbvf-like gets its register BAR with P1+P2; P3 adds the table BAR', () => {
    expect(direct('igbvf-like', 'rfc-2015', true, true, false)).toEqual([0]);
    expect(direct('igbvf-like', 'rfc-2015', true, true, true)).toEqual([0, 3]);
    expect(direct('igbvf-like', 'upstream', true, true, false)).toEqual([0]);
    expect(direct('igbvf-like', 'upstream', false, true, true)).toEqual([]); // packed into one page: neither
  });

  it('KIOXIA-like needs only P3', () => {
    for (const v of VARIANTS) {
      expect(direct('kioxia-like', v, false, false, false)).toEqual([]);
      expect(direct('kioxia-like', v, false, false, true)).toEqual([0]);
    }
  });

  it('upstream P2 works without P1 when the BAR happens to be aligned and its page is free (NVMe-16K alone in its PE)', () => {
    const { bridge, dev } = machineFor(ppc64Platform({}), LAYOUTS['nvme-16k'], 'upstream', true, true);
    const addr = bridge.findFunction('dev').bar(0)!.address;
    expect(addr % PAGE).toBe(0);
    expect(bridge.platform.allMmioBarsPageAligned).toBe(false);
    expect(dev.mmap(0, 0, PAGE)).toMatchObject({ size: PAGE, hostPa: addr });
    expect(bridge.reservationList).toEqual([{ name: 'vfio sub-page reserved dev BAR0', owner: 'dev', base: addr + 0x4000, size: 0xc000 }]);
  });
});

describe('vfio-pci mmap policy: patch 2 without patch 1 under rfc-2015', () => {
  for (const [name, layout] of Object.entries(LAYOUTS) as Array<[LayoutName, Layout]>) {
    for (const p3 of [false, true]) {
      it(`changes nothing userspace can see (${name}, P3=${+p3})`, () => {
        const without = machineFor(ppc64Platform({}), layout, 'rfc-2015', false, p3);
        const withP2 = machineFor(ppc64Platform({}), layout, 'rfc-2015', true, p3);
        expect(withP2.dev.getDeviceInfo()).toEqual(without.dev.getDeviceInfo());
        for (let i = 0; i < VFIO_PCI_NUM_REGIONS; i++) expect(withP2.dev.getRegionInfo(i)).toEqual(without.dev.getRegionInfo(i));
        for (const b of BAR_FACTS[name]) expect(mmapCode(withP2.dev, b.index, 0, PAGE)).toBe(mmapCode(without.dev, b.index, 0, PAGE));
        expect(withP2.bridge.reservationList).toEqual([]);
        // Only the diagnosis says why.
        for (const b of BAR_FACTS[name].filter((x) => x.subPage)) {
          expect(without.dev.diagnose(b.index, 0)).toBe(Reason.SubPageBar);
          expect(withP2.dev.diagnose(b.index, 0)).toBe(Reason.BarsNotPageAligned);
        }
      });
    }
  }
});

describe('vfio-pci mmap policy on the generic host (4 KiB pages, no EEH)', () => {
  it('lists the sparse areas around the table page(s), rounded out to 4 KiB', () => {
    const cases: Array<[LayoutName, number, Array<{ offset: number; size: number }>, { offset: number; size: number }]> = [
      [
        'kioxia-like',
        0,
        [
          { offset: 0, size: 0x5000 },
          { offset: 0x6000, size: 0xa000 },
        ],
        { offset: 0x5000, size: 0x1000 },
      ],
      [
        'nvme-16k',
        0,
        [
          { offset: 0, size: 0x2000 },
          { offset: 0x3000, size: 0x1000 },
        ],
        { offset: 0x2000, size: 0x1000 },
      ],
      ['igbvf-like', 3, [{ offset: 0x1000, size: 0x3000 }], { offset: 0, size: 0x1000 }],
    ];
    for (const [name, bar, areas, hole] of cases) {
      for (const variant of VARIANTS) {
        const { dev } = machineFor(genericPlatform({}), LAYOUTS[name], variant, false, false);
        const info = dev.getRegionInfo(bar);
        expect(info.flags).toBe(RW | VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS);
        expect(info.caps).toEqual([{ id: VFIO_REGION_INFO_CAP_SPARSE_MMAP, areas }]);
        for (const a of areas) expect(mmapCode(dev, bar, a.offset, a.size)).toBe('ok');
        expect(mmapCode(dev, bar, hole.offset, hole.size)).toBe('E_MMAP_DENIED');
        expect(dev.diagnose(bar, hole.offset)).toBe(Reason.MsixTablePage);
        expect(dev.diagnose(bar, hole.offset + hole.size)).toBeUndefined();
        expect(dev.getDeviceInfo().flags & (BIT4 | BIT5)).toBe(0);
      }
    }
  });

  it('rfc-2015 patch 3 needs EEH: on the generic host the table page stays excluded with reason no-isolation', () => {
    const { dev } = machineFor(genericPlatform({ interruptRemapping: true }), LAYOUTS['kioxia-like'], 'rfc-2015', true, true);
    expect(dev.getDeviceInfo().flags & VFIO_DEVICE_FLAGS_PCI_MSIX_MMAP).toBe(0);
    expect(dev.diagnose(0, 0x5200)).toBe(Reason.NoIsolation);
    expect(dev.diagnose(0, 0)).toBeUndefined();
    expect(mmapCode(dev, 0, 0x5000, 0x1000)).toBe('E_MMAP_DENIED');
    expect(dev.getRegionInfo(0).caps).toEqual([
      {
        id: VFIO_REGION_INFO_CAP_SPARSE_MMAP,
        areas: [
          { offset: 0, size: 0x5000 },
          { offset: 0x6000, size: 0xa000 },
        ],
      },
    ]);
  });

  it('upstream patch 3 is unconditional: the table maps with MSIX_MAPPABLE even without EEH', () => {
    const { dev } = machineFor(genericPlatform({}), LAYOUTS['kioxia-like'], 'upstream', false, true);
    expect(dev.getRegionInfo(0).caps).toEqual([{ id: VFIO_REGION_INFO_CAP_MSIX_MAPPABLE }]);
    expect(mmapCode(dev, 0, 0, 0x10000)).toBe('ok');
  });

  it('rfc-2015 PCI_PAGE_ALIGNED follows the platform guarantee, wherever it comes from', () => {
    const on = machineFor(genericPlatform({ alignBars: true }), LAYOUTS['nvme-16k'], 'rfc-2015', true, false).dev;
    const off = machineFor(genericPlatform({}), LAYOUTS['nvme-16k'], 'rfc-2015', true, false).dev;
    expect(on.getDeviceInfo().flags & VFIO_DEVICE_FLAGS_PCI_PAGE_ALIGNED).toBe(VFIO_DEVICE_FLAGS_PCI_PAGE_ALIGNED);
    expect(off.getDeviceInfo().flags & VFIO_DEVICE_FLAGS_PCI_PAGE_ALIGNED).toBe(0);
  });
});

describe('vfio-pci mmap policy: tables in multi-page BARs (64 KiB pages)', () => {
  it('keeps the pages away from the table mappable and lists them as sparse areas', () => {
    const cases: Array<[number, Array<{ offset: number; size: number }>, number, number]> = [
      [0x18000, [{ offset: 0, size: 0x10000 }], 0, 0x10000], // table in the upper page
      [0x8000, [{ offset: 0x10000, size: 0x10000 }], 0x10000, 0], // table in the lower page
    ];
    for (const [tableOffset, areas, good, bad] of cases) {
      const layout: Layout = {
        bars: [{ index: 2, size: 0x20000, kind: 'mem64' }],
        msix: { vectors: 16, tableBar: 2, tableOffset, pbaBar: 2, pbaOffset: 0x1f000 },
      };
      const { dev } = machineFor(ppc64Platform({}), layout, 'rfc-2015', false, false);
      expect(dev.getRegionInfo(2).caps).toEqual([{ id: VFIO_REGION_INFO_CAP_SPARSE_MMAP, areas }]);
      expect(mmapCode(dev, 2, good, PAGE)).toBe('ok');
      expect(mmapCode(dev, 2, bad, PAGE)).toBe('E_MMAP_DENIED');
      expect(mmapCode(dev, 2, 0, 2 * PAGE)).toBe('E_MMAP_DENIED');
      expect(dev.diagnose(2, bad)).toBe(Reason.MsixTablePage);
      expect(dev.diagnose(2, good)).toBeUndefined();
    }
  });
});

describe('vfio-pci mmap policy: upstream shared pages', () => {
  it('refuses sub-page BARs of two devices packed into one page of one PE, and allows them with P1', () => {
    const two = (p1: boolean) =>
      Machine.create({
        plugins: [
          ppc64Platform({ peGranularity: 'bus', alignBars: p1 }),
          toyDevice({ name: 'a', bars: [{ index: 0, size: 0x4000 }] }),
          toyDevice({ name: 'b', bars: [{ index: 0, size: 0x4000 }] }),
          vfioPci({ variant: 'upstream', subPageMmap: true }),
        ],
      });
    const packed = two(false);
    const v = packed.get(VfioToken);
    expect(v.device('a').diagnose(0, 0)).toBe(Reason.SharedPage);
    expect(v.device('b').diagnose(0, 0)).toBe(Reason.SubPageBarUnaligned);
    expect(packed.get(PciHostToken).reservationList).toEqual([]);
    const aligned = two(true);
    const w = aligned.get(VfioToken);
    expect(w.device('a').diagnose(0, 0)).toBeUndefined();
    expect(w.device('b').diagnose(0, 0)).toBeUndefined();
    expect(aligned.get(PciHostToken).reservationList.map((r) => r.owner)).toEqual(['a', 'b']);
  });

  it('refuses the claim when another reservation already holds the rest of the page', () => {
    const bridge = { pageSize: PAGE, allMmioBarsPageAligned: false, eeh: true, interruptIsolation: true, name: 'fake' };
    const policy = new SubPageMmapPolicy({ variant: 'upstream', subPageMmap: true, msixMmap: false }, bridge);
    let claims = 0;
    const decide = (claim: boolean, address = 0x8000_0000) =>
      policy.decide({ index: 0, size: 0x4000, address, isIo: false, claimPageRemainder: () => (claims++, claim) });
    expect(decide(false)).toMatchObject({ mmap: false, reason: Reason.SharedPage, reservedRemainder: false });
    expect(decide(true)).toMatchObject({ mmap: true, reservedRemainder: true });
    expect(claims).toBe(2);
    // An unaligned BAR is refused without trying to claim anything.
    expect(decide(true, 0x8000_4000)).toMatchObject({ mmap: false, reason: Reason.SubPageBarUnaligned });
    expect(claims).toBe(2);
  });
});

describe('SubPageMmapPolicy', () => {
  const facts = (over: Partial<{ allMmioBarsPageAligned: boolean; eeh: boolean }> = {}) => ({
    name: 'f',
    pageSize: PAGE,
    allMmioBarsPageAligned: false,
    eeh: false,
    interruptIsolation: false,
    ...over,
  });
  const patches = (variant: Variant, p2: boolean, p3: boolean): VfioPatches => ({ variant, subPageMmap: p2, msixMmap: p3 });

  it('never mmaps I/O BARs', () => {
    for (const v of VARIANTS) {
      const d = new SubPageMmapPolicy(patches(v, true, true), facts({ allMmioBarsPageAligned: true, eeh: true })).decide({
        index: 4,
        size: 0x100,
        address: 0,
        isIo: true,
        claimPageRemainder: () => true,
      });
      expect(d).toMatchObject({ mmap: false, reason: Reason.IoBar, msixMappable: false });
    }
  });

  it('maps a BAR of a page or more without asking anything of the platform', () => {
    for (const v of VARIANTS) {
      const d = new SubPageMmapPolicy(patches(v, false, false), facts()).decide({
        index: 0,
        size: 2 * PAGE,
        address: 0x1000_0000,
        isIo: false,
        claimPageRemainder: () => false,
      });
      expect(d).toMatchObject({ mmap: true, reservedRemainder: false, msixMappable: false });
      expect(d.sparseAreas).toBeUndefined();
    }
  });

  it('reports the RFC flags only for rfc-2015 and only under their conditions', () => {
    const rows: Array<[Variant, boolean, boolean, boolean, boolean, boolean, boolean]> = [
      // variant, P2, P3, aligned, eeh => pageAligned, msixMmap
      ['rfc-2015', true, true, true, true, true, true],
      ['rfc-2015', true, true, false, false, false, false],
      ['rfc-2015', false, false, true, true, false, false],
      ['upstream', true, true, true, true, false, false],
    ];
    for (const [v, p2, p3, aligned, eeh, pa, mm] of rows) {
      const p = new SubPageMmapPolicy(patches(v, p2, p3), facts({ allMmioBarsPageAligned: aligned, eeh }));
      expect([p.reportsPageAligned, p.reportsMsixMmap]).toEqual([pa, mm]);
    }
  });
});
