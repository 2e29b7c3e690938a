/**
 * Fixture run results for the rendering tests. Hand-built, not simulated: the numbers only need
 * to be distinct and easy to check (ops/s is chosen so that speed-ups are round ratios).
 */
import type { PageMap, PatchSet, RunResult, Variant } from '@vhw/experiment';
import type { VaryEntry } from './format.js';
import type { PageMapMark } from './page-map.js';

/** The eight patch combinations in display order (none first, all three last). */
export const ALL_COMBOS: PatchSet[] = (
  [
    [false, false, false],
    [true, false, false],
    [false, true, false],
    [false, false, true],
    [true, true, false],
    [true, false, true],
    [false, true, true],
    [true, true, true],
  ] as const
).map(([alignBars, subPageMmap, msixMmap]) => ({ alignBars, subPageMmap, msixMmap }));

/** A fixture's vary point: the single-object form or the array form of grid rows. */
export type FixtureVary = VaryEntry | VaryEntry[];

/** Options of {@link makeRun}. */
export interface RunFixture {
  scenario?: string;
  variant?: Variant;
  patches?: Partial<PatchSet>;
  opsPerSecond?: number;
  direct?: number;
  trapped?: number;
  trapsByReason?: Record<string, number>;
  /**
   * The vary point: one `{ field, value }` (stored as given, the form of sets written before
   * grids) or an array with one entry per `--vary` dimension (the row format of grids).
   */
  vary?: FixtureVary;
  pageSize?: number;
  platform?: string;
}

/**
 * Builds one run result with two BARs (a 16 KiB register BAR and a 16 KiB MSI-X BAR), trap
 * counts and top trapped pages.
 *
 * @param f - the fields that differ from the defaults.
 * @returns a complete {@link RunResult}.
 * @example
 * makeRun({ patches: { alignBars: true }, opsPerSecond: 2e6 });
 */
export function makeRun(f: RunFixture = {}): RunResult {
  const patches: PatchSet = { alignBars: false, subPageMmap: false, msixMmap: false, ...f.patches };
  const ops = 10_000;
  const opsPerSecond = f.opsPerSecond ?? 1_000_000;
  const trapsByReason = f.trapsByReason ?? { 'sub-page-bar': 900, 'msix-table-page': 100 };
  const trapped = f.trapped ?? Object.values(trapsByReason).reduce((a, b) => a + b, 0);
  const direct = f.direct ?? 5000;
  const r: RunResult = {
    scenario: f.scenario ?? 'igbvf-like',
    platform: { name: f.platform ?? 'powernv', pageSize: f.pageSize ?? 65536, eeh: true },
    variant: f.variant ?? 'rfc-2015',
    patches,
    workload: { ops, simulatedNs: (ops / opsPerSecond) * 1e9, opsPerSecond, completed: ops, failed: 0 },
    mmio: { direct, trapped, trapsByReason },
    bars: [
      {
        device: 'vf0',
        bar: 0,
        address: '0x3fe080000000',
        guestAddress: '0x200080000000',
        size: 16384,
        mmap: patches.alignBars && patches.subPageMmap ? 'full' : 'none',
        reason: patches.alignBars && patches.subPageMmap ? 'mmap' : 'sub-page-bar',
        areas: [{ offset: 0, size: 16384, path: patches.alignBars && patches.subPageMmap ? 'direct' : 'trap', reason: 'sub-page-bar' }],
      },
      {
        device: 'vf0',
        bar: 3,
        address: '0x3fe080010000',
        guestAddress: '0x200080010000',
        size: 16384,
        mmap: 'partial',
        reason: 'msix-table-page',
        areas: [
          { offset: 0, size: 8192, path: 'trap', reason: 'msix-table-page' },
          { offset: 8192, size: 8192, path: 'direct', reason: 'mmap' },
        ],
      },
    ],
    isolation: { violations: 0 },
    topTrappedPages: [
      { page: '0x200080000000', traps: 900, reasons: ['sub-page-bar'] },
      { page: '0x200080010000', traps: 100, reasons: ['msix-table-page'] },
    ],
  };
  // Stored as given: the array form is not in RunResult's type yet where the grid rows are not merged.
  if (f.vary) (r as { vary?: unknown }).vary = f.vary;
  return r;
}

/**
 * A full sweep: every combination for each variant of each scenario, with ops/s equal to
 * `base * (1 + number of patches on) * (variant === 'upstream' ? 2 : 1)`, so that the speed-up
 * of a run is `1 + patches on` whatever the variant.
 *
 * @param scenarios - scenario names.
 * @param base - ops/s of the `none` run of the rfc-2015 variant.
 * @param vary - the vary point stamped on every run, if any.
 * @returns 16 runs per scenario.
 * @example
 * makeSweep(['a', 'b']).length; // 32
 */
