import { type PatchSet, VARIANTS, type Variant, VhwError, allPatchCombinations, parseVariant } from '@vhw/core';
import { MSIX_RELOCATION_MODES, type MsixRelocationMode, VMM_IDS, vmmPolicy, vmmPolicyIds } from '@vhw/vmm';
import type { RunResult } from './result.js';

/**
 * One dimension's value at a grid point, as a result row records it (`RunResult.vary`, one
 * entry per `--vary` in the order given): a number for cost parameters, a number or the text
 * as written for a plugin option.
 */
export interface VaryPoint {
  /** A cost parameter's name (without `cost.`), or a plugin option as `TARGET.FIELD`. */
  field: string;
  value: number | string;
}

/** One point of a sweep grid. */
export interface GridPoint {
  index: number;
  scenario: string;
  variant: Variant;
  patches: PatchSet;
  /** The `--vary` values of this point, one per dimension in the order given (absent without `--vary`). */
  vary?: GridVaryPoint[];
  /** The point's MSI-X relocation, when the sweep names one (`--msix-relocation`). */
  relocation?: MsixRelocationMode;
  /** The point's VMM policy, when the sweep names one (`--vmm`). */
  vmm?: string;
}

/** A point's value of one dimension, with what it sets: `plugin` for a plugin option, else a cost parameter. */
export interface GridVaryPoint extends VaryPoint {
  kind?: 'cost' | 'plugin';
}

/**
 * One `--vary` dimension: a cost parameter (`cost.FIELD=...`) or a plugin option
 * (`TARGET.FIELD=...`, checked by the plugin's schema before any run, see `checkVaryPlugins`).
 */
export interface VarySpec {
  /** Cost parameter name (without the `cost.` prefix), or `TARGET.FIELD` of a plugin option. */
  field: string;
  /** `plugin` for a plugin option; absent (or `cost`) for a cost parameter. */
  kind?: 'cost' | 'plugin';
  values: Array<number | string>;
}

/** Decimal places a number is written with (`0.25` -> 2, `1e-3` -> 3). */
function decimalsOf(text: string): number {
  const n = Number(text);
  for (let d = 0; d <= 12; d++) if (Number(n.toFixed(d)) === n) return d;
  return 12;
}

/**
 * The points of a linear range `a..b`, rounded so they print as the user wrote the ends: to the
 * decimals of the ends, or of the step when it is a short decimal (0..1 in 5 steps: 0.25), else
 * to three significant digits of the step (0..1 in 4 steps: 0.333). The ends are exact.
 */
function linearPoints(a: number, b: number, steps: number, decimals: number): number[] {
  const step = (b - a) / (steps - 1);
  // A short decimal step (0.25, 2500) is kept as is; any other (1/3) is rounded to 3 significant digits.
  let d = 0;
  while (d <= 6 && Math.abs(Number(step.toFixed(d)) - step) > 1e-12 * Math.abs(step)) d++;
  if (d > 6) d = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(step))));
  const places = Math.min(12, Math.max(decimals, d));
  return Array.from({ length: steps }, (_, i) => (i === steps - 1 ? b : Number((a + step * i).toFixed(places))));
}

/**
 * The points of a geometric range `a..b`, rounded to three significant digits (more when the
 * ends have more, or when three would make two points equal): 1..1000 in 4 steps is
 * 1, 10, 100, 1000, never 999.9999999999998. The ends are exact.
 */
function logPoints(a: number, b: number, steps: number, digits: number): number[] {
  for (let p = Math.max(3, digits); ; p++) {
    const v = Array.from({ length: steps }, (_, i) =>
      i === 0 ? a : i === steps - 1 ? b : Number((a * (b / a) ** (i / (steps - 1))).toPrecision(p)),
    );
    if (p >= 17 || new Set(v).size === v.length) return v;
  }
}

/** Significant digits a number is written with (`1200` -> 2, `0.05` -> 1). */
function digitsOf(text: string): number {
  const n = Math.abs(Number(text));
  for (let p = 1; p <= 17; p++) if (Number(n.toPrecision(p)) === n) return p;
  return 17;
}

/**
 * Parses one `--vary`: `cost.FIELD=A..B` (with `steps` evenly spaced values, or geometric when
 * `log`), `cost.FIELD=v1,v2,...`, or a plugin option `TARGET.FIELD=v1,v2,...` (values as
 * written, numbers where they are numbers; a numeric range `A..B` too). Range points are rounded
 * so they print as written (see `linearPoints`, `logPoints`).
 */
