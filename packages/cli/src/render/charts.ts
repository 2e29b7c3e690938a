/**
 * SVG charts of sweeps and `--vary` runs: vega-lite specs compiled and rendered headless by vega.
 */
import { patchShortLabel } from '@vhw/core';
import type { TopLevelSpec } from 'vega-lite';
import type { RunResult } from '@vhw/experiment';
import { COMBO_ORDER, escapeXml, formatSpeedup, speedupsVsNone, varyFieldLabel, varyOf, varyText } from './format.js';

/** Fixed colours (variant or combination order) so that charts look the same from run to run. */
export const PALETTE = ['#4c78a8', '#f58518', '#54a24b', '#e45756', '#72b7b2', '#b279a2', '#eeca3b', '#9d755d'];

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
  /**
   * Logarithmic x axis (the varied values must be positive). Default: on when the points are
   * log-spaced (`--vary ... --log`: every value positive, a constant ratio between neighbours).
   */
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
 * Text sizes and frame shared by every chart, chosen to be read at 100% zoom: tick labels of
 * 12 px, titles of 13-16 px, legends on top so that the plot keeps the width.
 */
export const CHART_CONFIG = {
  font: 'sans-serif',
  view: { stroke: '#ddd' },
  title: { fontSize: 16, anchor: 'start', offset: 12, subtitleFontSize: 13, subtitleColor: '#444' },
  axis: { labelFontSize: 12, titleFontSize: 13, titlePadding: 8 },
  // A fixed y-axis width keeps every panel's plot area, and so its title, in line.
  axisY: { minExtent: 52, maxExtent: 52 },
  legend: { labelFontSize: 12, titleFontSize: 13, symbolSize: 150, orient: 'top', labelLimit: 320 },
  concat: { spacing: 32 },
} as const;

/** Widest a chart is drawn (px): the report shows it at 100% without scaling it down. */
const MAX_CHART_WIDTH = 1320;

/** Dash patterns and point shapes by series, so that lines stay apart in grey print and where they cross. */
export const DASHES = [
  [1, 0],
  [8, 4],
  [2, 3],
  [10, 3, 2, 3],
  [4, 4],
  [12, 6],
  [1, 5],
  [6, 2, 2, 2],
];
/** Point shapes by series, in the order of {@link DASHES}. */
export const SHAPES = ['circle', 'square', 'triangle-up', 'diamond', 'cross', 'triangle-down', 'wedge', 'stroke'];

/**
 * The panel of a run in a paneled chart: its scenario, plus its platform when the scenario runs
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
    const vary = withVary ? varyText(r) : '';
    if (vary) s += ` ${vary}`;
    return s;
  };
}

function uniqueInOrder<T>(xs: readonly T[]): T[] {
  return [...new Set(xs)];
}

/**
 * Grouped bar chart of a sweep: one group of bars per patch combination (none … P1+P2+P3), one
 * bar per variant (coloured by variant; a single variant is named in the subtitle, not in a
 * legend), labelled with the speed-up vs `none` (e.g. `1.97x`). When the results cover several
 * scenarios (or vary points, or platforms for one scenario) each gets its own panel, laid out
 * in rows without empty cells; with `measure: 'opsPerSecond'` panels have independent y scales.
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
  const yTitle = measure === 'speedup' ? 'speed-up vs none' : 'simulated ops/s';
  const oneVariant = variants.length === 1;
  // Wide enough per bar for its `1.00x` label at 11 px, turned upright when bars are narrow.
  const upright = variants.length > 1 && panels.length > 1;

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
        color: oneVariant
          ? { value: PALETTE[0] }
          : {
              field: 'variant',
              type: 'nominal',
              sort: variants,
              title: 'variant',
              scale: { domain: variants, range: PALETTE.slice(0, variants.length) },
            },
      },
    },
    {
      mark: upright
        ? { type: 'text', angle: 270, align: 'left', baseline: 'middle', dx: 4, fontSize: 11, color: '#222' }
        : { type: 'text', dy: -4, baseline: 'bottom', fontSize: 11, color: '#222' },
      encoding: { ...encoding, text: { field: 'label', type: 'nominal' } },
    },
  ];
  const step = variants.length * (upright ? 28 : 40) + 12;
  const panelWidth = combos.length * step;
  return renderVegaLiteSvg(
    panelledSpec({
      title,
      subtitle: oneVariant ? `variant: ${variants[0]}` : undefined,
      values,
      panels,
      layer,
      columns: opts.columns,
      panel: { width: panelWidth, height: 260 },
      single: { width: Math.max(600, panelWidth), height: 360 },
      sharedY: measure === 'speedup',
    }),
  );
}

/** True when the values are log-spaced: at least three, all positive, one ratio (>1.5) between neighbours. */
export function isLogSpaced(xs: readonly number[]): boolean {
  const v = [...new Set(xs)].sort((a, b) => a - b);
  if (v.length < 3 || v[0]! <= 0) return false;
  const ratio = v[1]! / v[0]!;
  if (ratio < 1.5) return false;
  return v.every((x, i) => i === 0 || Math.abs(x / v[i - 1]! / ratio - 1) < 0.02);
}

