/**
 * The all-vs-none ratio of a `--vary` sweep against the varied parameter, with a
 * horizontal reference line: how the cover letter's "almost 2x" for MMIO accesses
 * compares with what each value of an exit cost gives (the `ppc64-mmio` workload).
 */
import { patchShortLabel } from '@vhw/core';
import type { RunResult } from '@vhw/experiment';
import type { TopLevelSpec } from 'vega-lite';
import { renderVegaLiteSvg } from './charts.js';
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

/**
 * Renders all/none (ops/s with P1+P2+P3 over ops/s with no patch, same scenario, variant and
 * vary point) against the varied parameter, one line per scenario and variant, with a
 * dashed horizontal line at `reference`.
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
  const spec = {
    title,
    background: 'white',
    width: 420,
    height: 240,
    config: { font: 'sans-serif', view: { stroke: '#ddd' } },
    data: { values },
    layer: [
      {
        mark: { type: 'line', point: true },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: field, scale: { zero: false } },
          y: { field: 'ratio', type: 'quantitative', title: 'all / none (MMIO accesses/s)', scale: { zero: true } },
          color: { field: 'line', type: 'nominal', title: null },
        },
      },
      { mark: { type: 'rule', strokeDash: [6, 4], color: '#e45756' }, encoding: { y: { datum: reference } } },
      {
        mark: { type: 'text', align: 'left', dx: 4, dy: -6, color: '#e45756', fontSize: 11 },
        encoding: { y: { datum: reference }, x: { aggregate: 'min', field: 'x', type: 'quantitative' }, text: { value: label } },
      },
    ],
  };
  return renderVegaLiteSvg(spec as unknown as TopLevelSpec);
}