export function parseVary(text: string, steps = 5, log = false): VarySpec {
  const m = /^(?:(cost)\.([A-Za-z0-9_.]+)|([A-Za-z0-9_-]+\.[A-Za-z0-9_]+))=(.+)$/.exec(text.trim());
  if (!m)
    throw new VhwError(
      'E_CONFIG',
      `--vary "${text}"; allowed: cost.FIELD=A..B, cost.FIELD=v1,v2,... or TARGET.FIELD=v1,v2,... (a plugin option)`,
    );
  const kind = m[1] ? 'cost' : 'plugin';
  const field = m[2] ?? m[3]!;
  // The last group is mandatory in the pattern, so a match has it.
  const spec = m[4]!;
  const range = /^([0-9.eE+-]+)\.\.([0-9.eE+-]+)$/.exec(spec);
  let values: Array<number | string>;
  if (range) {
    const a = Number(range[1]);
    const b = Number(range[2]);
    if (!Number.isFinite(a) || !Number.isFinite(b) || a > b)
      throw new VhwError('E_CONFIG', `--vary ${text}: range ${spec}; allowed: A..B with finite A <= B`);
    if (!Number.isInteger(steps) || steps < 2 || steps > 1000)
      throw new VhwError('E_CONFIG', `--steps ${String(steps)}; allowed: an integer 2..1000`);
    if (log && a <= 0) throw new VhwError('E_CONFIG', `--vary ${text}: a log scale needs A > 0`);
    values = log
      ? logPoints(a, b, steps, Math.max(digitsOf(range[1]!), digitsOf(range[2]!)))
      : linearPoints(a, b, steps, Math.max(decimalsOf(range[1]!), decimalsOf(range[2]!)));
  } else {
    const items = spec.split(',').map((x) => x.trim());
    if (kind === 'plugin') {
      if (items.some((x) => x === ''))
        throw new VhwError('E_CONFIG', `--vary ${text}: values ${spec}; allowed: values separated by commas, none empty`);
      values = items.map((x) => (/^-?[0-9.]+(e[+-]?[0-9]+)?$/i.test(x) && Number.isFinite(Number(x)) ? Number(x) : x));
    } else {
      // Number('') is 0: an empty item ('x=1,') would add a point nobody asked for.
      const numbers = items.map((x) => (x === '' ? NaN : Number(x)));
      if (numbers.some((v) => !Number.isFinite(v))) {
        throw new VhwError('E_CONFIG', `--vary ${text}: values ${spec}; allowed: finite numbers separated by commas, none empty`);
      }
      values = numbers;
    }
  }
  return kind === 'plugin' ? { field, kind, values } : { field, values };
}

/**
 * Parses every `--vary` of a sweep, each one dimension of the grid, in the order given.
 * @param steps - `--steps`: one count for every range dimension, or one per range dimension in
 *   order (`[5, 3]`); list dimensions take no count
 * @throws VhwError E_CONFIG when a field is varied twice, or the counts of `--steps` do not
 *   match the range dimensions
 */
export function parseVaryDimensions(texts: readonly string[], steps: readonly number[] = [], log = false): VarySpec[] {
  const isRange = (t: string) => /=[0-9.eE+-]+\.\.[0-9.eE+-]+$/.test(t.trim());
  const ranges = texts.filter(isRange).length;
  if (steps.length > 1 && steps.length !== ranges)
    throw new VhwError(
      'E_CONFIG',
      `--steps ${steps.join(',')}: ${steps.length} counts for ${ranges} range --vary; allowed: one count for all, or one per range --vary in order`,
    );
  let r = 0;
  const dims = texts.map((t) => (isRange(t) ? parseVary(t, steps.length > 1 ? steps[r++] : steps[0], log) : parseVary(t, 5, log)));
  const fields = dims.map((d) => d.field);
  const twice = fields.find((f, i) => fields.indexOf(f) !== i);
  if (twice !== undefined)
    throw new VhwError('E_CONFIG', `--vary ${twice} given twice; allowed: each field once (a grid has one axis per field)`);
  return dims;
}

/** Parses `cost.FIELD=VALUE` pairs into an override record. */
export function parseSets(sets: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of sets) {
    const m = /^cost\.([A-Za-z0-9_.]+)=(.+)$/.exec(s.trim());
    const v = m ? Number(m[2]) : NaN;
    if (!m || !Number.isFinite(v)) throw new VhwError('E_CONFIG', `--set "${s}"; allowed: cost.FIELD=NUMBER (see vhw list for the fields)`);
    out[m[1]!] = v;
  }
  return out;
}