/** One plotted point of a vary chart. */
interface VaryPoint {
  x: number | string;
  speedup: number;
  series: string;
  panel: string;
}

/**
 * Joins the series of a panel whose points are all equal (e.g. rfc-2015 and upstream with all
 * three patches, or every combination that changes nothing): drawn apart, one line would hide
 * the others. A joined series is named by its members, a combination standing for all its
 * variants when they all agree (`P1 = P2+P3 upstream`).
 */
function mergeEqualSeries(points: ReadonlyArray<VaryPoint & { combo: string; variant: string }>, withCombo: boolean): VaryPoint[] {
  const variants = uniqueInOrder(points.map((p) => p.variant));
  const bySeries = new Map<string, Array<VaryPoint & { combo: string; variant: string }>>();
  for (const p of points) {
    const k = JSON.stringify([p.panel, p.combo, p.variant]);
    if (!bySeries.has(k)) bySeries.set(k, []);
    bySeries.get(k)!.push(p);
  }
  const shape = (ps: readonly VaryPoint[]) => JSON.stringify(ps.map((p) => [p.x, Math.round(p.speedup * 1e6)]));
  const merged = new Map<string, { members: Array<{ combo: string; variant: string }>; points: VaryPoint[] }>();
  for (const ps of bySeries.values()) {
    const k = JSON.stringify([ps[0]!.panel, shape(ps)]);
    const member = { combo: ps[0]!.combo, variant: ps[0]!.variant };
    const m = merged.get(k);
    if (m) m.members.push(member);
    else merged.set(k, { members: [member], points: ps });
  }
  const nameOf = (members: ReadonlyArray<{ combo: string; variant: string }>): string => {
    if (!withCombo) return members.map((m) => m.variant).join(' = ');
    const all = variants.length === 2 ? 'both' : 'all';
    return uniqueInOrder(members.map((m) => m.combo))
      .sort((a, b) => COMBO_ORDER.indexOf(a) - COMBO_ORDER.indexOf(b))
      .map((combo) => {
        const vs = members.filter((m) => m.combo === combo).map((m) => m.variant);
        return `${combo} ${vs.length === variants.length && variants.length > 1 ? all : vs.join(' = ')}`;
      })
      .join(' = ');
  };
  return [...merged.values()].flatMap(({ members, points: ps }) => {
    const series = nameOf(members);
    return ps.map((p) => ({ x: p.x, speedup: p.speedup, series, panel: p.panel }));
  });
}

