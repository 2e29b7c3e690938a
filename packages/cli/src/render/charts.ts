/**
 * SVG charts of sweeps and `--vary` runs: vega-lite specs compiled and rendered headless by vega.
 */
import { patchShortLabel } from '@vhw/core';
import type { TopLevelSpec } from 'vega-lite';
import type { RunResult } from '@vhw/experiment';
import { COMBO_ORDER, escapeXml, formatSpeedup, speedupsVsNone, varyFieldLabel } from './format.js';

/** Fixed colours (variant or combination order) so that charts look the same from run to run. */
const PALETTE = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2', '#eeca3b', '#9d755d'];

/** Options of {@link sweepChartSvg}. */
export interface SweepChartOptions {
  /** Bar height: ops/s (default) or speed-up vs the `none` run of the same group. */
  measure?: 'opsPerSecond' | 'speedup';
  /** Chart title. Default: `ops/s per patch combination` or `speed-up vs none per patch combination`. */
  title?: string;
  /** Panels per row when several scenarios are shown. Default 2. */
  columns?: number;
}

/** Options of {@link varyChartSvg}. */
export interface VaryChartOptions {
  /**
   * `full` (default): one line per variant for all three patches vs none. `all`: one line per
   * patch combination (and variant) except `none`.
   */
  combinations?: 'full' | 'all';
  /** Chart title. Default: `speed-up vs none against <field>`. */
  title?: string;
  /** Logarithmic x axis (the varied values must be positive). Default false. */
  logX?: boolean;
  /** Panels per row when several scenarios are shown. Default 2. */
  columns?: number;
}

/**
 * Compiles a vega-lite spec and renders it headless to an SVG string. Vega's SVG definition ids
 * (clip paths, gradients) are reset first so the same spec always gives the same text, and
 * vega-lite/vega warnings are silenced (they would otherwise go to the console).
 *
 * @param spec - a vega-lite top-level spec with inline data.
 * @returns the SVG document text (starts with `<svg`).
 * @throws Error when vega-lite cannot compile the spec.
 * @example
 * const svg = await renderVegaLiteSvg({ data: { values: [] }, mark: 'bar' });
 */