export function parseVariants(text: string): Variant[] {
  if (text === 'both') return [...VARIANTS];
  if (VARIANTS.some((v) => v === text)) return [parseVariant(text)];
  throw new VhwError('E_CONFIG', `--variant "${text}"; allowed: ${VARIANTS.join(', ')}, both`);
}

/**
 * Parses `--msix-relocation` of a sweep: one mode, or `both` for off and auto (a sweep
 * dimension, like `--variant both`). Not given: the scenario's own (one point per combination).
 */
export function parseRelocations(text: string | undefined): Array<MsixRelocationMode | undefined> {
  if (text === undefined) return [undefined];
  if (text === 'both') return ['off', 'auto'];
  const mode = MSIX_RELOCATION_MODES.find((m) => m === text);
  if (mode === undefined) throw new VhwError('E_CONFIG', `--msix-relocation "${text}"; allowed: ${MSIX_RELOCATION_MODES.join(', ')}, both`);
  return [mode];
}

/**
 * Parses `--vmm`: one policy id, or `all` for the five built-in VMMs (a sweep dimension,
 * like `--variant both`). Not given: the scenario's own (QEMU's unless it sets one).
 * @throws VhwError E_CONFIG naming the allowed values
 */
export function parseVmms(text: string | undefined): Array<string | undefined> {
  if (text === undefined) return [undefined];
  if (text === 'all') return [...VMM_IDS];
  if (!vmmPolicyIds().includes(text)) throw new VhwError('E_CONFIG', `--vmm "${text}"; allowed: ${vmmPolicyIds().join(', ')}, all`);
  return [text];
}

/**
 * Whether a VMM and a relocation mode combine: `--msix-relocation` is QEMU's option; another
 * VMM takes only `off` (it relocates by its own rule or never).
 */
function combines(vmm: string | undefined, relocation: MsixRelocationMode | undefined): boolean {
  return vmm === undefined || relocation === undefined || relocation === 'off' || vmmPolicy(vmm).relocationKnob === true;
}

/**
 * One axis of a sweep grid: the values it takes and what each sets on a point. A grid is the
 * product of its axes, the first outermost; a new enum dimension (e.g. a VMM policy) is one
 * more axis.
 */
export interface GridAxis<V> {
  values: readonly V[];
  /** The point with this axis at `value`. */
  set: (p: Omit<GridPoint, 'index'>, value: V) => Omit<GridPoint, 'index'>;
}

/** The product of `axes`, the first outermost, numbered in that order. */
export function gridProduct(start: Omit<GridPoint, 'index'>, axes: ReadonlyArray<GridAxis<unknown>>): GridPoint[] {
  let points: Array<Omit<GridPoint, 'index'>> = [start];
  for (const axis of axes) points = points.flatMap((p) => axis.values.map((v) => axis.set(p, v)));
  return points.map((p, index) => ({ index, ...p }));
}

/** The dimensions of a sweep's `--vary`: none, one, or several in order. */
export function varyDimensions(vary: VarySpec | readonly VarySpec[] | undefined): readonly VarySpec[] {
  if (vary === undefined) return [];
  return Array.isArray(vary) ? (vary as readonly VarySpec[]) : [vary as VarySpec];
}

/** An axis, typed by its values (the product takes them untyped). */
const axis = <V>(a: GridAxis<V>): GridAxis<unknown> => a as GridAxis<unknown>;

/**
 * The VMM and MSI-X relocation pairs of a sweep, VMM outer: a VMM other than QEMU runs only
 * without `--msix-relocation` (or with `off`), so with `--vmm all --msix-relocation both` the
 * other VMMs run once each.
 * @throws VhwError E_CONFIG when a VMM is left with no point (it refuses the relocation asked for)
 */
function vmmRelocations(
  vmms: ReadonlyArray<string | undefined>,
  relocations: ReadonlyArray<MsixRelocationMode | undefined>,
): Array<{ vmm?: string; relocation?: MsixRelocationMode }> {
  return vmms.flatMap((vmm) => {
    const ok = relocations.filter((r) => combines(vmm, r));
    // `both` with another VMM: its one point is without QEMU's relocation.
    const own = ok.length > 0 ? ok : relocations.length > 1 ? [undefined] : [];
    if (own.length === 0) {
      const knob = vmmPolicy(vmm!).relocationKnob;
      throw new VhwError('E_CONFIG', `--vmm ${vmm} with --msix-relocation ${relocations[0]}: ${knob}; allowed with this VMM: off`);
    }
    return own.map((relocation) => ({ ...(vmm ? { vmm } : {}), ...(relocation ? { relocation } : {}) }));
  });
}

