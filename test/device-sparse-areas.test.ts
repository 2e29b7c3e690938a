/**
 * Devices that describe their own sparse-mmap areas (`BarDecl.sparseAreas`, nvme-lite's
 * `sparseAreas` option), as a vfio variant driver, an mdev parent or a vfio-user server
 * does: vfio-pci reports the list in the region info in place of its own, the VMM (QEMU:
 * it trusts the list, vfio_setup_region_sparse_mmaps()) maps and traps from it. Which guest
 * pages go direct is checked against an oracle written here from the layout alone.
 */
import { describe, expect, it } from 'vitest';
import { Machine, type VhwPlugin, guestRam } from '@vhw/core';
import { nvmeLite } from '@vhw/device-nvme-lite';
import type { BarDecl, MsixDecl } from '@vhw/pci';
import { genericPlatform } from '@vhw/platform-generic';
import { ppc64Platform } from '@vhw/platform-ppc64';
import { Reason, VFIO_REGION_INFO_CAP_SPARSE_MMAP, VfioToken, vfioPci } from '@vhw/vfio-pci';
import { VmmToken, vmm } from '@vhw/vmm';
import { ToyDevice, expectVhwError, toyDevice } from '@vhw/test-support';
import { allPatchCombinations, defineScenario, passthroughMachine, runExperiment } from '@vhw/experiment';

const K = 1024;
type Area = { offset: number; size: number };
type Patches = { p1: boolean; p2: boolean; p3: boolean };

/**
 * The oracle: which pages of a BAR (offsets, page aligned guest BAR of a page or more) map
 * direct, from the layout alone. A page is direct when the device's list covers all of it
 * and the MSI-X table is not in it (QEMU emulates the table, so its page always traps unless
 * the machine lets the guest program MSIs itself and the kernel lets the table be mapped).
 */
function expectedDirectPages(o: { pageSize: number; barSize: number; areas: Area[]; table?: Area; tableTraps: boolean }): number[] {
  const out: number[] = [];
  for (let p = 0; p < o.barSize; p += o.pageSize) {
    const inArea = o.areas.some((a) => a.offset <= p && p + o.pageSize <= a.offset + a.size);
    const hasTable = o.table !== undefined && o.table.offset < p + o.pageSize && p < o.table.offset + o.table.size;
    if (inArea && !(hasTable && o.tableTraps)) out.push(p);
  }
  return out;
}

/** The BAR's pages as the machine installed them: direct or not, by one guest load each; traps counted. */
function observe(m: Machine, device: string, index: number): { direct: number[]; trapped: number[]; reasons: Record<string, number> } {
  const v = m.get(VmmToken);
  const bar = v.bars.find((b) => b.device === device && b.index === index)!;
  const P = v.pageSize;
  const direct: number[] = [];
  const trapped: number[] = [];
  const before = { ...m.stats.trapsByReason };
  for (let off = 0; off < bar.size; off += P) {
    const gpa = bar.guestAddress + off;
    const path = m.mmu.translate(gpa).path;
    const traps = sumTraps(m);
    m.cpu.load(gpa, 4);
    const trappedNow = sumTraps(m) - traps;
    // The MMU's word and the access's behaviour agree: a direct page never exits.
    expect(trappedNow, `page +0x${off.toString(16)} (${path})`).toBe(path === 'direct' ? 0 : 1);
    (path === 'direct' ? direct : trapped).push(off);
  }
  const after = m.stats.trapsByReason;
  const reasons: Record<string, number> = {};
  for (const [r, n] of Object.entries(after)) if (n - (before[r] ?? 0) > 0) reasons[r] = n - (before[r] ?? 0);
  return { direct, trapped, reasons };
}

function sumTraps(m: Machine): number {
  return Object.values(m.stats.trapsByReason).reduce((a, b) => a + b, 0);
}

function machine(platform: VhwPlugin, device: VhwPlugin, c: Patches, variant: 'rfc-2015' | 'upstream' = 'rfc-2015'): Machine {
  return Machine.create({
    plugins: [platform, guestRam({ size: 16 << 20 }), device, vfioPci({ variant, subPageMmap: c.p2, msixMmap: c.p3 }), vmm()],
  });
}

const NONE: Patches = { p1: false, p2: false, p3: false };
const ALL: Patches = { p1: true, p2: true, p3: true };

