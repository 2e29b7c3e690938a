/**
 * A self-contained HTML report, written for a reader: the summary the numbers support first,
 * then the charts, the page maps, the tables (long ones collapsible) and, last, where the costs
 * come from. One file with inline CSS and inline SVG, no script and no external resource.
 */
import { PATCHES, patchShortLabel } from '@vhw/core';
import { MMIO_ACCESS_UNIT, type RunResult } from '@vhw/experiment';
import { heatMapSvg, sweepChartSvg, varyChartSvg } from './charts.js';
import { ratioChartSvg } from './ratio-chart.js';
import {
  displayOrder,
  dominantReason,
  escapeXml,
  formatBytes,
  formatInt,
  formatSpeedup,
  groupKey,
  speedupsVsNone,
  varyOf,
  varyText,
} from './format.js';

/** One cost-model parameter with its provenance, as listed in the report. */
export interface CostRow {
  name: string;
  /** The value the runs used (the smallest, when they differ). */
  value: number;
  /** The largest value, when runs used different ones (a `--vary` field). */
  max?: number;
  unit: string;
  source: string;
  confidence: string;
}

/** Input of {@link htmlReport}. */
export interface HtmlReportInput {
  /** Page title and heading. */
  title: string;
  /** Run results shown in the sweep table. */
  results: RunResult[];
  /** SVG of {@link sweepChartSvg}, inlined as is (after sanitising); shown after `charts`. */
  sweepSvg?: string;
  /** SVG of {@link varyChartSvg}, inlined as is (after sanitising); shown after `charts`. */
  varySvg?: string;
  /** Charts with captions, e.g. from {@link reportCharts}, in the order shown. */
  charts?: ReportChart[];
  /**
   * Page maps ({@link pageMapSvg}) with a caption each; maps with the same `group` (e.g. a
   * variant) are shown together under it.
   */
  pageMaps?: Array<{ label: string; svg: string; group?: string }>;
  /** Cost parameters in effect, with sources and confidence. */
  costs?: CostRow[];
  /** The plugins the runs were built from, with their resolved options. */
  machines?: MachineRow[];
  /** How the report was made: vhw and Node.js versions and the command line. */
  provenance?: { vhw: string; node: string; command: string[]; cwd: string };
  /** Sentences shown under the heading (e.g. a partial merge's missing points). */
  notes?: string[];
}

/** A chart of the report, also written as its own SVG file in the result set. */
export interface ReportChart {
  /** File name in the result set, e.g. `chart.svg`. */
  file: string;
  /** What the chart shows, as a sentence. */
  caption: string;
  svg: string;
}

/**
 * The charts of a result set, each one its own SVG file and a figure of the report: the
 * speed-up of every combination (`chart.svg`), with one `--vary` dimension the speed-up against
 * it (`vary.svg`), with two the heat map of the grid (`heatmap.svg`).
 *
 * @param results - the rows of the set.
 * @returns the charts in report order.
 * @example
 * for (const c of await reportCharts(rows)) fs.writeFileSync(c.file, c.svg);
 */
export async function reportCharts(results: RunResult[]): Promise<ReportChart[]> {
  const charts: ReportChart[] = [
    {
      file: 'chart.svg',
      caption: 'Speed-up vs no patch, per patch combination and variant.',
      svg: await sweepChartSvg(results, { measure: 'speedup' }),
    },
  ];
  const dims = Math.max(0, ...results.map((r) => varyOf(r).length));
  if (results.some((r) => varyOf(r).length === 1)) {
    charts.unshift({
      file: 'vary.svg',
      caption: 'Speed-up of all three patches against the varied parameter; equal lines are drawn once and named together.',
      svg: await varyChartSvg(results),
    });
  }
  if (dims >= 2) {
    charts.unshift({
      file: 'heatmap.svg',
      caption: 'Speed-up of all three patches over the two varied parameters.',
      svg: await heatMapSvg(results),
    });
  }
  // A register-loop workload's all/none against the varied cost, with the cover letter's figure.
  if (results.some((r) => varyOf(r).length === 1) && results.some((r) => r.workload.unit === MMIO_ACCESS_UNIT)) {
    charts.push({
      file: 'ratio.svg',
      caption:
        'All three patches over none, in MMIO accesses per second, against the varied cost; the dashed line is the cover letter\'s "almost 2x".',
      svg: await ratioChartSvg(results),
    });
  }
  return charts;
}

