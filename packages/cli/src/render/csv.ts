/**
 * CSV export of run results (RFC 4180).
 */
import { PATCHES } from '@vhw/core';
import type { RunResult } from '@vhw/experiment';
import { Reason } from '@vhw/vfio-pci';
import { MsixRelocationReason, PolicyReason, VmmReason } from '@vhw/vmm';
import { displayOrder, speedupsVsNone, varyFieldsOf, varyValueOf } from './format.js';

/** Prefix of the per-dimension `--vary` value columns, e.g. `vary:guest.ioStackNs`. */
export const VARY_COLUMN_PREFIX = 'vary:';

/** Prefix of the per-reason trap count columns, e.g. `traps:sub-page-bar`. */
export const TRAP_COLUMN_PREFIX = 'traps:';

/** The reasons that name a direct area, never a trap: they get no `traps:` column. */
const DIRECT_REASONS: ReadonlySet<string> = new Set([Reason.Mmap, VmmReason.MmapSubPage]);

/**
 * Every reason a trap can be counted under, sorted by name: the kernel's (vfio-pci `Reason`),
 * the VMM's (`VmmReason`) and core's `unmapped` (a guest access no BAR piece covers), less the
 * two that only name direct areas. The CSV has one `traps:` column for each, whichever occurred,
 * so that files of different sweeps have the same columns.
 */
export const TRAP_REASONS: readonly string[] = [
  ...Object.values(Reason),
  ...Object.values(VmmReason),
  ...Object.values(MsixRelocationReason),
  ...Object.values(PolicyReason),
  'unmapped',
]
  .filter((r) => !DIRECT_REASONS.has(r))
  .sort();

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
 * Serialises run results as CSV: a header line, then one line per run in the order of the
 * terminal table ({@link displayOrder}), every line ended by CRLF (RFC 4180). Columns:
 * `scenario, platform, pageSize, eeh, variant, alignBars, subPageMmap, msixMmap, ops,
 * simulatedNs, opsPerSecond, speedup, direct, trapped, violations`, then one `vary:<field>`
 * column per `--vary` dimension (in the order given; none without `--vary`), then one `traps:<reason>` column per reason of
 * {@link TRAP_REASONS} (0 where a run has none of it), then, sorted, a column for any other
 * reason a run reports (a plugin's own words; none of the built-in code makes one).
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
  const varyFields = varyFieldsOf(results);
  const known = new Set(TRAP_REASONS);
  const others = [...new Set(results.flatMap((r) => Object.keys(r.mmio.trapsByReason)))].filter((k) => !known.has(k)).sort();
  const reasons = [...TRAP_REASONS, ...others];
  const header = [
    'scenario',
    'platform',
    'pageSize',
    'eeh',
    'variant',
    'vmm',
    'msixRelocation',
    ...PATCHES.map((p) => p.key),
    'ops',
    'simulatedNs',
    'opsPerSecond',
    'speedup',
    'direct',
    'trapped',
    'violations',
    ...varyFields.map((f) => VARY_COLUMN_PREFIX + f),
    ...reasons.map((k) => TRAP_COLUMN_PREFIX + k),
  ];
  const lines = [header.map(csvField).join(',')];
  for (const i of displayOrder(results)) {
    const r = results[i]!;
    const s = speedups[i];
    const row: Array<string | number | boolean> = [
      r.scenario,
      r.platform.name,
      r.platform.pageSize,
      r.platform.eeh,
      r.variant,
      // Absent in files older than the knobs: what they ran with.
      r.vmm ?? 'qemu',
      r.relocation ?? 'off',
      ...PATCHES.map((p) => r.patches[p.key]),
      num(r.workload.ops),
      num(r.workload.simulatedNs),
      num(r.workload.opsPerSecond),
      s === undefined ? '' : String(Math.round(s * 1e4) / 1e4),
      num(r.mmio.direct),
      num(r.mmio.trapped),
      num(r.isolation.violations),
    ];
    for (const f of varyFields) {
      const v = varyValueOf(r, f);
      row.push(typeof v === 'number' ? num(v) : (v ?? ''));
    }
    for (const k of reasons) row.push(num(r.mmio.trapsByReason[k] ?? 0));
    lines.push(row.map(csvField).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

/**
 * The CSV text as a line for a printer that ends each line with `\n` (`console.log`, `Io.out`):
 * without its last `\n`, so that stdout gets exactly the bytes of {@link toCsv}, CRLF after
 * the last record and no blank line after it.
 *
 * @param csv - the text of {@link toCsv}.
 * @returns `csv` less its final line feed.
 * @example
 * io.out(csvAsPrintedLine(toCsv(results)));
 */
export function csvAsPrintedLine(csv: string): string {
  return csv.endsWith('\n') ? csv.slice(0, -1) : csv;
}