/**
 * Line chart of the speed-up vs `none` against the varied parameter (the value of the row's one
 * `--vary` dimension, x axis titled with its field): by default one line per variant for all
 * three patches; with `combinations: 'all'` one line per patch combination and variant. Every
 * line has its own colour, dash pattern and point marker, and lines whose points are all equal
 * are drawn once and named together (`rfc-2015 = upstream`), so that no line hides another. The
 * x axis is logarithmic when the points are log-spaced (or `logX`), ordinal when the values are
 * names. A dashed rule marks 1x. Several scenarios give one panel each. Runs without a vary
 * point, with more than one dimension (see {@link heatMapSvg}), or whose group has no `none`
 * run, are left out.
 *
 * @param results - run results of a `--vary` sweep.
 * @param opts - which combinations, title, axis and layout ({@link VaryChartOptions}).
 * @returns a promise of the SVG text; a small "no vary results" SVG when nothing can be plotted.
 * @example
 * fs.writeFileSync('vary.svg', await varyChartSvg(results, { combinations: 'all' }));
 */
export async function varyChartSvg(results: RunResult[], opts: VaryChartOptions = {}): Promise<string> {
  const oneDim = results.filter((r) => varyOf(r).length === 1);
  const field = varyFieldLabel(oneDim) ?? 'vary';
  const title = opts.title ?? `speed-up vs none against ${field}`;
  const all = opts.combinations === 'all';
  const speedups = speedupsVsNone(oneDim);
  const panelOf = panelNamer(oneDim, false);
  const raw = oneDim
    .map((r, i) => ({ r, s: speedups[i], x: varyOf(r)[0]!.value }))
    .filter(({ r, s }) => s !== undefined && (all ? patchShortLabel(r.patches) !== 'none' : patchShortLabel(r.patches) === 'P1+P2+P3'));
  const numeric = raw.every(({ x }) => typeof x === 'number');
  const logX = numeric && (opts.logX ?? isLogSpaced(raw.map(({ x }) => x as number)));
  const points = raw
    .filter(({ x }) => !logX || (x as number) > 0)
    .map(({ r, s, x }) => ({ x, speedup: s!, combo: patchShortLabel(r.patches), variant: r.variant, series: '', panel: panelOf(r) }))
    .sort((a, b) => (numeric ? (a.x as number) - (b.x as number) : 0));
  if (points.length === 0) return emptySvg(title, 'no vary results to plot');

  const variants = uniqueInOrder(points.map((v) => v.variant));
  const values = mergeEqualSeries(points, all);
  const series = uniqueInOrder(values.map((v) => v.series));
  const panels = uniqueInOrder(values.map((v) => v.panel));
  const legendTitle = all ? (variants.length > 1 ? 'patches (variant where they differ)' : 'patches') : 'variant (all three patches)';
  // Colour, dash and marker on the same field and title: vega-lite draws one legend showing all three.
  const bySeries = (range: readonly unknown[]) => ({
    field: 'series',
    type: 'nominal',
    sort: series,
    title: legendTitle,
    scale: { domain: series, range: series.map((_, i) => range[i % range.length]) },
    legend: { orient: 'right', labelLimit: 420, titleLimit: 420, symbolStrokeWidth: 2.5, symbolSize: 120 },
  });
  const x = numeric
    ? { field: 'x', type: 'quantitative', title: field, scale: { zero: false, ...(logX ? { type: 'log', nice: false } : {}) } }
    : { field: 'x', type: 'ordinal', title: field, sort: uniqueInOrder(values.map((v) => v.x)) };
  const line = {
    mark: { type: 'line', point: { filled: true, size: 70 }, strokeWidth: 2.5 },
    encoding: {
      x,
      y: { field: 'speedup', type: 'quantitative', title: 'speed-up vs none', scale: { zero: false } },
      color: bySeries(PALETTE),
      strokeDash: bySeries(DASHES),
      shape: bySeries(SHAPES),
    },
  };
  const rule = { mark: { type: 'rule', strokeDash: [4, 4], color: '#999' }, encoding: { y: { datum: 1 } } };
  return renderVegaLiteSvg(
    panelledSpec({
      title,
      subtitle:
        [...(variants.length === 1 ? [`variant: ${variants[0]}`] : []), ...(logX ? ['log-spaced points, logarithmic x axis'] : [])].join(
          '; ',
        ) || undefined,
      values,
      panels,
      layer: [rule, line],
      columns: opts.columns,
      panel: { width: 420, height: 260 },
      single: { width: 640, height: 340 },
    }),
  );
}