describe('a device that describes its own sparse areas (nvme-lite sparseAreas, 4 KiB host)', () => {
  // The KIOXIA layout: 64 KiB BAR0, doorbells at 0x1000, table 0x5200 (8 vectors: 0x80 bytes), PBA 0xd600.
  const areas = [
    { offset: 0, size: 0x1000 },
    { offset: 0x4000, size: 0x3000 },
    { offset: 0xc000, size: 0x4000 },
  ];
  const table = { offset: 0x5200, size: 8 * 16 };

  for (const [label, c] of [
    ['no patch', NONE],
    ['every patch', ALL],
  ] as const) {
    it(`maps exactly the listed pages but the table's, with ${label} (variant rfc-2015 and upstream)`, () => {
      for (const variant of ['rfc-2015', 'upstream'] as const) {
        const m = machine(
          genericPlatform({ alignBars: c.p1 }),
          nvmeLite({ name: 'nvme0', layout: 'bar0-64k', sparseAreas: areas }),
          c,
          variant,
        );
        try {
          const got = observe(m, 'nvme0', 0);
          expect(got.direct).toEqual(expectedDirectPages({ pageSize: 4 * K, barSize: 64 * K, areas, table, tableTraps: true }));
          // What the list leaves out traps through the fd under the kernel's reason for it.
          expect(got.reasons[Reason.DeviceSparse]).toBe(16 - 8 /* pages out of the list */);
          // The table page: emulated by QEMU; with patch 3 off the kernel keeps it out of the list too.
          const info = m.get(VfioToken).device('nvme0').getRegionInfo(0);
          const sparse = info.caps.find((x) => x.id === VFIO_REGION_INFO_CAP_SPARSE_MMAP);
          const tablePageCut = !c.p3 || variant === 'rfc-2015'; // rfc-2015 patch 3 needs EEH, which this host lacks
          expect(sparse && 'areas' in sparse ? sparse.areas : undefined).toEqual(
            tablePageCut
              ? [
                  { offset: 0, size: 0x1000 },
                  { offset: 0x4000, size: 0x1000 },
                  { offset: 0x6000, size: 0x1000 },
                  { offset: 0xc000, size: 0x4000 },
                ]
              : areas,
          );
        } finally {
          m.dispose();
        }
      }
    });
  }

  it('maps touching areas as given, each its own mmap, and runs the workload over them', () => {
    // Touching areas, as a variant driver may list them: the doorbell page right after the first.
    const touching = [
      { offset: 0, size: 0x1000 },
      { offset: 0x1000, size: 0x1000 },
      { offset: 0x8000, size: 0x4000 },
      { offset: 0xc000, size: 0x4000 },
    ];
    const m = machine(genericPlatform({ alignBars: true }), nvmeLite({ name: 'nvme0', layout: 'bar0-64k', sparseAreas: touching }), ALL);
    try {
      const info = m.get(VfioToken).device('nvme0').getRegionInfo(0);
      const sparse = info.caps.find((x) => x.id === VFIO_REGION_INFO_CAP_SPARSE_MMAP);
      expect(sparse && 'areas' in sparse ? sparse.areas : undefined).toEqual(touching);
      const got = observe(m, 'nvme0', 0);
      expect(got.direct).toEqual(expectedDirectPages({ pageSize: 4 * K, barSize: 64 * K, areas: touching, table, tableTraps: true }));
    } finally {
      m.dispose();
    }
  });

  it('runs the NVMe workload with the doorbell page left out of the list: doorbells trap, the rest maps', () => {
    // Doorbells at 0x1000: a device that keeps them off the fast path (as a vfio-user server might, to see them).
    const listed = [
      { offset: 0, size: 0x1000 },
      { offset: 0x2000, size: 0xe000 },
    ];
    const scenario = defineScenario({
      name: 'generic-nvme-own-areas',
      description: 'nvme-lite 64 KiB BAR0 with its own sparse list on a 4 KiB host',
      ops: 200,
      machine: (config) =>
        passthroughMachine(
          { platform: 'generic', devices: [nvmeLite({ name: 'nvme0', layout: 'bar0-64k', sparseAreas: listed })] },
          config,
        ),
    });
    for (const patches of allPatchCombinations()) {
      const r = runExperiment(scenario, { patches, variant: 'upstream', seed: 1 }, { ops: 200 });
      expect(r.workload).toMatchObject({ completed: 200, failed: 0 });
      // Every doorbell write of the workload exits, under the device's reason.
      expect(r.mmio.trapsByReason[Reason.DeviceSparse]).toBeGreaterThanOrEqual(200);
      const bar = r.bars.find((b) => b.device === 'nvme0' && b.bar === 0)!;
      expect(bar.areas.filter((a) => a.reason === Reason.DeviceSparse).map((a) => [a.offset, a.size])).toEqual([[0x1000, 0x1000]]);
    }
  });

  it('an empty list: the region is mmappable, yet nothing of it may be mapped', () => {
    const m = machine(genericPlatform({ alignBars: true }), nvmeLite({ name: 'nvme0', layout: 'bar0-64k', sparseAreas: [] }), ALL);
    try {
      const got = observe(m, 'nvme0', 0);
      expect(got.direct).toEqual([]);
      expect(got.reasons[Reason.DeviceSparse]).toBe(15);
      expectVhwError(() => m.get(VfioToken).device('nvme0').mmap(0, 0, 0x1000), 'E_MMAP_DENIED', /sparse-mmap areas the device reports/);
    } finally {
      m.dispose();
    }
  });
});

