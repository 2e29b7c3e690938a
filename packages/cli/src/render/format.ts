/**
 * Shared helpers of the rendering layer: patch-combination labels, the grouping used for
 * speed-ups, number formatting and text escaping. Every renderer (table, CSV, charts, HTML)
 * goes through these so that they agree on what "speed-up vs none" means.
 */
import { PATCHES, type PatchSet, allPatchCombinations, patchShortLabel } from '@vhw/core';
import type { RunResult } from '@vhw/experiment';

/**
 * Sort rank of a patch combination: `none` first, then single patches, pairs, and all three
 * (none, P1, P2, P3, P1+P2, P1+P3, P2+P3, P1+P2+P3).
 *
 * @param p - the patch toggles of a run.
 * @returns a number in 0..7.
 * @example
 * comboRank({ alignBars: false, subPageMmap: false, msixMmap: false }); // 0
 */
export function comboRank(p: PatchSet): number {
  return COMBO_ORDER.indexOf(patchShortLabel(p));
}

/** All eight combination labels in display order. */
export const COMBO_ORDER: readonly string[] = allPatchCombinations()
  .map((p) => ({ label: patchShortLabel(p), on: PATCHES.filter((x) => p[x.key]).length }))
  .sort((a, b) => a.on - b.on || a.label.localeCompare(b.label))
  .map((x) => x.label);

/** True when no patch is on. */
function isNone(p: PatchSet): boolean {
  return !PATCHES.some((x) => p[x.key]);
}

/**
 * Key of the comparison group of a run: the runs that share scenario, platform, variant and
 * `--vary` point. Speed-ups compare a run with the `none` run of its group.
 *
 * The platform (name, page size, EEH) is part of the key so that a sweep that runs one scenario
 * on several platforms never divides by another platform's baseline.
 *
 * @param r - a run result.
 * @returns an opaque string key.
 * @example
 * groupKey(a) === groupKey(b); // a and b are compared against the same `none` run
 */
export function groupKey(r: RunResult): string {
  return JSON.stringify([
    r.scenario,
    r.platform.name,
    r.platform.pageSize,
    r.platform.eeh,
    r.variant,
    // Each MSI-X relocation is compared with its own none run (absent in older files: off).
    r.relocation ?? 'off',
    // Each VMM too (`--vmm all`); QEMU rows keep the key they always had.
    ...(r.vmm !== undefined && r.vmm !== 'qemu' ? [r.vmm] : []),
    ...varyOf(r).flatMap((v) => [v.field, v.value]),
  ]);
}

/**
 * Speed-up of each run against the `none` run (no patch on) of its comparison group
 * ({@link groupKey}): `opsPerSecond / none.opsPerSecond`.
 *
 * @param results - run results in any order.
 * @returns an array parallel to `results`; an entry is `undefined` when the group has no `none`
 *   run or the baseline's ops/s is not a positive finite number. When a group holds several
 *   `none` runs the first one is the baseline.
 * @example
 * speedupsVsNone(results)[i]; // 1.97 means run i does 1.97 times the ops/s of its baseline
 */
export function speedupsVsNone(results: readonly RunResult[]): Array<number | undefined> {
  const base = new Map<string, number>();
  for (const r of results) {
    const k = groupKey(r);
    if (isNone(r.patches) && !base.has(k)) base.set(k, r.workload.opsPerSecond);
  }
  return results.map((r) => {
    const b = base.get(groupKey(r));
    if (b === undefined || !Number.isFinite(b) || b <= 0) return undefined;
    const v = r.workload.opsPerSecond / b;
    return Number.isFinite(v) ? v : undefined;
  });
}

/**
 * The trap reason with the highest count (ties broken alphabetically).
 *
 * @param trapsByReason - trap counts by reason.
 * @returns the reason, or `undefined` when there is no trap.
 * @example
 * dominantReason({ 'sub-page-bar': 10, 'msix-table-page': 3 }); // 'sub-page-bar'
 */
export function dominantReason(trapsByReason: Record<string, number>): string | undefined {
  let best: string | undefined;
  let bestN = 0;
  for (const [k, n] of Object.entries(trapsByReason)) {
    if (n > bestN || (n === bestN && n > 0 && best !== undefined && k < best)) {
      best = k;
      bestN = n;
    }
  }
  return best;
}

/**
 * Orders runs for display: groups ({@link groupKey} without the variant) in order of first
 * appearance, then variant in order of first appearance, then patch combination
 * ({@link comboRank}). Stable for equal keys.
 *
 * @param results - run results.
 * @returns the indices of `results` in display order.
 * @example
 * displayOrder(results).map((i) => results[i]);
 */
export function displayOrder(results: readonly RunResult[]): number[] {
  const firstSeen = new Map<string, number>();
  const keyOf = (r: RunResult) => groupKey(r);
  results.forEach((r, i) => {
    const k = keyOf(r);
    if (!firstSeen.has(k)) firstSeen.set(k, i);
  });
  return results
    .map((_, i) => i)
    .sort((a, b) => {
      const ra = results[a]!;
      const rb = results[b]!;
      const ga = firstSeen.get(keyOf(ra))!;
      const gb = firstSeen.get(keyOf(rb))!;
      if (ga !== gb) return ga - gb;
      const ca = comboRank(ra.patches);
      const cb = comboRank(rb.patches);
      if (ca !== cb) return ca - cb;
      return a - b;
    });
}

const INT = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const DEC1 = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

/**
 * Formats a count or rate with thousands separators, in a fixed (en-US) locale.
 *
 * @param n - the number.
 * @returns e.g. `1,234,567`; `n/a` for a non-finite number.
 * @example
 * formatInt(1234567.4); // '1,234,567'
 */