export function makeSweep(scenarios: string[] = ['igbvf-like'], base = 1_000_000, vary?: FixtureVary): RunResult[] {
  const out: RunResult[] = [];
  for (const scenario of scenarios) {
    for (const variant of ['rfc-2015', 'upstream'] as const) {
      for (const patches of ALL_COMBOS) {
        const on = Number(patches.alignBars) + Number(patches.subPageMmap) + Number(patches.msixMmap);
        out.push(makeRun({ scenario, variant, patches, vary, opsPerSecond: base * (1 + on) * (variant === 'upstream' ? 2 : 1) }));
      }
    }
  }
  return out;
}

/**
 * A small host page map: three 64 KiB pages (one direct, one mixed with the MSI-X table, one
 * unused) with a device name that needs XML escaping.
 *
 * @returns the page map.
 * @example
 * pageMapFixture().pages.length; // 3
 */
export function pageMapFixture(): PageMap {
  return {
    pageSize: 65536,
    pages: [
      {
        hostPa: 0x3fe080000000,
        group: 'PE#1',
        path: 'direct',
        pieces: [{ device: 'vf0', bar: 0, offset: 0, size: 16384, path: 'direct', reason: 'mmap' }],
      },
      {
        hostPa: 0x3fe080010000,
        group: 'PE#1',
        path: 'mixed',
        pieces: [
          { device: 'nvme<&>"x"', bar: 0, offset: 0, size: 8192, path: 'direct', reason: 'mmap' },
          { device: 'nvme<&>"x"', bar: 0, offset: 8192, size: 8192, path: 'trap', reason: 'msix-table-page' },
          { device: 'nvme<&>"x"', bar: 2, offset: 16384, size: 4096, path: 'unmapped', reason: 'reserved' },
        ],
      },
      { hostPa: 0x3fe080020000, group: 'PE#2', path: 'unused', pieces: [] },
    ],
  };
}

/**
 * A two-dimensional `--vary` grid (rows in the array form, one entry per dimension): for each
 * `guest.ioStackNs` in 0, 5000, 10000 and `exit.userspaceFactor` in 1, 2, a full sweep whose
 * all-patches speed-up is `4 * factor / (1 + ioStackNs / 5000)`.
 *
 * @returns 16 runs per grid point (96 in all).
 * @example
 * makeGrid().length; // 96
 */
export function makeGrid(): RunResult[] {
  return [0, 5000, 10000].flatMap((io) =>
    [1, 2].flatMap((factor) =>
      makeSweep(['igbvf-like'], 1e6, [
        { field: 'guest.ioStackNs', value: io },
        { field: 'exit.userspaceFactor', value: factor },
      ]).map((r) => {
        const all = r.patches.alignBars && r.patches.subPageMmap && r.patches.msixMmap;
        if (all) r.workload.opsPerSecond = (r.workload.opsPerSecond / 4) * ((4 * factor) / (1 + io / 5000));
        return r;
      }),
    ),
  );
}

/**
 * A 64 KiB page crowded with small BARs (three of 4 KiB and two of 1 KiB) of a device with its
 * MSI-X table and PBA in the third, for the labelling of narrow pieces.
 *
 * @returns the page map, with the MSI-X marks of the device.
 * @example
 * const { map, marks } = crowdedPageFixture();
 */
export function crowdedPageFixture(): { map: PageMap; marks: PageMapMark[] } {
  const hostPa = 0x80000000;
  const sizes = [4096, 4096, 4096, 1024, 1024];
  let offset = 0;
  const pieces = sizes.map((size, bar) => {
    const p = {
      device: 'echo0',
      bar,
      offset,
      size,
      path: bar === 2 ? ('trap' as const) : ('direct' as const),
      reason: bar === 2 ? 'msix-table-page' : 'mmap-sub-page',
    };
    offset += size;
    return p;
  });
  return {
    map: { pageSize: 65536, pages: [{ hostPa, group: 'PE#0', path: 'mixed', pieces }] },
    marks: [
      { device: 'echo0', bar: 2, kind: 'msix-table', hostPa: hostPa + 8192, offset: 0, size: 256 },
      { device: 'echo0', bar: 2, kind: 'msix-pba', hostPa: hostPa + 8192 + 2048, offset: 2048, size: 8 },
    ],
  };
}
