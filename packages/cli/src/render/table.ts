/**
 * Terminal tables (cli-table3) for `vhw run` and `vhw sweep`.
 */
import { PATCHES, patchShortLabel } from '@vhw/core';
import Table from 'cli-table3';
import type { RunResult } from '@vhw/experiment';
import {
  displayOrder,
  dominantReason,
  formatBytes,
  formatInt,
  formatNs,
  formatSpeedup,
  speedupsVsNone,
  varyFieldsOf,
  varyOf,
  varyValueOf,
} from './format.js';

/** Options shared by the table renderers. */
export interface TableOptions {
  /**
   * Emit ANSI colour codes. Default: `process.stdout.isTTY === true` and `NO_COLOR` unset.
   * With `false` the output contains no escape sequence at all.
   */
  color?: boolean;
  /**
   * Use ASCII only: `+-|` borders and `on`/`off` for the patch columns instead of box-drawing
   * characters and `✓`/`·`. Default `false`.
   */
  ascii?: boolean;
}

const ANSI = { green: '\u001b[32m', red: '\u001b[31m', yellow: '\u001b[33m', bold: '\u001b[1m', reset: '\u001b[0m' };

const ASCII_CHARS = {
  top: '-',
  'top-mid': '+',
  'top-left': '+',
  'top-right': '+',
  bottom: '-',
  'bottom-mid': '+',
  'bottom-left': '+',
  'bottom-right': '+',
  left: '|',
  'left-mid': '+',
  mid: '-',
  'mid-mid': '+',
  right: '|',
  'right-mid': '+',
  middle: '|',
};

interface Resolved {
  color: boolean;
  ascii: boolean;
}

function resolve(opts?: TableOptions): Resolved {
  const color = opts?.color ?? (process.stdout.isTTY === true && !process.env.NO_COLOR);
  return { color, ascii: opts?.ascii ?? false };
}

function paint(o: Resolved, code: keyof typeof ANSI, s: string): string {
  return o.color ? `${ANSI[code]}${s}${ANSI.reset}` : s;
}

function newTable(o: Resolved, head: string[], extra: Partial<Table.TableConstructorOptions> = {}, compact = true): Table.Table {
  return new Table({
    head: head.map((h) => paint(o, 'bold', h)),
    style: { head: [], border: [], compact },
    ...(o.ascii ? { chars: ASCII_CHARS } : {}),
    ...extra,
  });
}

function flag(o: Resolved, on: boolean): string {
  if (o.ascii) return on ? 'on' : 'off';
  return on ? paint(o, 'green', '✓') : '·';
}

function pct(part: number, whole: number): string {
  return whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : 'n/a';
}

function mmapCell(o: Resolved, m: 'full' | 'partial' | 'none'): string {
  return paint(o, m === 'full' ? 'green' : m === 'partial' ? 'yellow' : 'red', m);
}

/**
 * Renders the summary of one run as plain text: workload, simulated time, simulated ops/s, direct vs
 * trapped MMIO, traps by reason, one row per BAR (mmap full/partial/none, its reason and its
 * areas) and the most trapped guest pages.
 *
 * @param r - the result of one run.
 * @param opts - colour and ASCII options ({@link TableOptions}).
 * @returns several tables separated by blank lines, ending without a newline.
 * @example
 * console.log(runTable(result, { color: false }));
 */