/** One plugin instance of the runs' machines, as listed in the report. */
export interface MachineRow {
  instance: string;
  plugin: string;
  kind: string;
  /** The resolved options, as JSON. */
  options: string;
  /** How many runs were built with this plugin and these options. */
  runs: number;
}

const CSS = `
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1400px; padding: 0 16px; color: #1b1b1b; background: #fff; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
h3 { font-size: 1.05em; margin: 1.2em 0 0.4em; }
p.meta { color: #555; margin-top: 0; }
p.note { color: #c0392b; font-weight: bold; }
section.summary { background: #f5f8fc; border-left: 4px solid #4c78a8; padding: 0.6em 1em; margin: 1em 0; }
section.summary p.headline { font-size: 1.2em; font-weight: bold; margin: 0.2em 0 0.5em; }
section.summary ul { margin: 0.3em 0; padding-left: 1.3em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #d0d0d0; padding: 3px 8px; vertical-align: top; }
th { background: #f0f0f0; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.flag { text-align: center; }
td.on { color: #2f7a2b; font-weight: bold; }
td.off { color: #aaa; }
td.up { color: #2f7a2b; font-weight: bold; }
td.down { color: #c0392b; font-weight: bold; }
tr.group-start td { border-top: 2px solid #888; }
details { margin: 0.6em 0; }
details > summary { cursor: pointer; font-weight: bold; padding: 0.2em 0; }
figure { margin: 1em 0 1.6em; overflow-x: auto; }
figcaption { margin-bottom: 0.4em; color: #333; }
figcaption .file { color: #777; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.9em; }
/* Charts are drawn at their reading size: scroll sideways rather than shrink the labels. */
figure svg { display: block; max-width: none; height: auto; }
.empty { color: #777; font-style: italic; }
footer { margin-top: 3em; color: #888; font-size: 0.8em; }
@media print {
  @page { margin: 12mm; }
  body { max-width: none; margin: 0; padding: 0; font-size: 10pt; }
  section.summary { background: none; }
  figure { overflow: visible; break-inside: avoid; }
  figure svg { max-width: 100%; }
  h2, h3 { break-after: avoid; }
  tr { break-inside: avoid; }
  details > summary { list-style: none; }
}
`.trim();

/**
 * Makes an SVG string safe and self-consistent to inline in HTML: drops an XML declaration or
 * DOCTYPE, removes `<script>` and `<foreignObject>` elements and `on*=` event attributes, and
 * prefixes every `id` (and the `url(#…)`/`href="#…"` references to it) with `prefix` so that
 * several inlined SVGs (e.g. vega charts that all number their clip paths from 1) cannot clash.
 *
 * @param svg - SVG document text.
 * @param prefix - the id prefix, unique within the page.
 * @returns the SVG element text, or an escaped `<pre>` when the input is not an SVG document.
 * @example
 * inlineSvg(await sweepChartSvg(results), 'sweep');
 */
export function inlineSvg(svg: string, prefix: string): string {
  let s = svg
    .trim()
    .replace(/^<\?xml[^>]*\?>\s*/i, '')
    .replace(/^<!DOCTYPE[^>]*>\s*/i, '');
  if (!/^<svg[\s>]/i.test(s)) return `<pre class="empty">${escapeXml(svg)}</pre>`;
  s = s
    .replace(/<script\b[\s\S]*?<\/script\s*>/gi, '')
    .replace(/<script\b[^>]*\/>/gi, '')
    .replace(/<foreignObject\b[\s\S]*?<\/foreignObject\s*>/gi, '')
    .replace(/\s+on[a-z]+\s*=\s*("[^"]*"|'[^']*')/gi, '');
  const p = prefix.replace(/[^A-Za-z0-9_-]/g, '_');
  s = s
    .replace(/\bid="([^"]+)"/g, (_m, id: string) => `id="${p}-${id}"`)
    .replace(/url\(#([^)]+)\)/g, (_m, id: string) => `url(#${p}-${id})`)
    .replace(/\b((?:xlink:)?href)="#([^"]+)"/g, (_m, attr: string, id: string) => `${attr}="#${p}-${id}"`);
  return s;
}

function td(text: string, cls?: string): string {
  return cls ? `<td class="${cls}">${escapeXml(text)}</td>` : `<td>${escapeXml(text)}</td>`;
}

function th(text: string): string {
  return `<th>${escapeXml(text)}</th>`;
}

function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return new Intl.NumberFormat('en-US', { maximumSignificantDigits: 8 }).format(v);
}