export async function renderVegaLiteSvg(spec: TopLevelSpec): Promise<string> {
  // The chart libraries take most of the CLI's start-up when imported; only a drawn chart loads them.
  const [vega, { compile }] = await Promise.all([import('vega'), import('vega-lite')]);
  const quiet = vega.logger(vega.None);
  const compiled = compile(spec, { logger: quiet }).spec;
  const reset = (vega as unknown as { resetSVGDefIds?: () => void }).resetSVGDefIds;
  if (typeof reset === 'function') reset();
  const view = new vega.View(vega.parse(compiled), { renderer: 'none', logLevel: vega.None });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** A minimal SVG carrying a message, for charts with nothing to plot. */
function emptySvg(title: string, message: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="420" height="80" viewBox="0 0 420 80">` +
    `<rect width="420" height="80" fill="white"/>` +
    `<text x="10" y="24" font-family="sans-serif" font-size="13" font-weight="bold">${escapeXml(title)}</text>` +
    `<text x="10" y="52" font-family="sans-serif" font-size="12" fill="#666">${escapeXml(message)}</text></svg>`
  );
}

/**
 * The panel of a run in a faceted chart: its scenario, plus its platform when the scenario runs
 * on several platforms in `results`, plus its vary point when `withVary`.
 */
function panelNamer(results: readonly RunResult[], withVary: boolean): (r: RunResult) => string {
  const platformsOf = new Map<string, Set<string>>();
  const plat = (r: RunResult) => `${r.platform.name} ${r.platform.pageSize / 1024} KiB${r.platform.eeh ? ' EEH' : ''}`;
  for (const r of results) {
    if (!platformsOf.has(r.scenario)) platformsOf.set(r.scenario, new Set());
    platformsOf.get(r.scenario)!.add(plat(r));
  }
  return (r) => {
    let s = r.scenario;
    if (platformsOf.get(r.scenario)!.size > 1) s += ` (${plat(r)})`;
    if (withVary && r.vary) s += r.vary.map((v) => ` ${v.field}=${v.value}`).join('');
    return s;
  };
}

function uniqueInOrder<T>(xs: readonly T[]): T[] {
  return [...new Set(xs)];
}

/**
 * Grouped bar chart of a sweep: one group of bars per patch combination (none … P1+P2+P3), one
 * bar per variant (coloured by variant), labelled with the speed-up vs `none` (e.g. `1.97x`).
 * When the results cover several scenarios (or vary points, or platforms for one scenario) each
 * gets its own panel; with `measure: 'opsPerSecond'` panels have independent y scales.
 *
 * @param results - run results, e.g. the array of `vhw sweep --format json`.
 * @param opts - measure, title and layout ({@link SweepChartOptions}).
 * @returns a promise of the SVG text; a small "no results" SVG when `results` is empty.
 * @example
 * fs.writeFileSync('sweep.svg', await sweepChartSvg(results, { measure: 'speedup' }));
 */
export async function sweepChartSvg(results: RunResult[], opts: SweepChartOptions = {}): Promise<string> {
  const measure = opts.measure ?? 'opsPerSecond';
  const title = opts.title ?? (measure === 'speedup' ? 'speed-up vs none per patch combination' : 'ops/s per patch combination');
  const speedups = speedupsVsNone(results);
  const rows = results
    .map((r, i) => ({ r, s: speedups[i] }))
    .filter(({ r, s }) => (measure === 'speedup' ? s !== undefined : Number.isFinite(r.workload.opsPerSecond)));
  if (rows.length === 0) return emptySvg(title, 'no results to plot');

  const panelOf = panelNamer(results, true);
  const values = rows.map(({ r, s }) => ({
    combo: patchShortLabel(r.patches),
    variant: r.variant,
    panel: panelOf(r),
    value: measure === 'speedup' ? s! : r.workload.opsPerSecond,
    label: s === undefined ? '' : formatSpeedup(s),
  }));
  const combos = COMBO_ORDER.filter((c) => values.some((v) => v.combo === c));
  const variants = uniqueInOrder(values.map((v) => v.variant));
  const panels = uniqueInOrder(values.map((v) => v.panel));
  const yTitle = measure === 'speedup' ? 'speed-up vs none' : 'ops/s';

  const encoding = {
    x: { field: 'combo', type: 'nominal', sort: combos, title: 'patch combination', axis: { labelAngle: -30 } },
    xOffset: { field: 'variant', type: 'nominal', sort: variants },
    y: { field: 'value', type: 'quantitative', title: yTitle, stack: null },
  } as const;
  const layer = [
    {
      mark: { type: 'bar' },
      encoding: {
        ...encoding,
        color: {
          field: 'variant',
          type: 'nominal',
          sort: variants,
          title: 'variant',
          scale: { domain: variants, range: PALETTE.slice(0, variants.length) },
        },
      },
    },
    {
      mark: { type: 'text', dy: -4, baseline: 'bottom', fontSize: 8, color: '#333' },
      encoding: { ...encoding, text: { field: 'label', type: 'nominal' } },
    },
  ];
  const width = Math.max(160, combos.length * variants.length * 26 + combos.length * 10);
  return renderVegaLiteSvg(
    panelledSpec({
      title,
      values,
      panels,
      layer,
      columns: opts.columns,
      panel: { width, height: 200 },
      single: { width, height: 220 },
      sharedY: measure === 'speedup',
    }),
  );
}

/**
 * Line chart of the speed-up vs `none` against the varied parameter (`result.vary.value`, x axis
 * titled with `vary.field`): by default one line per variant for all three patches; with
 * `combinations: 'all'` one line per patch combination (coloured) and variant (dashed). A dashed
 * rule marks 1x. Several scenarios give one panel each. Runs without a vary point, or whose
 * group has no `none` run, are left out.
 *
 * @param results - run results of a `--vary` sweep.
 * @param opts - which combinations, title, axis and layout ({@link VaryChartOptions}).
 * @returns a promise of the SVG text; a small "no vary results" SVG when nothing can be plotted.
 * @example
 * fs.writeFileSync('vary.svg', await varyChartSvg(results, { combinations: 'all' }));
 */
export async function varyChartSvg(results: RunResult[], opts: VaryChartOptions = {}): Promise<string> {
  const field = varyFieldLabel(results) ?? 'vary';
  const title = opts.title ?? `speed-up vs none against ${field}`;
  const all = opts.combinations === 'all';
  const speedups = speedupsVsNone(results);
  const panelOf = panelNamer(results, false);
  const values = results
    .map((r, i) => ({ r, s: speedups[i] }))
    .filter(
      ({ r, s }) =>
        typeof r.vary?.[0]?.value === 'number' &&
        s !== undefined &&
        (all ? patchShortLabel(r.patches) !== 'none' : patchShortLabel(r.patches) === 'P1+P2+P3'),
    )
    .filter(({ r }) => !opts.logX || Number(r.vary![0]!.value) > 0)
    .map(({ r, s }) => ({
      x: Number(r.vary![0]!.value),
      speedup: s!,
      combo: patchShortLabel(r.patches),
      variant: r.variant,
      panel: panelOf(r),
    }))
    .sort((a, b) => a.x - b.x);
  if (values.length === 0) return emptySvg(title, 'no vary results to plot');

  const combos = COMBO_ORDER.filter((c) => values.some((v) => v.combo === c));
  const variants = uniqueInOrder(values.map((v) => v.variant));
  const panels = uniqueInOrder(values.map((v) => v.panel));
  const colorByCombo = all;
  const color = colorByCombo
    ? { field: 'combo', type: 'nominal', sort: combos, title: 'patches', scale: { domain: combos, range: PALETTE.slice(0, combos.length) } }
    : {
        field: 'variant',
        type: 'nominal',
        sort: variants,
        title: 'variant (P1+P2+P3)',
        scale: { domain: variants, range: PALETTE.slice(0, variants.length) },
      };
  const line = {
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: field, scale: { zero: false, ...(opts.logX ? { type: 'log' } : {}) } },
      y: { field: 'speedup', type: 'quantitative', title: 'speed-up vs none', scale: { zero: false } },
      color,
      detail: { field: 'variant', type: 'nominal' },
      ...(colorByCombo && variants.length > 1
        ? {
            strokeDash: { field: 'variant', type: 'nominal', sort: variants, title: 'variant' },
            shape: { field: 'variant', type: 'nominal', sort: variants, title: 'variant' },
          }
        : {}),
    },
  };
  const rule = { mark: { type: 'rule', strokeDash: [4, 4], color: '#999' }, encoding: { y: { datum: 1 } } };
  const layer = [rule, line];
  return renderVegaLiteSvg(
    panelledSpec({
      title,
      values,
      panels,
      layer,
      columns: opts.columns,
      panel: { width: 300, height: 200 },
      single: { width: 420, height: 240 },
    }),
  );
}

/**
 * One chart, or one panel per group (faceted) when there are several: the common frame of
 * the sweep and vary charts. `sharedY` undefined leaves vega-lite's default y resolution.
 */
function panelledSpec(o: {
  title: string;
  values: unknown[];
  panels: string[];
  layer: unknown[];
  columns?: number;
  panel: { width: number; height: number };
  single: { width: number; height: number };
  sharedY?: boolean;
}): TopLevelSpec {
  const base = { title: o.title, background: 'white', config: { font: 'sans-serif', view: { stroke: '#ddd' } } };
  const spec =
    o.panels.length > 1
      ? {
          ...base,
          data: { values: o.values },
          facet: { field: 'panel', type: 'nominal', sort: o.panels, title: null },
          columns: o.columns ?? 2,
          spec: { ...o.panel, layer: o.layer },
          ...(o.sharedY === undefined ? {} : { resolve: { scale: { y: o.sharedY ? 'shared' : 'independent' } } }),
        }
      : { ...base, title: `${o.title}: ${o.panels[0]}`, data: { values: o.values }, ...o.single, layer: o.layer };
  return spec as unknown as TopLevelSpec;
}
