import { type PatchSet, VARIANTS, type Variant, VhwError, allPatchCombinations, parseVariant } from '@vhw/core';
import { MSIX_RELOCATION_MODES, type MsixRelocationMode, VMM_IDS, vmmPolicy, vmmPolicyIds } from '@vhw/vmm';
import type { RunResult } from './result.js';

/** One point of a sweep grid. */
export interface GridPoint {
  index: number;
  scenario: string;
  variant: Variant;
  patches: PatchSet;
  vary?: { field: string; value: number };
  /** The point's MSI-X relocation, when the sweep names one (`--msix-relocation`). */
  relocation?: MsixRelocationMode;
  /** The point's VMM policy, when the sweep names one (`--vmm`). */
  vmm?: string;
}

export interface VarySpec {
  /** Cost parameter name (without the `cost.` prefix). */
  field: string;
  values: number[];
}

/**
 * Parses `cost.FIELD=A..B` (with `steps` evenly spaced values, or geometric when `log`)
 * or `cost.FIELD=v1,v2,...`.
 */
export function parseVary(text: string, steps = 5, log = false): VarySpec {
  const m = /^cost\.([A-Za-z0-9_.]+)=(.+)$/.exec(text.trim());
  if (!m) throw new VhwError('E_CONFIG', `--vary "${text}"; allowed: cost.FIELD=A..B or cost.FIELD=v1,v2,...`);
  // Both groups are mandatory in the pattern, so a match has them.
  const field = m[1]!;
  const spec = m[2]!;
  const range = /^([0-9.eE+-]+)\.\.([0-9.eE+-]+)$/.exec(spec);
  let values: number[];
  if (range) {
    const a = Number(range[1]);
    const b = Number(range[2]);
    if (!Number.isFinite(a) || !Number.isFinite(b) || a > b)
      throw new VhwError('E_CONFIG', `--vary ${text}: range ${spec}; allowed: A..B with finite A <= B`);
    if (!Number.isInteger(steps) || steps < 2 || steps > 1000)
      throw new VhwError('E_CONFIG', `--steps ${String(steps)}; allowed: an integer 2..1000`);
    if (log && a <= 0) throw new VhwError('E_CONFIG', `--vary ${text}: a log scale needs A > 0`);
    values = Array.from({ length: steps }, (_, i) => (log ? a * (b / a) ** (i / (steps - 1)) : a + ((b - a) * i) / (steps - 1)));
  } else {
    const items = spec.split(',').map((x) => x.trim());
    // Number('') is 0: an empty item ('x=1,') would add a point nobody asked for.
    values = items.map((x) => (x === '' ? NaN : Number(x)));
    if (values.some((v) => !Number.isFinite(v))) {
      throw new VhwError('E_CONFIG', `--vary ${text}: values ${spec}; allowed: finite numbers separated by commas, none empty`);
    }
  }
  return { field, values };
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
 * The full grid, in a fixed order: variant, VMM, relocation, vary value, then the 8
 * combinations (none first). A VMM other than QEMU runs only without `--msix-relocation`
 * (or with `off`): with `--vmm all --msix-relocation both` the other VMMs run once each.
 * @throws VhwError E_CONFIG when no point is left (one VMM that refuses the relocation asked for)
 */
export function sweepGrid(
  scenario: string,
  variants: readonly Variant[],
  vary?: VarySpec,
  relocations: ReadonlyArray<MsixRelocationMode | undefined> = [undefined],
  vmms: ReadonlyArray<string | undefined> = [undefined],
): GridPoint[] {
  const out: GridPoint[] = [];
  const varyPoints = vary ? vary.values.map((value) => ({ field: vary.field, value })) : [undefined];
  for (const variant of variants) {
    for (const vmm of vmms) {
      const ok = relocations.filter((r) => combines(vmm, r));
      // `both` with another VMM: its one point is without QEMU's relocation.
      const own = ok.length > 0 ? ok : relocations.length > 1 ? [undefined] : [];
      if (own.length === 0) {
        const knob = vmmPolicy(vmm!).relocationKnob;
        throw new VhwError('E_CONFIG', `--vmm ${vmm} with --msix-relocation ${relocations[0]}: ${knob}; allowed with this VMM: off`);
      }
      for (const relocation of own) {
        for (const v of varyPoints) {
          for (const patches of allPatchCombinations()) {
            out.push({
              index: out.length,
              scenario,
              variant,
              patches,
              ...(v ? { vary: v } : {}),
              ...(relocation ? { relocation } : {}),
              ...(vmm ? { vmm } : {}),
            });
          }
        }
      }
    }
  }
  return out;
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

const comboIndex = (p: PatchSet) => (p.alignBars ? 1 : 0) + (p.subPageMmap ? 2 : 0) + (p.msixMmap ? 4 : 0);

/** Puts results (e.g. merged from shards) into grid order and refuses duplicates. */
export function orderResults(results: readonly RunResult[]): RunResult[] {
  const key = (r: RunResult) =>
    `${r.scenario}|${r.platform.name}|${r.platform.pageSize}|${r.variant}|${r.vmm ?? ''}|${r.relocation ?? ''}|${r.vary ? `${r.vary.field}=${r.vary.value}` : ''}|${comboIndex(r.patches)}`;
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
      (a.vary?.value ?? 0) - (b.vary?.value ?? 0) ||
      comboIndex(a.patches) - comboIndex(b.patches),
  );
}