export function runTable(r: RunResult, opts?: TableOptions): string {
  const o = resolve(opts);
  const out: string[] = [];
  const total = r.mmio.direct + r.mmio.trapped;

  const summary = newTable(o, [], {});
  const patches = PATCHES.map((p) => `${p.short} ${p.id} ${flag(o, r.patches[p.key])}`).join('  ');
  const ops =
    formatInt(r.workload.ops) +
    (r.workload.completed !== undefined ? `  (completed ${formatInt(r.workload.completed)})` : '') +
    (r.workload.failed !== undefined ? `  (failed ${formatInt(r.workload.failed)})` : '');
  const rows: Array<[string, string]> = [
    ['scenario', r.scenario],
    ['platform', `${r.platform.name}, ${formatBytes(r.platform.pageSize)} pages, EEH ${r.platform.eeh ? 'on' : 'off'}`],
    ['variant', r.variant],
    ['patches', `${patches}  (${patchShortLabel(r.patches)})`],
  ];
  for (const v of varyOf(r)) rows.push(['vary', `${v.field} = ${v.value}`]);
  rows.push(
    ['workload ops', ops],
    ['simulated time', `${formatNs(r.workload.simulatedNs)}  (${formatInt(r.workload.simulatedNs)} ns)`],
    // ops/s is per simulated second (the workload's simulated time), never wall-clock.
    [`simulated ${r.workload.unit ?? 'ops'}/s`, formatInt(r.workload.opsPerSecond)],
    ...(r.allVsNone
      ? [
          [
            'all vs none',
            `${formatSpeedup(r.allVsNone.ratio)}  (none ${formatInt(r.allVsNone.none)}/s, all ${formatInt(r.allVsNone.all)}/s)`,
          ] as [string, string],
        ]
      : []),
    ['MMIO direct', `${formatInt(r.mmio.direct)}  (${pct(r.mmio.direct, total)})`],
    ['MMIO trapped', `${formatInt(r.mmio.trapped)}  (${pct(r.mmio.trapped, total)})`],
    [
      'isolation violations',
      r.isolation.violations > 0 ? paint(o, 'red', formatInt(r.isolation.violations)) : formatInt(r.isolation.violations),
    ],
  );
  for (const [k, v] of rows) summary.push([k, v]);
  out.push(summary.toString());

  const reasons = Object.entries(r.mmio.trapsByReason).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  if (reasons.length > 0) {
    const t = newTable(o, ['trap reason', 'traps', 'share'], { colAligns: ['left', 'right', 'right'] });
    for (const [k, n] of reasons) t.push([k, formatInt(n), pct(n, r.mmio.trapped)]);
    out.push(t.toString());
  }

  if (r.bars.length > 0) {
    const t = newTable(
      o,
      ['device', 'BAR', 'host addr', 'guest addr', 'size', 'mmap', 'reason', 'areas'],
      {
        colAligns: ['left', 'right', 'left', 'left', 'right', 'left', 'left', 'left'],
      },
      false,
    );
    for (const b of r.bars) {
      const areas = b.areas.map((a) => `+0x${a.offset.toString(16)} ${formatBytes(a.size)} ${a.path} (${a.reason})`).join('\n');
      t.push([b.device, String(b.bar), b.address, b.guestAddress, formatBytes(b.size), mmapCell(o, b.mmap), b.reason, areas]);
    }
    out.push(t.toString());
  }

  if (r.topRegisters && r.topRegisters.length > 0) {
    const t = newTable(o, ['register', 'reads', 'writes', 'path'], { colAligns: ['left', 'right', 'right', 'left'] });
    for (const g of r.topRegisters.slice(0, 5)) {
      const where = `${g.device} BAR${g.bar}+0x${g.offset.toString(16)}${g.name ? ` ${g.name}` : ''}`;
      t.push([where, formatInt(g.reads), formatInt(g.writes), `${g.path} (${g.reason}${g.via ? `, via ${g.via}` : ''})`]);
    }
    out.push(t.toString());
  }

  if (r.topTrappedPages && r.topTrappedPages.length > 0) {
    const t = newTable(o, ['trapped guest page', 'traps', 'reasons'], { colAligns: ['left', 'right', 'left'] });
    for (const p of r.topTrappedPages) t.push([p.page, formatInt(p.traps), p.reasons.join(', ')]);
    out.push(t.toString());
  }

  return out.join('\n\n');
}

