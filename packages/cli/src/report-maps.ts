/**
 * The page maps of a result set's report: every patch combination of every variant the rows
 * ran, drawn with the MSI-X tables and PBAs marked inside their BARs. Combinations that give
 * the same map share one picture, captioned with all of them.
 */
import { allPatchCombinations, patchShortLabel } from '@vhw/core';
import {
  type ExperimentConfig,
  type PageMap,
  type PluginSet,
  type PreparedRun,
  type RunResult,
  type Scenario,
  buildPageMap,
  prepare,
} from '@vhw/experiment';
import { type CostRow, type PageMapBarInfo, type PageMapMark, COMBO_ORDER, pageMapSvg } from './render/index.js';

/** One picture of the report's page maps. */
export interface ReportPageMap {
  /** Caption: scenario, variant and every combination drawn by this picture. */
  label: string;
  svg: string;
  variant: string;
  /** The VMM's MSI-X relocation the maps were drawn with (`off` when the rows predate it). */
  relocation: string;
  /** The patch combinations that give this map (`none`, `P1`, …), in display order. */
  combos: string[];
}

/**
 * The MSI-X tables and PBAs of a prepared run's passed-through functions, in host addresses,
 * and the BARs' labels and sizes: what {@link pageMapSvg} marks and keys.
 *
 * @param run - a prepared run.
 * @returns marks and BAR information for {@link pageMapSvg}'s options.
 * @example
 * pageMapSvg(buildPageMap(run), { ...msixMarksOf(run) });
 */
export function msixMarksOf(run: Pick<PreparedRun, 'bridge'>): { marks: PageMapMark[]; bars: PageMapBarInfo[] } {
  const marks: PageMapMark[] = [];
  const bars: PageMapBarInfo[] = [];
  for (const fn of run.bridge.functions) {
    for (const b of fn.bars) bars.push({ device: fn.name, bar: b.index, size: b.size, ...(b.label ? { label: b.label } : {}) });
    const m = fn.device.spec.msix;
    if (!m) continue;
    // Sizes as the PCI spec lays them out: 16 bytes per table entry, one pending bit per vector in qwords.
    const parts = [
      { kind: 'msix-table', bar: m.tableBar, offset: m.tableOffset, size: m.vectors * 16 },
      { kind: 'msix-pba', bar: m.pbaBar, offset: m.pbaOffset, size: Math.ceil(m.vectors / 64) * 8 },
    ] as const;
    for (const p of parts) {
      const bar = fn.bar(p.bar);
      if (bar) marks.push({ device: fn.name, ...p, hostPa: bar.address + p.offset });
    }
  }
  return { marks, bars };
}

/**
 * Draws the page map of every patch combination for each variant, VMM and MSI-X relocation in
 * `results`, on the platform page size and seed of that point's first row, and joins combinations whose maps are equal.
 *
 * @param scenario - the scenario the rows ran.
 * @param results - the result rows (their variants, page size and seed are used).
 * @param o - `--set` cost overrides and plugin options, so the maps show the machine that ran.
 * @returns the pictures in variant then combination order, and the cost parameters' metadata.
 * @example
 * const { pageMaps } = reportPageMaps(scenario, rows, {});
 */
export function reportPageMaps(
  scenario: Scenario,
  results: readonly RunResult[],
  o: { costs?: Record<string, number>; pluginSets?: readonly PluginSet[] },
): { pageMaps: ReportPageMap[]; costMeta?: Array<Omit<CostRow, 'value'>> } {
  const pageMaps: ReportPageMap[] = [];
  let costMeta: Array<Omit<CostRow, 'value'>> | undefined;
  const combos = allPatchCombinations().sort((a, b) => COMBO_ORDER.indexOf(patchShortLabel(a)) - COMBO_ORDER.indexOf(patchShortLabel(b)));
  // One set of maps per variant and MSI-X relocation the rows ran (relocation adds a BAR).
  // And per VMM (`--vmm`): each maps the device its own way.
  const points = new Map(results.map((r) => [`${r.variant} ${r.relocation ?? 'off'} ${r.vmm ?? 'qemu'}`, r]));
  const relocations = new Set(results.map((r) => r.relocation ?? 'off'));
  const vmms = new Set(results.map((r) => r.vmm ?? 'qemu'));
  for (const first of points.values()) {
    const variant = first.variant;
    const relocation = (first.relocation ?? 'off') as NonNullable<ExperimentConfig['relocation']>;
    const pageSize = first.platform.pageSize;
    const drawn = new Map<string, { map: PageMap; extra: ReturnType<typeof msixMarksOf>; combos: string[] }>();
    for (const patches of combos) {
      const combo = patchShortLabel(patches);
      const run = prepare(
        scenario,
        {
          patches,
          variant,
          seed: first.seed ?? 1,
          relocation,
          ...(first.vmm ? { vmm: first.vmm } : {}),
          ...(pageSize ? { pageSize } : {}),
        },
        { costs: o.costs, pluginSets: o.pluginSets },
      );
      try {
        const map = buildPageMap(run);
        const extra = msixMarksOf(run);
        const key = JSON.stringify([map, extra]);
        const same = drawn.get(key);
        if (same) {
          same.combos.push(combo);
          continue;
        }
        drawn.set(key, { map, extra, combos: [combo] });
        costMeta ??= run.machine.costs.rows().map((c) => ({ name: c.name, unit: c.unit, source: c.source, confidence: c.confidence }));
      } finally {
        run.machine.dispose();
      }
    }
    for (const { map, extra, combos: same } of drawn.values()) {
      const which = same.length === 1 ? `patches: ${same[0]}` : `patches: ${same.join(', ')} (same map)`;
      const reloc = relocations.size > 1 || relocation !== 'off' ? `, msix-relocation ${relocation}` : '';
      const vmm = vmms.size > 1 || (first.vmm ?? 'qemu') !== 'qemu' ? `, vmm ${first.vmm ?? 'qemu'}` : '';
      const label = `${scenario.name}, ${variant}${vmm}${reloc}, ${which}`;
      pageMaps.push({ label, svg: pageMapSvg(map, { title: label, ...extra }), variant, relocation, combos: same });
    }
  }
  return { pageMaps, ...(costMeta ? { costMeta } : {}) };
}