/** The sweep table as HTML: same rows, order and speed-ups as {@link sweepTable}. */
function sweepHtml(results: RunResult[]): string {
  if (results.length === 0) return `<p class="empty">No results.</p>`;
  const speedups = speedupsVsNone(results);
  const showPlatform = new Set(results.map((r) => `${r.platform.name}/${r.platform.pageSize}/${r.platform.eeh}`)).size > 1;
  const varyFields = [...new Set(results.flatMap((r) => varyOf(r).map((v) => v.field)))];
  // As in the terminal table: a relocation column when some run relocated MSI-X, the unit of a register loop.
  const showRelocation = results.some((r) => relocationOf(r) !== 'off');
  const units = new Set(results.map((r) => r.workload.unit ?? 'ops'));
  const head = ['scenario'];
  if (showPlatform) head.push('platform');
  head.push('variant');
  if (showRelocation) head.push('msix reloc');
  head.push(...varyFields);
  for (const p of PATCHES) head.push(`${p.short} ${p.id}`);
  head.push(
    `simulated ${units.size === 1 ? [...units][0] : 'ops'}/s`,
    'speed-up vs none',
    'direct MMIO',
    'trapped MMIO',
    'dominant trap',
    'violations',
  );

  const rows: string[] = [];
  let prevGroup = '';
  for (const i of displayOrder(results)) {
    const r = results[i]!;
    const group = groupKey(r);
    const cells: string[] = [td(r.scenario)];
    if (showPlatform) cells.push(td(`${r.platform.name} ${formatBytes(r.platform.pageSize)}${r.platform.eeh ? ' EEH' : ''}`));
    cells.push(td(r.variant));
    if (showRelocation) cells.push(td(relocationOf(r)));
    for (const f of varyFields) {
      const v = varyOf(r).find((e) => e.field === f);
      cells.push(td(v ? String(v.value) : '', 'num'));
    }
    for (const p of PATCHES) cells.push(r.patches[p.key] ? td('✓', 'flag on') : td('·', 'flag off'));
    const s = speedups[i];
    cells.push(
      td(formatInt(r.workload.opsPerSecond), 'num'),
      td(formatSpeedup(s), s === undefined ? 'num' : s > 1.005 ? 'num up' : s < 0.995 ? 'num down' : 'num'),
      td(formatInt(r.mmio.direct), 'num'),
      td(formatInt(r.mmio.trapped), 'num'),
      td(dominantReason(r.mmio.trapsByReason) ?? '-'),
      td(formatInt(r.isolation.violations), r.isolation.violations > 0 ? 'num down' : 'num'),
    );
    const cls = rows.length > 0 && group !== prevGroup ? ' class="group-start"' : '';
    prevGroup = group;
    rows.push(`<tr${cls}>${cells.join('')}</tr>`);
  }
  return `<table class="sweep"><thead><tr>${head.map(th).join('')}</tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table>`;
}

/** The MSI-X relocation a row's VMM applied (`off` for rows that predate the field). */
function relocationOf(r: RunResult): string {
  return r.relocation ?? 'off';
}

/** Traps by reason per run, one column per reason found in any run. */
function trapsHtml(results: RunResult[]): string {
  const reasons = [...new Set(results.flatMap((r) => Object.keys(r.mmio.trapsByReason)))].sort();
  if (reasons.length === 0) return '';
  const showRelocation = results.some((r) => relocationOf(r) !== 'off');
  const rows = displayOrder(results).map((i) => {
    const r = results[i]!;
    const patches =
      PATCHES.filter((p) => r.patches[p.key])
        .map((p) => p.short)
        .join('+') || 'none';
    const vary = varyText(r) ? ` ${varyText(r)}` : '';
    const reloc = showRelocation ? td(relocationOf(r)) : '';
    return `<tr>${td(`${r.scenario}${vary}`)}${td(r.variant)}${reloc}${td(patches)}${reasons.map((k) => td(formatInt(r.mmio.trapsByReason[k] ?? 0), 'num')).join('')}</tr>`;
  });
  return (
    `<table class="traps"><thead><tr>${th('scenario')}${th('variant')}${showRelocation ? th('msix reloc') : ''}${th('patches')}${reasons.map(th).join('')}</tr></thead><tbody>\n` +
    `${rows.join('\n')}\n</tbody></table>`
  );
}