/**
 * Renders a sweep as one table row per (scenario, variant, patch combination[, vary point]):
 * the three patches as columns (`✓`/`·`, or `on`/`off` with `ascii`), simulated ops/s, speed-up vs the
 * `none` run of the same scenario, platform, variant and vary point (e.g. `1.97x`), direct and
 * trapped MMIO counts and the dominant trap reason.
 *
 * Rows are grouped in order of first appearance; within a group, combinations are ordered
 * none, P1, P2, P3, P1+P2, P1+P3, P2+P3, P1+P2+P3. A `platform` column appears when the
 * results use more than one platform, and one column per `--vary` dimension (titled with its
 * field, in the order given) when results have vary points.
 *
 * @param results - run results, e.g. the array of `vhw sweep --format json`.
 * @param opts - colour and ASCII options ({@link TableOptions}).
 * @returns the table, without a trailing newline; an empty string for no results.
 * @example
 * console.log(sweepTable(results, { color: process.stdout.isTTY }));
 */
export function sweepTable(results: RunResult[], opts?: TableOptions): string {
  if (results.length === 0) return '';
  const o = resolve(opts);
  const speedups = speedupsVsNone(results);
  const platforms = new Set(results.map((r) => `${r.platform.name}/${r.platform.pageSize}/${r.platform.eeh}`));
  const showPlatform = platforms.size > 1;
  const varyFields = varyFieldsOf(results);
  // A relocation column only when some run relocated MSI-X (x-msix-relocation), so other sweeps print as before.
  const showRelocation = results.some((r) => (r.relocation ?? 'off') !== 'off');
  // A VMM column only when some run used another VMM's rules (`--vmm`).
  const showVmm = results.some((r) => (r.vmm ?? 'qemu') !== 'qemu');

  const cols: Array<[string, 'left' | 'right' | 'center']> = [['scenario', 'left']];
  if (showPlatform) cols.push(['platform', 'left']);
  cols.push(['variant', 'left']);
  if (showVmm) cols.push(['vmm', 'left']);
  if (showRelocation) cols.push(['msix reloc', 'left']);
  for (const f of varyFields) cols.push([f, 'right']);
  for (const p of PATCHES) cols.push([`${p.short} ${p.id}`, 'center']);
  // Per simulated second, not wall-clock: the header says so, as every output of vhw does.
  const units = new Set(results.map((r) => r.workload.unit ?? 'ops'));
  cols.push(
    [`simulated ${units.size === 1 ? [...units][0] : 'ops'}/s`, 'right'],
    ['speed-up', 'right'],
    ['direct', 'right'],
    ['trapped', 'right'],
    ['dominant trap', 'left'],
  );
  const head = cols.map((c) => c[0]);
  const align = cols.map((c) => c[1]);

  const t = newTable(o, head, { colAligns: align });
  for (const i of displayOrder(results)) {
    const r = results[i]!;
    const row: string[] = [r.scenario];
    if (showPlatform) row.push(`${r.platform.name} ${formatBytes(r.platform.pageSize)}${r.platform.eeh ? ' EEH' : ''}`);
    row.push(r.variant);
    if (showVmm) row.push(r.vmm ?? 'qemu');
    if (showRelocation) row.push(r.relocation ?? 'off');
    for (const f of varyFields) row.push(String(varyValueOf(r, f) ?? ''));
    for (const p of PATCHES) row.push(flag(o, r.patches[p.key]));
    const s = speedups[i];
    const sText = formatSpeedup(s);
    row.push(
      formatInt(r.workload.opsPerSecond),
      s !== undefined && s > 1.005 ? paint(o, 'green', sText) : s !== undefined && s < 0.995 ? paint(o, 'red', sText) : sText,
      formatInt(r.mmio.direct),
      formatInt(r.mmio.trapped),
      r.rejected ? `rejected: ${r.rejected.code}` : (dominantReason(r.mmio.trapsByReason) ?? '-'),
    );
    t.push(row);
  }
  return t.toString();
}
