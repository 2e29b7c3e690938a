/**
 * The all-vs-none ratio of a `--vary` sweep against the varied parameter, with a
 * horizontal reference line: how the cover letter's "almost 2x" for MMIO accesses
 * compares with what each value of an exit cost gives (the `ppc64-mmio` workload).
 */
import { patchShortLabel } from '@vhw/core';
import type { RunResult } from '@vhw/experiment';
import type { TopLevelSpec } from 'vega-lite';
import { CHART_CONFIG, DASHES, PALETTE, SHAPES, isLogSpaced, renderVegaLiteSvg } from './charts.js';
import { escapeXml } from './format.js';

/** Options of {@link ratioChartSvg}. */
export interface RatioChartOptions {
  /** Where the reference line is drawn (default 2: the cover letter's "almost 100% improvement"). */
  reference?: number;
  /** The reference line's label. */
  referenceLabel?: string;
  /** Chart title. Default: `all / none against <field>`. */
  title?: string;
}

/** The first varied field and its value of a row (a `vary` record, or the list a grid row carries). */
function varyPoint(r: RunResult): { field: string; value: number } | undefined {
  const v: unknown = r.vary;
  const first: unknown = Array.isArray(v) ? v[0] : v;
  if (typeof first !== 'object' || first === null) return undefined;
  const { field, value } = first as { field?: unknown; value?: unknown };
  return typeof field === 'string' && typeof value === 'number' ? { field, value } : undefined;
}

/** Lines with the same points drawn once, named together (`a = b`), so that no line hides another. */
function mergeEqualLines<T extends { x: number; ratio: number; line: string }>(values: readonly T[]): T[] {
  const byLine = new Map<string, T[]>();
  for (const v of values) byLine.set(v.line, [...(byLine.get(v.line) ?? []), v]);
  const bySignature = new Map<string, string[]>();
  for (const [line, points] of byLine) {
    const signature = points.map((p) => `${p.x}:${p.ratio.toPrecision(9)}`).join('|');
    bySignature.set(signature, [...(bySignature.get(signature) ?? []), line]);
  }
  const out: T[] = [];
  for (const same of bySignature.values()) {
    const name = same.join(' = ');
    for (const p of byLine.get(same[0]!)!) out.push({ ...p, line: name });
  }
  return out.sort((a, b) => a.x - b.x);
}

/**
 * Renders all/none (ops/s with P1+P2+P3 over ops/s with no patch, same scenario, variant and
 * vary point) against the varied parameter, one line per scenario and variant (equal lines
 * drawn once and named together), with a dashed horizontal line at `reference`; log-spaced
 * points get a log axis, and a single line no legend.
 * @param results - the rows of a `--vary` sweep (with the `none` and `P1+P2+P3` combinations)
 * @param opts - reference value, label and title
 * @returns the SVG text; a short SVG saying so when there is nothing to plot
 * @example
 * const svg = await ratioChartSvg(rows, { reference: 2 });
 */
export async function ratioChartSvg(results: readonly RunResult[], opts: RatioChartOptions = {}): Promise<string> {
  const reference = opts.reference ?? 2;
  const label = opts.referenceLabel ?? `cover letter: "almost 100% improvement" (${reference}x)`;
  const none = new Map<string, number>();
  const all: Array<{ key: string; x: number; line: string; field: string; ops: number }> = [];
  for (const r of results) {
    const p = varyPoint(r);
    if (!p) continue;
    const key = `${r.scenario}|${r.platform.name}|${r.variant}|${p.field}|${p.value}`;
    const combo = patchShortLabel(r.patches);
    if (combo === 'none') none.set(key, r.workload.opsPerSecond);
    else if (combo === 'P1+P2+P3')
      all.push({ key, x: p.value, line: `${r.scenario} ${r.variant}`, field: p.field, ops: r.workload.opsPerSecond });
  }
  const values = all
    .filter((a) => (none.get(a.key) ?? 0) > 0)
    .map((a) => ({ x: a.x, ratio: a.ops / none.get(a.key)!, line: a.line }))
    .sort((a, b) => a.x - b.x);
  const field = [...new Set(all.map((a) => a.field))].join(' / ') || 'vary';
  const title = opts.title ?? `all / none against ${field}`;
  if (values.length === 0) {
    return (
      `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="420" height="60" viewBox="0 0 420 60">` +
      `<rect width="420" height="60" fill="white"/><text x="10" y="34" font-family="sans-serif" font-size="12">` +
      `${escapeXml(title)}: no --vary rows with both none and P1+P2+P3</text></svg>`
    );
  }
  const merged = mergeEqualLines(values);
  const lines = [...new Set(merged.map((v) => v.line))];
  // Log-spaced points (`--vary ... --log`) on a log axis, as in vary.svg.
  const logX = isLogSpaced([...new Set(merged.map((v) => v.x))]);
  // One line needs no legend: its name goes in the subtitle. Several get colour, dash and marker.
  const bySeries = (range: readonly unknown[]) => ({
    field: 'line',
    type: 'nominal',
    title: null,
    scale: { domain: lines, range: lines.map((_, i) => range[i % range.length]) },
    ...(lines.length === 1 ? { legend: null } : {}),
  });
  const subtitle = [...(lines.length === 1 ? [lines[0]!] : []), ...(logX ? ['log-spaced points, logarithmic x axis'] : [])].join('; ');
  const spec = {
    title: subtitle ? { text: title, subtitle } : title,
    background: 'white',
    padding: 12,
    width: 640,
    height: 340,
    config: CHART_CONFIG,
    data: { values: merged },
    layer: [
      {
        mark: { type: 'line', point: { filled: true, size: 70 }, strokeWidth: 2.5 },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: field, scale: { zero: false, ...(logX ? { type: 'log', nice: false } : {}) } },
          y: { field: 'ratio', type: 'quantitative', title: 'all / none (MMIO accesses/s)', scale: { zero: true } },
          color: bySeries(PALETTE),
          strokeDash: bySeries(DASHES),
          shape: bySeries(SHAPES),
        },
      },
      { mark: { type: 'rule', strokeDash: [6, 4], color: '#e45756', strokeWidth: 2 }, encoding: { y: { datum: reference } } },
      {
        mark: { type: 'text', align: 'left', dx: 4, dy: -8, color: '#c0392b', fontSize: 12 },
        encoding: { y: { datum: reference }, x: { aggregate: 'min', field: 'x', type: 'quantitative' }, text: { value: label } },
      },
    ],
  };
  return renderVegaLiteSvg(spec as unknown as TopLevelSpec);
}