describe('a device that describes its own sparse areas (64 KiB PPC64 host)', () => {
  const bars: Array<BarDecl & { kind?: 'mem32' | 'mem64' }> = [
    {
      index: 0,
      size: 1 << 20,
      kind: 'mem64',
      sparseAreas: [
        { offset: 0, size: 0x10000 },
        { offset: 0x40000, size: 0x20000 },
        { offset: 0xf0000, size: 0x10000 },
      ],
    },
  ];
  const msix: MsixDecl = { vectors: 16, tableBar: 0, tableOffset: 0x50000, pbaBar: 0, pbaOffset: 0x58000 };
  const dev = () => toyDevice({ name: 'gpu0', bars, msix });

  for (const noMsixEmulation of [false, true]) {
    for (const c of [NONE, ALL]) {
      it(`maps the listed pages (patches ${c.p3 ? 'all' : 'none'}, ${noMsixEmulation ? 'paravirtual MSIs' : 'table emulated'})`, () => {
        const m = Machine.create({
          plugins: [
            ppc64Platform({ alignBars: c.p1 }),
            guestRam({ size: 16 << 20 }),
            dev(),
            vfioPci({ variant: 'rfc-2015', subPageMmap: c.p2, msixMmap: c.p3 }),
            vmm({ noMsixEmulation }),
          ],
        });
        try {
          const got = observe(m, 'gpu0', 0);
          const tableTraps = !noMsixEmulation || !c.p3;
          expect(got.direct).toEqual(
            expectedDirectPages({
              pageSize: 64 * K,
              barSize: 1 << 20,
              areas: [...bars[0]!.sparseAreas!],
              table: { offset: 0x50000, size: 256 },
              tableTraps,
            }),
          );
          expect(got.direct).toHaveLength(tableTraps ? 3 : 4);
          expect(got.reasons[Reason.DeviceSparse]).toBe(16 - 4);
        } finally {
          m.dispose();
        }
      });
    }
  }

  it('refuses areas that are not whole host pages, naming the device, the BAR, the area and what is allowed', () => {
    const fine = toyDevice({ name: 'gpu0', bars: [{ index: 0, size: 1 << 20, sparseAreas: [{ offset: 0x1000, size: 0x1000 }] }] });
    // Whole pages on a 4 KiB host...
    machine(genericPlatform(), fine, NONE).dispose();
    // ...but not on a 64 KiB one.
    expectVhwError(
      () => machine(ppc64Platform(), fine, NONE),
      'E_CONFIG',
      /gpu0.*BAR0 sparseAreas\[0\] \[0x1000, 0x2000\) is not whole host pages; allowed: offset a multiple of 0x10000/,
    );
  });

  it('refuses a list the PCI spec cannot hold: overlapping, outside the BAR, on an I/O BAR', () => {
    const spec = (bar: BarDecl) => () => new ToyDevice('bad', [bar]);
    expectVhwError(
      spec({
        index: 0,
        size: 0x10000,
        sparseAreas: [
          { offset: 0, size: 0x8000 },
          { offset: 0x4000, size: 0x1000 },
        ],
      }),
      'E_CONFIG',
      /BAR0 sparseAreas\[1\] \[0x4000, 0x5000\) overlaps BAR0 sparseAreas\[0\] \[0x0, 0x8000\); allowed: disjoint areas/,
    );
    expectVhwError(
      spec({ index: 0, size: 0x10000, sparseAreas: [{ offset: 0x8000, size: 0x10000 }] }),
      'E_CONFIG',
      /BAR0 sparseAreas\[0\]\.size 65536; allowed: an integer 1\.\.0x8000/,
    );
    expectVhwError(spec({ index: 0, size: 0x10000, sparseAreas: [{ offset: -1, size: 1 }] }), 'E_CONFIG', /sparseAreas\[0\]\.offset -1/);
    expectVhwError(spec({ index: 0, size: 0x100, kind: 'io', sparseAreas: [] }), 'E_CONFIG', /I\/O BAR.*allowed: only on a memory BAR/);
  });
});

describe('a sub-page BAR with its own one area', () => {
  it('maps its whole page only where patch 2 lets the kernel mmap it', () => {
    const bars: Array<BarDecl & { kind?: 'mem32' | 'mem64' }> = [{ index: 0, size: 0x4000, sparseAreas: [{ offset: 0, size: 0x4000 }] }];
    for (const c of [NONE, ALL]) {
      const m = machine(ppc64Platform({ alignBars: c.p1 }), toyDevice({ name: 'small0', bars }), c);
      try {
        const got = observe(m, 'small0', 0);
        expect(got.direct).toEqual(c.p2 ? [0] : []);
        if (!c.p2) expect(got.reasons).toEqual({ [Reason.SubPageBar]: 1 });
      } finally {
        m.dispose();
      }
    }
  });
});