function costsHtml(costs: CostRow[]): string {
  const rows = costs.map((c) => {
    const value = c.max !== undefined ? `${formatValue(c.value)} .. ${formatValue(c.max)}` : formatValue(c.value);
    return `<tr>${td(c.name)}${td(value, 'num')}${td(c.unit)}${td(c.source)}${td(c.confidence)}</tr>`;
  });
  return (
    `<table class="costs"><thead><tr>${['parameter', 'value', 'unit', 'source', 'confidence'].map(th).join('')}</tr></thead><tbody>\n` +
    `${rows.join('\n')}\n</tbody></table>`
  );
}

function machinesHtml(machines: MachineRow[]): string {
  const rows = machines.map(
    (m) =>
      `<tr>${td(m.instance)}${td(m.plugin)}${td(m.kind)}<td><code>${escapeXml(m.options)}</code></td>${td(String(m.runs), 'num')}</tr>`,
  );
  return (
    `<table class="machines"><thead><tr>${['instance', 'plugin', 'kind', 'options', 'runs'].map(th).join('')}</tr></thead><tbody>\n` +
    `${rows.join('\n')}\n</tbody></table>`
  );
}

function provenanceHtml(p: NonNullable<HtmlReportInput['provenance']>): string {
  return (
    `<table class="provenance"><tbody>\n<tr>${th('vhw')}${td(p.vhw)}</tr>\n<tr>${th('Node.js')}${td(p.node)}</tr>\n` +
    `<tr>${th('command')}<td><code>${escapeXml(['vhw', ...p.command].join(' '))}</code></td></tr>\n<tr>${th('directory')}${td(p.cwd)}</tr>\n</tbody></table>`
  );
}

/** The runs of one scenario on one platform: what a summary sentence speaks of. */
function scenarioGroups(results: readonly RunResult[]): Map<string, number[]> {
  const groups = new Map<string, number[]>();
  const platforms = new Set(results.map((r) => `${r.platform.name}/${r.platform.pageSize}/${r.platform.eeh}`));
  results.forEach((r, i) => {
    const k = platforms.size > 1 ? `${r.scenario} (${r.platform.name}, ${formatBytes(r.platform.pageSize)} pages)` : r.scenario;
    if (!groups.has(k)) groups.set(k, []);
    groups.get(k)!.push(i);
  });
  return groups;
}

const ALL = 'P1+P2+P3';

/** `1.83x` for one value, `1.27x (x=20000) to 4.71x (x=0)` for a range over vary points. */
function speedupRange(points: ReadonlyArray<{ s: number; at: string }>): string {
  const lo = points.reduce((a, b) => (b.s < a.s ? b : a));
  const hi = points.reduce((a, b) => (b.s > a.s ? b : a));
  if (formatSpeedup(lo.s) === formatSpeedup(hi.s)) return formatSpeedup(hi.s);
  return `${formatSpeedup(lo.s)}${lo.at ? ` (${lo.at})` : ''} to ${formatSpeedup(hi.s)}${hi.at ? ` (${hi.at})` : ''}`;
}

/**
 * What the numbers say, computed from the rows: per scenario the speed-up of all three patches
 * vs none (a range over `--vary` points) and what became of the traps, the best partial
 * combination, and the combinations where the variants differ.
 *
 * @param results - run results.
 * @returns the headline (the first scenario's all-patches result) and further sentences; an
 *   empty headline when no run has a `none` baseline.
 * @example
 * reportSummary(rows).headline; // 'ppc64-mixed, all three patches: 1.83x vs none, every trap gone (10,750 → 0).'
 */