/** Options of {@link heatMapSvg}. */
export interface HeatMapOptions {
  /** The patch combination whose speed-up fills the cells. Default `P1+P2+P3`. */
  combination?: string;
  /** Chart title. Default: `speed-up vs none of <combination> over <field 1> × <field 2>`. */
  title?: string;
}

/** The axis domain of one grid dimension: numbers ascending, names in order of appearance. */
function gridDomain(values: ReadonlyArray<number | string>): string[] {
  const distinct = uniqueInOrder(values);
  if (distinct.every((v) => typeof v === 'number')) (distinct as number[]).sort((a, b) => a - b);
  return distinct.map(String);
}

/**
 * Heat map of a two-dimensional `--vary` grid: the first dimension across, the second upwards,
 * each cell coloured by the speed-up vs `none` of one patch combination (all three by default)
 * and labelled with it (`1.83x`). One panel per scenario and variant, on one colour scale. Rows
 * whose vary point does not have exactly two dimensions are left out.
 *
 * @param results - run results of a sweep with two `--vary` dimensions.
 * @param opts - combination and title ({@link HeatMapOptions}).
 * @returns a promise of the SVG text; a small "no grid results" SVG when nothing can be plotted.
 * @example
 * fs.writeFileSync('heatmap.svg', await heatMapSvg(results));
 */
export async function heatMapSvg(results: RunResult[], opts: HeatMapOptions = {}): Promise<string> {
  const combination = opts.combination ?? 'P1+P2+P3';
  const grid = results.filter((r) => varyOf(r).length === 2);
  const first = grid[0] ? varyOf(grid[0]) : undefined;
  const fx = first?.[0]?.field ?? 'vary 1';
  const fy = first?.[1]?.field ?? 'vary 2';
  const title = opts.title ?? `speed-up vs none of ${combination} over ${fx} × ${fy}`;
  const speedups = speedupsVsNone(grid);
  const panelOf = panelNamer(grid, false);
  const values = grid
    .map((r, i) => ({ r, s: speedups[i] }))
    .filter(({ r, s }) => s !== undefined && patchShortLabel(r.patches) === combination)
    .map(({ r, s }) => {
      const [a, b] = varyOf(r);
      return {
        x: String(a!.value),
        y: String(b!.value),
        xv: a!.value,
        yv: b!.value,
        speedup: s!,
        label: formatSpeedup(s),
        panel: `${panelOf(r)}, ${r.variant}`,
      };
    });
  if (values.length === 0) return emptySvg(title, 'no grid results to plot');
  joinEqualPanels(values);
  const xs = gridDomain(values.map((v) => v.xv));
  const ys = gridDomain(values.map((v) => v.yv)).reverse();
  const lo = Math.min(...values.map((v) => v.speedup));
  const hi = Math.max(...values.map((v) => v.speedup));
  const mid = (lo + hi) / 2;
  const panels = uniqueInOrder(values.map((v) => v.panel));
  const enc = {
    x: { field: 'x', type: 'ordinal', sort: xs, title: fx, axis: { labelAngle: 0 } },
    y: { field: 'y', type: 'ordinal', sort: ys, title: fy },
  };
  const layer = [
    {
      mark: { type: 'rect', stroke: 'white', strokeWidth: 1 },
      encoding: {
        ...enc,
        color: { field: 'speedup', type: 'quantitative', title: 'speed-up', scale: { scheme: 'blues', domain: [Math.min(1, lo), hi] } },
      },
    },
    {
      mark: { type: 'text', fontSize: 11 },
      encoding: {
        ...enc,
        text: { field: 'label', type: 'nominal' },
        color: { condition: { test: `datum.speedup > ${mid}`, value: 'white' }, value: '#111' },
      },
    },
  ];
  const cellW = Math.max(56, ...xs.map((x) => x.length * 8 + 12));
  return renderVegaLiteSvg(
    panelledSpec({
      title,
      values,
      panels,
      layer,
      panel: { width: xs.length * cellW, height: ys.length * 30 },
      single: { width: xs.length * (cellW + 24), height: ys.length * 44 },
      sharedY: true,
    }),
  );
}