/**
 * The full grid, in a fixed order: variant outermost, then the VMM, then the MSI-X
 * relocation (see `vmmRelocations`), then each `--vary` dimension in the order given (the
 * first varies slowest), then the 8 patch combinations (none first). Point `index` is its
 * place in this order, which shards, merges and the grid identity rely on.
 * @throws VhwError E_CONFIG when no point is left (one VMM that refuses the relocation asked for)
 */
export function sweepGrid(
  scenario: string,
  variants: readonly Variant[],
  vary?: VarySpec | readonly VarySpec[],
  relocations: ReadonlyArray<MsixRelocationMode | undefined> = [undefined],
  vmms: ReadonlyArray<string | undefined> = [undefined],
): GridPoint[] {
  const dims = varyDimensions(vary);
  return gridProduct({ scenario, variant: variants[0]!, patches: allPatchCombinations()[0]! }, [
    axis<Variant>({ values: variants, set: (p, variant) => ({ ...p, variant }) }),
    axis<{ vmm?: string; relocation?: MsixRelocationMode }>({
      values: vmmRelocations(vmms, relocations),
      set: (p, vr) => ({ ...p, ...vr }),
    }),
    ...dims.map((d) =>
      axis<number | string>({
        values: d.values,
        set: (p, value) => ({
          ...p,
          vary: [...(p.vary ?? []), { field: d.field, value, ...(d.kind === 'plugin' ? { kind: d.kind } : {}) }],
        }),
      }),
    ),
    axis<PatchSet>({ values: allPatchCombinations(), set: (p, patches) => ({ ...p, patches }) }),
  ]);
}

/** Parses `I/N` (0-based shard I of N). */
export function parseShard(text: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = m ? Number(m[1]) : NaN;
  const count = m ? Number(m[2]) : NaN;
  if (!m || count < 1 || index >= count) throw new VhwError('E_CONFIG', `--shard "${text}"; allowed: I/N with 0 <= I < N (e.g. 0/4)`);
  return { index, count };
}

/** The points of shard `index` of `count`: every count-th point, so shards are balanced and disjoint. */
export function shardOf<T extends { index: number }>(points: readonly T[], shard: { index: number; count: number }): T[] {
  return points.filter((p) => p.index % shard.count === shard.index);
}

/** Orders vary points dimension by dimension: numbers by value, text by name. */
function compareVary(a: readonly VaryPoint[] = [], b: readonly VaryPoint[] = []): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i]?.value ?? 0;
    const y = b[i]?.value ?? 0;
    const c = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
    if (c !== 0) return c;
  }
  return 0;
}

const comboIndex = (p: PatchSet) => (p.alignBars ? 1 : 0) + (p.subPageMmap ? 2 : 0) + (p.msixMmap ? 4 : 0);

/** Puts results (e.g. merged from shards) into grid order and refuses duplicates. */
export function orderResults(results: readonly RunResult[]): RunResult[] {
  const key = (r: RunResult) =>
    `${r.scenario}|${r.platform.name}|${r.platform.pageSize}|${r.variant}|${r.vmm ?? ''}|${r.relocation ?? ''}|${(r.vary ?? []).map((v) => `${v.field}=${v.value}`).join(',')}|${comboIndex(r.patches)}`;
  const seen = new Set<string>();
  for (const r of results) {
    const k = key(r);
    if (seen.has(k)) throw new VhwError('E_CONFIG', `merge: the run ${k} appears twice; were the same shards given twice?`);
    seen.add(k);
  }
  const vOrder = (v: string) => (VARIANTS as readonly string[]).indexOf(v);
  const rOrder = (m: string | undefined) => (MSIX_RELOCATION_MODES as readonly string[]).indexOf(m ?? 'off');
  const mOrder = (m: string | undefined) => vmmPolicyIds().indexOf(m ?? 'qemu');
  return [...results].sort(
    (a, b) =>
      a.scenario.localeCompare(b.scenario) ||
      vOrder(a.variant) - vOrder(b.variant) ||
      mOrder(a.vmm) - mOrder(b.vmm) ||
      rOrder(a.relocation) - rOrder(b.relocation) ||
      compareVary(a.vary, b.vary) ||
      comboIndex(a.patches) - comboIndex(b.patches),
  );
}