export function formatInt(n: number): string {
  return Number.isFinite(n) ? INT.format(n) : 'n/a';
}

/**
 * Formats a speed-up ratio as `1.97x`.
 *
 * @param s - the ratio, or `undefined`.
 * @returns the text; `n/a` when there is no ratio.
 * @example
 * formatSpeedup(1.9734); // '1.97x'
 */
export function formatSpeedup(s: number | undefined): string {
  return s === undefined ? 'n/a' : `${s.toFixed(2)}x`;
}

/**
 * Formats a simulated duration in nanoseconds with a unit (ns, µs, ms, s).
 *
 * @param ns - the duration in nanoseconds.
 * @returns e.g. `1.5 ms`.
 * @example
 * formatNs(1_500_000); // '1.5 ms'
 */
export function formatNs(ns: number): string {
  if (!Number.isFinite(ns)) return 'n/a';
  const a = Math.abs(ns);
  if (a < 1e3) return `${DEC1.format(ns)} ns`;
  if (a < 1e6) return `${DEC1.format(ns / 1e3)} µs`;
  if (a < 1e9) return `${DEC1.format(ns / 1e6)} ms`;
  return `${DEC1.format(ns / 1e9)} s`;
}

/**
 * Formats a byte size with a binary unit (B, KiB, MiB, GiB).
 *
 * @param n - the size in bytes.
 * @returns e.g. `16 KiB`, `1.5 MiB`, `32 B`.
 * @example
 * formatBytes(65536); // '64 KiB'
 */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${DEC1.format(v).replace(/,/g, '')} ${units[u]}`;
}

/**
 * Formats a non-negative integer address as lower-case hex with `0x`, optionally zero-padded.
 *
 * @param n - the address.
 * @param digits - minimum number of hex digits.
 * @returns e.g. `0x3fe080000000`.
 * @example
 * hex(65536, 8); // '0x00010000'
 */
export function hex(n: number, digits = 1): string {
  return `0x${Math.trunc(n).toString(16).padStart(digits, '0')}`;
}

/**
 * Escapes text for XML and HTML element content and double- or single-quoted attributes.
 *
 * @param s - any text.
 * @returns the text with `& < > " '` replaced by entities; control characters other than tab,
 *   newline and carriage return (not allowed in XML 1.0) are dropped.
 * @example
 * escapeXml('a<b & "c"'); // 'a&lt;b &amp; &quot;c&quot;'
 */
export function escapeXml(s: string): string {
  return (
    String(s)
      // biome-ignore lint/suspicious/noControlCharactersInRegex: removing the characters XML 1.0 forbids is the point
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&#39;')
  );
}

/**
 * The `--vary` axis label of a set of results: the distinct `vary.field` names joined by ` / `.
 *
 * @param results - run results.
 * @returns the label, or `undefined` when no result has a `vary` point.
 * @example
 * varyFieldLabel(results); // 'exit.directCycles'
 */
export function varyFieldLabel(results: readonly RunResult[]): string | undefined {
  const fields = varyFieldsOf(results);
  return fields.length === 0 ? undefined : fields.join(' / ');
}

/** One `--vary` dimension of a row: the field and the value this run used. */
export interface VaryEntry {
  field: string;
  /** A number for cost fields; a string for plugin-option dimensions (e.g. `nvme0.layout`). */
  value: number | string;
}

/**
 * The `--vary` point of a row as a list, one entry per dimension in the order given on the
 * command line. Reads the array form (`[{ field, value }, ...]`) and, from sets written before
 * grids existed, the single-object form.
 *
 * @param r - a run result.
 * @returns the entries; empty for a run without a vary point.
 * @example
 * varyOf(r); // [{ field: 'guest.ioStackNs', value: 5000 }]
 */
export function varyOf(r: RunResult): VaryEntry[] {
  const v: unknown = (r as { vary?: unknown }).vary;
  const entries = Array.isArray(v) ? v : v && typeof v === 'object' ? [v] : [];
  return entries.filter(isVaryEntry);
}

function isVaryEntry(x: unknown): x is VaryEntry {
  if (!x || typeof x !== 'object') return false;
  const e = x as { field?: unknown; value?: unknown };
  return typeof e.field === 'string' && (typeof e.value === 'number' || typeof e.value === 'string');
}

/**
 * The `--vary` fields of a set of rows, each once, in the order their dimensions were given
 * (first seen): the vary columns of a table or CSV of the rows.
 *
 * @param results - run results.
 * @returns e.g. `['guest.ioStackNs', 'nvme0.layout']`; empty without `--vary`.
 */
export function varyFieldsOf(results: readonly RunResult[]): string[] {
  return [...new Set(results.flatMap((r) => varyOf(r).map((v) => v.field)))];
}

/**
 * A row's value of the `--vary` dimension `field`.
 *
 * @param r - a run result.
 * @param field - a `--vary` field, e.g. `guest.ioStackNs`.
 * @returns the value; undefined when the row does not vary `field`.
 */
export function varyValueOf(r: RunResult, field: string): number | string | undefined {
  return varyOf(r).find((e) => e.field === field)?.value;
}

/**
 * The vary point of a row as text: `field=value` per dimension, joined by `, `.
 *
 * @param r - a run result.
 * @returns e.g. `guest.ioStackNs=5000, exit.userspaceFactor=2`; empty without a vary point.
 * @example
 * varyText(r); // 'guest.ioStackNs=5000'
 */
export function varyText(r: RunResult): string {
  return varyOf(r)
    .map((v) => `${v.field}=${v.value}`)
    .join(', ');
}
