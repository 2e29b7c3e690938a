/**
 * CSV export of run results (RFC 4180).
 */
import { PATCHES } from '@vhw/core';
import type { RunResult } from '@vhw/experiment';
import { speedupsVsNone } from './format.js';

/** Prefix of the per-reason trap count columns, e.g. `traps:sub-page-bar`. */
export const TRAP_COLUMN_PREFIX = 'traps:';

/**
 * Quotes one CSV field as RFC 4180 requires: a field containing a comma, a double quote, CR or
 * LF (or leading/trailing spaces) is wrapped in double quotes, with inner quotes doubled.
 *
 * @param v - the value; `undefined`/`null` become an empty field.
 * @returns the field text.
 * @example
 * csvField('a "b", c'); // '"a ""b"", c"'
 */
export function csvField(v: string | number | boolean | undefined | null): string {
  if (v === undefined || v === null) return '';
  const s = String(v);
  return /[",\r\n]|^\s|\s$/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function num(n: number | undefined): string {
  if (n === undefined || !Number.isFinite(n)) return '';
  return String(n);
}

/**
 * Serialises run results as CSV: a header line, then one line per run in input order, lines
 * ended by CRLF (RFC 4180). Columns: `scenario, platform, pageSize, eeh, variant, alignBars,
 * subPageMmap, msixMmap, ops, simulatedNs, opsPerSecond, speedup, direct, trapped, violations`,
 * then `varyField, varyValue` when any run has a vary point, then one `traps:<reason>` column
 * per trap reason found in any run (sorted by name; 0 where a run has none of it).
 *
 * `speedup` is `opsPerSecond` over that of the `none` run of the same scenario, platform, variant
 * and vary point, rounded to 4 decimals; empty when the group has no `none` run.
 *
 * @param results - run results.
 * @returns the CSV text (just the header line when `results` is empty).
 * @example
 * fs.writeFileSync('sweep.csv', toCsv(results));
 */
export function toCsv(results: RunResult[]): string {
  const speedups = speedupsVsNone(results);
  const hasVary = results.some((r) => r.vary);
  const reasons = [...new Set(results.flatMap((r) => Object.keys(r.mmio.trapsByReason)))].sort();
  const header = [
    'scenario',
    'platform',
    'pageSize',
    'eeh',
    'variant',
    ...PATCHES.map((p) => p.key),
    'ops',
    'simulatedNs',
    'opsPerSecond',
    'speedup',
    'direct',
    'trapped',
    'violations',
    ...(hasVary ? ['varyField', 'varyValue'] : []),
    ...reasons.map((k) => TRAP_COLUMN_PREFIX + k),
  ];
  const lines = [header.map(csvField).join(',')];
  results.forEach((r, i) => {
    const s = speedups[i];
    const row: Array<string | number | boolean> = [
      r.scenario,
      r.platform.name,
      r.platform.pageSize,
      r.platform.eeh,
      r.variant,
      ...PATCHES.map((p) => r.patches[p.key]),
      num(r.workload.ops),
      num(r.workload.simulatedNs),
      num(r.workload.opsPerSecond),
      s === undefined ? '' : String(Math.round(s * 1e4) / 1e4),
      num(r.mmio.direct),
      num(r.mmio.trapped),
      num(r.isolation.violations),
    ];
    if (hasVary) row.push(r.vary ? r.vary.field : '', r.vary ? num(r.vary.value) : '');
    for (const k of reasons) row.push(num(r.mmio.trapsByReason[k] ?? 0));
    lines.push(row.map(csvField).join(','));
  });
  return `${lines.join('\r\n')}\r\n`;
}