export function reportSummary(results: readonly RunResult[]): { headline: string; points: string[] } {
  const speedups = speedupsVsNone(results);
  const lines: string[] = [];
  const headlines: string[] = [];
  for (const [name, idx] of scenarioGroups(results)) {
    const runs = idx.map((i) => ({ r: results[i]!, s: speedups[i], combo: patchShortLabel(results[i]!.patches) }));
    const variants = [...new Set(runs.map((x) => x.r.variant))];
    const all = runs.filter((x) => x.combo === ALL && x.s !== undefined).map((x) => ({ ...x, s: x.s!, at: varyText(x.r) }));
    if (all.length === 0) continue;
    const byVariant = variants.map((v) => ({ v, points: all.filter((x) => x.r.variant === v) })).filter((x) => x.points.length > 0);
    const texts = byVariant.map((x) => ({ v: x.v, text: speedupRange(x.points) }));
    const same = new Set(texts.map((t) => t.text)).size === 1;
    const speed = same
      ? `${texts[0]!.text} vs none${variants.length > 1 ? ` (${variants.join(' and ')} alike)` : ''}`
      : `${texts.map((t) => `${t.text} (${t.v})`).join(', ')} vs none`;
    // Traps per run (the most of any run), not summed over variants and vary points.
    const trappedNone = Math.max(0, ...runs.filter((x) => x.combo === 'none').map((x) => x.r.mmio.trapped));
    const trappedAll = Math.max(0, ...all.map((x) => x.r.mmio.trapped));
    const left = all.map((x) => dominantReason(x.r.mmio.trapsByReason)).filter((x): x is string => x !== undefined);
    const traps =
      trappedAll === 0 && trappedNone > 0
        ? `every trap gone (${formatInt(trappedNone)} → 0)`
        : trappedAll === 0
          ? 'no trap with or without the patches'
          : `traps ${formatInt(trappedNone)} → ${formatInt(trappedAll)}${left.length > 0 ? ` (left: ${[...new Set(left)].join(', ')})` : ''}`;
    headlines.push(`${name}, all three patches: ${speed}, ${traps}.`);
    // A register loop is the cover letter's own measurement: say what it reported beside it.
    if (runs.every((x) => x.r.workload.unit === MMIO_ACCESS_UNIT)) {
      lines.push(
        `${name}: in MMIO accesses per simulated second; the cover letter reports "almost 100% improvement" (about 2x) for MMIO accesses.`,
      );
    }

    // The best partial combination per variant, and where the variants part, without vary points only.
    const flat = runs.filter((x) => x.s !== undefined && varyOf(x.r).length === 0);
    const partial = flat.filter((x) => x.combo !== 'none' && x.combo !== ALL);
    if (partial.length > 0) {
      const best = variants
        .map((v) =>
          partial
            .filter((x) => x.r.variant === v)
            .reduce<(typeof partial)[number] | undefined>((a, b) => (!a || b.s! > a.s! ? b : a), undefined),
        )
        .filter((x): x is (typeof partial)[number] => x !== undefined);
      const bestText = best.map((b) => `${formatSpeedup(b.s)} with ${b.combo}${variants.length > 1 ? ` (${b.r.variant})` : ''}`);
      lines.push(`${name}: fewer than three patches reach at most ${[...new Set(bestText)].join(', ')}.`);
    }
    if (variants.length === 2) {
      const differ = [...new Set(flat.map((x) => x.combo))].flatMap((combo) => {
        const [a, b] = variants.map((v) => flat.find((x) => x.combo === combo && x.r.variant === v));
        if (!a || !b || formatSpeedup(a.s) === formatSpeedup(b.s)) return [];
        return [`${combo} ${formatSpeedup(a.s)} (${variants[0]}) vs ${formatSpeedup(b.s)} (${variants[1]})`];
      });
      if (differ.length > 0) lines.push(`${name}: the variants differ on ${differ.join('; ')}.`);
      else if (flat.length > 0) lines.push(`${name}: ${variants.join(' and ')} give the same speed-up for every combination.`);
    }
  }
  return { headline: headlines[0] ?? '', points: [...headlines.slice(1), ...lines] };
}

function summaryHtml(results: readonly RunResult[]): string {
  const { headline, points } = reportSummary(results);
  if (!headline) return '';
  const items = points.map((p) => `<li>${escapeXml(p)}</li>`).join('\n');
  return (
    `<section class="summary">\n<h2>Summary</h2>\n<p class="headline">${escapeXml(headline)}</p>\n` +
    `${items ? `<ul>\n${items}\n</ul>\n` : ''}</section>`
  );
}

/** A table, collapsible when it is long; open when short enough to read at a glance. */
function collapsible(summary: string, body: string, rows: number): string {
  return `<details class="table"${rows <= 24 ? ' open' : ''}><summary>${escapeXml(summary)}</summary>\n${body}\n</details>`;
}

/**
 * Builds one self-contained HTML page for a reader: a heading and what was run, the summary
 * ({@link reportSummary}), the charts (each captioned with the SVG file that holds it), the page
 * maps (grouped, e.g. by variant), the sweep table (rows, order and speed-ups as in
 * {@link sweepTable}) and the traps by reason (collapsible when long), then the machines,
 * the cost parameters with their sources and confidence, and the provenance. CSS is inline
 * (with a print style); the SVGs are inlined through {@link inlineSvg} (scripts and event
 * attributes removed, ids prefixed); there is no script and no reference to a network
 * resource. All text from the input is escaped. The output depends only on the input (no
 * date), so reports can be diffed.
 *
 * @param input - title, results and the optional parts ({@link HtmlReportInput}).
 * @returns the HTML document text.
 * @example
 * const html = htmlReport({ title: 'vhw sweep', results, charts: await reportCharts(results) });
 * fs.writeFileSync('report.html', html);
 */
