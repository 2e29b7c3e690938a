/**
 * A self-contained HTML report: sweep table, charts, page maps and cost parameters in one file
 * with inline CSS and inline SVG, and no script or external resource.
 */
import { PATCHES } from '@vhw/core';
import type { RunResult } from '@vhw/experiment';
import { displayOrder, dominantReason, escapeXml, formatBytes, formatInt, formatSpeedup, groupKey, speedupsVsNone } from './format.js';

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
  /** SVG of {@link sweepChartSvg}, inlined as is (after sanitising). */
  sweepSvg?: string;
  /** SVG of {@link varyChartSvg}, inlined as is (after sanitising). */
  varySvg?: string;
  /** Page maps ({@link pageMapSvg}) with a caption each. */
  pageMaps?: Array<{ label: string; svg: string }>;
  /** Cost parameters in effect, with sources and confidence. */
  costs?: CostRow[];
  /** The plugins the runs were built from, with their resolved options. */
  machines?: MachineRow[];
  /** How the report was made: vhw and Node.js versions and the command line. */
  provenance?: { vhw: string; node: string; command: string[]; cwd: string };
  /** Sentences shown under the heading (e.g. a partial merge's missing points). */
  notes?: string[];
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
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1200px; padding: 0 16px; color: #1b1b1b; background: #fff; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 1.8em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
p.meta { color: #555; margin-top: 0; }
p.note { color: #c0392b; font-weight: bold; }
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
figure { margin: 1em 0; overflow-x: auto; }
figcaption { font-weight: bold; margin-bottom: 0.3em; }
figure svg { max-width: 100%; height: auto; }
.empty { color: #777; font-style: italic; }
footer { margin-top: 3em; color: #888; font-size: 0.8em; }
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
  const varyFields = [...new Set(results.flatMap((r) => (r.vary ?? []).map((v) => v.field)))];
  const head = ['scenario'];
  if (showPlatform) head.push('platform');
  head.push('variant');
  if (varyFields.length > 0) head.push(varyFields.length === 1 ? varyFields[0]! : 'vary');
  for (const p of PATCHES) head.push(`${p.short} ${p.id}`);
  head.push('simulated ops/s', 'speed-up vs none', 'direct MMIO', 'trapped MMIO', 'dominant trap', 'violations');

  const rows: string[] = [];
  let prevGroup = '';
  for (const i of displayOrder(results)) {
    const r = results[i]!;
    const group = groupKey(r);
    const cells: string[] = [td(r.scenario)];
    if (showPlatform) cells.push(td(`${r.platform.name} ${formatBytes(r.platform.pageSize)}${r.platform.eeh ? ' EEH' : ''}`));
    cells.push(td(r.variant));
    if (varyFields.length > 0) {
      cells.push(td((r.vary ?? []).map((v) => (varyFields.length === 1 ? String(v.value) : `${v.field}=${v.value}`)).join(' '), 'num'));
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

/** Traps by reason per run, one column per reason found in any run. */
function trapsHtml(results: RunResult[]): string {
  const reasons = [...new Set(results.flatMap((r) => Object.keys(r.mmio.trapsByReason)))].sort();
  if (reasons.length === 0) return '';
  const rows = displayOrder(results).map((i) => {
    const r = results[i]!;
    const patches =
      PATCHES.filter((p) => r.patches[p.key])
        .map((p) => p.short)
        .join('+') || 'none';
    const vary = (r.vary ?? []).map((v) => ` ${v.field}=${v.value}`).join('');
    return `<tr>${td(`${r.scenario}${vary}`)}${td(r.variant)}${td(patches)}${reasons.map((k) => td(formatInt(r.mmio.trapsByReason[k] ?? 0), 'num')).join('')}</tr>`;
  });
  return (
    `<h2>Traps by reason</h2>\n<table class="traps"><thead><tr>${th('scenario')}${th('variant')}${th('patches')}${reasons.map(th).join('')}</tr></thead><tbody>\n` +
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

/**
 * Builds one self-contained HTML page: a heading with a summary line, the sweep table (rows,
 * order and speed-ups as in {@link sweepTable}), a traps-by-reason table, the charts, the page
 * maps and the cost-parameter table with sources and confidence. CSS is inline; the SVGs are
 * inlined through {@link inlineSvg} (scripts and event attributes removed, ids prefixed); there is
 * no script and no reference to a network resource. All text from the input is escaped. The
 * output depends only on the input (no date), so reports can be diffed.
 *
 * @param input - title, results and the optional parts ({@link HtmlReportInput}).
 * @returns the HTML document text.
 * @example
 * const html = htmlReport({ title: 'vhw sweep', results, sweepSvg: await sweepChartSvg(results) });
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
    `of the same scenario, platform, variant and vary point.`;
  const parts: string[] = [];
  parts.push(`<h1>${escapeXml(title)}</h1>`);
  parts.push(`<p class="meta">${escapeXml(meta)}</p>`);
  for (const n of input.notes ?? []) parts.push(`<p class="note">${escapeXml(n)}</p>`);
  parts.push(`<h2>Sweep</h2>`);
  parts.push(sweepHtml(results));
  const traps = trapsHtml(results);
  if (traps) parts.push(traps);

  if (input.sweepSvg || input.varySvg) {
    parts.push(`<h2>Charts</h2>`);
    if (input.sweepSvg) parts.push(`<figure class="chart sweep">${inlineSvg(input.sweepSvg, 'sweep')}</figure>`);
    if (input.varySvg) parts.push(`<figure class="chart vary">${inlineSvg(input.varySvg, 'vary')}</figure>`);
  }
  if (input.pageMaps && input.pageMaps.length > 0) {
    parts.push(`<h2>Page maps</h2>`);
    input.pageMaps.forEach((m, i) => {
      parts.push(`<figure class="page-map"><figcaption>${escapeXml(m.label)}</figcaption>${inlineSvg(m.svg, `map${i}`)}</figure>`);
    });
  }
  if (input.costs && input.costs.length > 0) {
    parts.push(`<h2>Cost parameters</h2>`);
    parts.push(costsHtml(input.costs));
  }
  if (input.machines && input.machines.length > 0) {
    parts.push(`<h2>Machines</h2>`);
    parts.push(machinesHtml(input.machines));
  }
  if (input.provenance) {
    parts.push(`<h2>Provenance</h2>`);
    parts.push(provenanceHtml(input.provenance));
  }
  parts.push(`<footer>Generated by vhw. Times are simulated from the cost parameters above, not measured.</footer>`);

  return (
    `<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">\n` +
    `<title>${escapeXml(title)}</title>\n<style>\n${CSS}\n</style>\n</head>\n<body>\n` +
    `${parts.join('\n')}\n</body>\n</html>\n`
  );
}