/**
 * Renames panels whose cells are all equal (e.g. both variants of a scenario) to one joined
 * name (`s, rfc-2015 = s, upstream`), so that the grid is drawn once rather than twice.
 */
function joinEqualPanels(values: Array<{ x: string; y: string; label: string; panel: string }>): void {
  const cellsOf = new Map<string, string>();
  for (const p of uniqueInOrder(values.map((v) => v.panel))) {
    const cells = values.filter((v) => v.panel === p).map((v) => `${v.x}|${v.y}|${v.label}`);
    cellsOf.set(p, JSON.stringify(cells));
  }
  const nameOf = new Map<string, string>();
  for (const [p, cells] of cellsOf) {
    const same = [...cellsOf].filter(([, c]) => c === cells).map(([q]) => q);
    nameOf.set(p, same[0]!);
    if (same[0] !== p) continue;
    // `s, rfc-2015` and `s, upstream` join as `s, rfc-2015 = upstream`.
    const cut = (q: string) => q.lastIndexOf(', ');
    const prefix = p.slice(0, cut(p));
    const joined = same.every((q) => q.slice(0, cut(q)) === prefix)
      ? `${prefix}, ${same.map((q) => q.slice(cut(q) + 2)).join(' = ')}`
      : same.join(' = ');
    nameOf.set(`=${p}`, joined);
  }
  for (let i = values.length - 1; i >= 0; i--) {
    const v = values[i]!;
    const first = nameOf.get(v.panel)!;
    if (v.panel !== first) values.splice(i, 1);
    else v.panel = nameOf.get(`=${first}`)!;
  }
}

/** How many panels of `width` px fit side by side within {@link MAX_CHART_WIDTH}. */
function fitColumns(width: number, panels: number): number {
  const fit = Math.max(1, Math.floor(MAX_CHART_WIDTH / (width + 70)));
  return Math.min(panels, fit);
}

/**
 * One chart, or one titled panel per group when there are several: the common frame of every
 * chart. Panels are concatenated in rows of `columns` (not faceted), so a last row that is
 * not full leaves no empty panel frame or axis behind. `sharedY` undefined leaves vega-lite's
 * default y resolution.
 */
function panelledSpec(o: {
  title: string;
  subtitle?: string;
  values: unknown[];
  panels: string[];
  layer: unknown[];
  columns?: number;
  panel: { width: number; height: number };
  single: { width: number; height: number };
  sharedY?: boolean;
}): TopLevelSpec {
  const base = { background: 'white', padding: 12, config: CHART_CONFIG, data: { values: o.values } };
  const title = (text: string) => ({ text, ...(o.subtitle ? { subtitle: o.subtitle } : {}) });
  if (o.panels.length <= 1) {
    return { ...base, title: title(`${o.title}: ${o.panels[0] ?? ''}`), ...o.single, layer: o.layer } as unknown as TopLevelSpec;
  }
  const spec = {
    ...base,
    title: title(o.title),
    columns: o.columns ?? fitColumns(o.panel.width, o.panels.length),
    concat: o.panels.map((name) => ({
      title: { text: name, fontSize: 13, fontWeight: 'normal', anchor: 'middle' },
      transform: [{ filter: { field: 'panel', equal: name } }],
      ...o.panel,
      layer: o.layer,
    })),
    resolve: {
      scale: { x: 'shared', color: 'shared', ...(o.sharedY === undefined ? {} : { y: o.sharedY ? 'shared' : 'independent' }) },
    },
  };
  return spec as unknown as TopLevelSpec;
}