export function htmlReport(input: HtmlReportInput): string {
  const { title, results } = input;
  const scenarios = [...new Set(results.map((r) => r.scenario))];
  const variants = [...new Set(results.map((r) => r.variant))];
  const platforms = [
    ...new Set(results.map((r) => `${r.platform.name} (${formatBytes(r.platform.pageSize)} pages, EEH ${r.platform.eeh ? 'on' : 'off'})`)),
  ];
  const meta =
    `${results.length} run(s); scenarios: ${scenarios.join(', ') || '-'}; variants: ${variants.join(', ') || '-'}; ` +
    `platforms: ${platforms.join(', ') || '-'}. Speed-up compares each run with the run without any patch ` +
    `of the same scenario, platform, variant and vary point. Times are simulated from the cost parameters at the end.`;
  const parts: string[] = [];
  parts.push(`<h1>${escapeXml(title)}</h1>`);
  parts.push(`<p class="meta">${escapeXml(meta)}</p>`);
  for (const n of input.notes ?? []) parts.push(`<p class="note">${escapeXml(n)}</p>`);
  const summary = summaryHtml(results);
  if (summary) parts.push(summary);

  const charts: Array<{ caption: string; file?: string; svg: string; cls: string }> = [
    ...(input.charts ?? []).map((c) => ({ ...c, cls: c.file.replace(/\.svg$/, '') })),
    ...(input.sweepSvg ? [{ caption: 'Speed-up vs no patch, per patch combination and variant.', svg: input.sweepSvg, cls: 'sweep' }] : []),
    ...(input.varySvg ? [{ caption: 'Speed-up against the varied parameter.', svg: input.varySvg, cls: 'vary' }] : []),
  ];
  if (charts.length > 0) {
    parts.push(`<h2>Charts</h2>`);
    charts.forEach((c, i) => {
      const file = c.file ? ` <span class="file">(${escapeXml(c.file)})</span>` : '';
      parts.push(
        `<figure class="chart ${escapeXml(c.cls)}"><figcaption>${escapeXml(c.caption)}${file}</figcaption>${inlineSvg(c.svg, `chart${i}`)}</figure>`,
      );
    });
  }
  if (input.pageMaps && input.pageMaps.length > 0) {
    parts.push(`<h2>Page maps</h2>`);
    parts.push(
      `<p class="meta">The host pages behind the passed-through BARs for each patch combination: which BAR sits in which page, ` +
        `which parts the guest reaches directly and which trap, and where the MSI-X table and PBA lie.</p>`,
    );
    const groups = [...new Set(input.pageMaps.map((m) => m.group ?? ''))];
    let n = 0;
    for (const g of groups) {
      const maps = input.pageMaps.filter((m) => (m.group ?? '') === g);
      const figures = maps.map(
        (m) => `<figure class="page-map"><figcaption>${escapeXml(m.label)}</figcaption>${inlineSvg(m.svg, `map${n++}`)}</figure>`,
      );
      parts.push(
        g ? `<details class="maps" open><summary>${escapeXml(g)}</summary>\n${figures.join('\n')}\n</details>` : figures.join('\n'),
      );
    }
  }
  parts.push(`<h2>Tables</h2>`);
  parts.push(collapsible(`Sweep: ${results.length} run(s)`, sweepHtml(results), results.length));
  const traps = trapsHtml(results);
  if (traps) parts.push(collapsible('Traps by reason', traps, results.length));
  if (input.machines && input.machines.length > 0) {
    parts.push(`<h2>Machines</h2>`);
    parts.push(machinesHtml(input.machines));
  }
  if (input.provenance) {
    parts.push(`<h2>Provenance</h2>`);
    parts.push(provenanceHtml(input.provenance));
  }
  // The cost parameters and their sources last, as a paper's references.
  if (input.costs && input.costs.length > 0) {
    parts.push(`<h2>Cost parameters</h2>`);
    parts.push(costsHtml(input.costs));
  }
  parts.push(`<footer>Generated by vhw. Times are simulated from the cost parameters above, not measured.</footer>`);

  return (
    `<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">\n` +
    `<title>${escapeXml(title)}</title>\n<style>\n${CSS}\n</style>\n</head>\n<body>\n` +
    `${parts.join('\n')}\n</body>\n</html>\n`
  );
}
