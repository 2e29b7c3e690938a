/**
 * Result sets: which experiment a row belongs to (its grid identity), and joining the rows of
 * shards into one set, refusing what is not one experiment.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { VARIANTS, type Variant, type VhwPlugin, VhwError, allPatchCombinations, patchShortLabel } from '@vhw/core';
import type { ExperimentRecord, GridIdentity, PluginRecord, RunResult } from './result.js';
import type { PluginSet } from './plugin-sets.js';
import type { Scenario } from './scenario.js';
import { builtinScenarioFile } from './scenarios.js';
import { type GridPoint, type VarySpec, orderResults, varyDimensions } from './sweep.js';

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/** JSON with object keys sorted, so equal values hash equally. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/**
 * The file a scenario reference names: a built-in scenario's file, or the user's file.
 * @returns undefined when there is no such file
 */
export function scenarioFileOf(ref: string): string | undefined {
  const looksLikePath = ref.includes('/') || ref.includes('\\') || /\.(m?[jt]s)$/.test(ref);
  if (looksLikePath) {
    const file = isAbsolute(ref) ? ref : resolve(process.cwd(), ref);
    return existsSync(file) ? file : undefined;
  }
  return builtinScenarioFile(ref);
}

/** SHA-256 of a scenario's file (the scenario's code as it ran), or of its name when it has no file. */
export function scenarioSha256(ref: string): string {
  const file = scenarioFileOf(ref);
  return file ? sha256(readFileSync(file)) : sha256(`no-file:${ref}`);
}

/** What a sweep was asked to run, from which its grid identity is computed. */
export interface SweepDescription {
  scenario: Scenario;
  /** The scenario as named on the command line: a built-in name or a path. */
  scenarioRef: string;
  variants: readonly Variant[];
  /** The `--vary` dimensions in order (one spec for a 1-D sweep). */
  vary?: VarySpec | readonly VarySpec[];
  /** `--ops`, or undefined for the scenario's default. */
  ops?: number;
  seed: number;
  pageSize?: number;
  /** `--set` overrides of cost parameters. */
  costs: Record<string, number>;
  /** `--set` overrides of plugin options, in the order given. */
  pluginSets?: readonly PluginSet[];
  /** `--msix-relocation` as given (`both` as off, auto); undefined for the scenario's own. */
  relocations?: readonly string[];
  /** `--vmm` as given (`all` as the five); undefined for the scenario's own. */
  vmms?: readonly string[];
}

/** The identity of a sweep's grid (see {@link GridIdentity}) and its id. */
export function gridIdentity(d: SweepDescription): { id: string; identity: GridIdentity } {
  const identity: GridIdentity = {
    scenario: { name: d.scenario.name, sha256: scenarioSha256(d.scenarioRef) },
    variants: [...d.variants],
    combinations: allPatchCombinations().map(patchShortLabel),
    ...(varyDimensions(d.vary).length > 0
      ? {
          vary: varyDimensions(d.vary).map((v) => ({
            field: v.field,
            ...(v.kind === 'plugin' ? { kind: v.kind } : {}),
            count: v.values.length,
            first: v.values[0] ?? 0,
            last: v.values[v.values.length - 1] ?? 0,
            sha256: sha256(canonical(v.values)),
          })),
        }
      : {}),
    ops: d.ops ?? d.scenario.ops,
    seed: d.seed,
    ...(d.pageSize !== undefined ? { pageSize: d.pageSize } : {}),
    costs: { ...d.costs },
    ...(d.pluginSets && d.pluginSets.length > 0 ? { plugins: d.pluginSets.map((p) => `${p.target}.${p.field}=${p.value}`) } : {}),
    // Dimensions of the grid like the variants: shards run with other modes are another experiment.
    ...(d.relocations ? { relocations: [...d.relocations] } : {}),
    ...(d.vmms ? { vmms: [...d.vmms] } : {}),
  };
  return { id: sha256(canonical(identity)).slice(0, 16), identity };
}

/**
 * A stamper of rows with the grid they are points of: the identity is computed once (it hashes
 * the scenario's file), then each row, as it comes, gets its `experiment` record.
 * @param gridSize - the number of points of the whole grid (before sharding)
 * @param shard - the `--shard` the rows were run as, if any
 * @returns a function of a row and its grid point giving the stamped row
 */
export function experimentStamper(
  d: SweepDescription,
  gridSize: number,
  shard?: { index: number; count: number },
): (row: RunResult, point: GridPoint) => RunResult {
  const { id, identity } = gridIdentity(d);
  const scenarioRef =
    scenarioFileOf(d.scenarioRef) && builtinScenarioFile(d.scenarioRef) === undefined ? resolve(d.scenarioRef) : d.scenarioRef;
  return (r, point) => {
    const experiment: ExperimentRecord = { id, identity, point: point.index, points: gridSize, scenarioRef, ...(shard ? { shard } : {}) };
    return { ...r, experiment };
  };
}

/**
 * Records in each row which grid it is a point of (rows in the order of `points`).
 * @param gridSize - the number of points of the whole grid (before sharding)
 * @param shard - the `--shard` the rows were run as, if any
 */
export function stampExperiment(
  rows: readonly RunResult[],
  points: readonly GridPoint[],
  d: SweepDescription,
  gridSize: number,
  shard?: { index: number; count: number },
): RunResult[] {
  const stamp = experimentStamper(d, gridSize, shard);
  return rows.map((r, i) => stamp(r, points[i]!));
}

/** The plugins of a machine with their resolved options, as plain JSON (what a result records). */
export function pluginRecords(plugins: readonly VhwPlugin[]): PluginRecord[] {
  return plugins.map((p) => ({
    name: p.name,
    kind: p.kind,
    instance: p.instance,
    options: JSON.parse(JSON.stringify(p.options ?? {}, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))) as unknown,
  }));
}

/** How a field of a grid identity was given on the command line, to name a difference. */
function spell(key: keyof GridIdentity, id: GridIdentity): string {
  switch (key) {
    case 'scenario':
      return `scenario ${id.scenario.name} (file sha256 ${id.scenario.sha256.slice(0, 12)})`;
    case 'variants':
      return `--variant ${id.variants.length === VARIANTS.length ? 'both' : id.variants.join(',')}`;
    case 'combinations':
      return `patch combinations ${id.combinations.join(' ')}`;
    case 'vary':
      return id.vary
        ? id.vary
            .map(
              (v) =>
                `--vary ${v.kind === 'plugin' ? '' : 'cost.'}${v.field} (${v.count} points, ${v.first}..${v.last}, sha256 ${v.sha256.slice(0, 12)})`,
            )
            .join(' ')
        : 'no --vary';
    case 'ops':
      return `--ops ${id.ops}`;
    case 'seed':
      return `--seed ${id.seed}`;
    case 'pageSize':
      return id.pageSize !== undefined ? `--page-size ${id.pageSize / 1024}k` : "the platform's page size";
    case 'costs': {
      const sets = Object.entries(id.costs).map(([k, v]) => `--set cost.${k}=${v}`);
      return sets.length > 0 ? sets.join(' ') : 'no --set';
    }
    case 'plugins':
      return id.plugins ? id.plugins.map((p) => `--set ${p}`).join(' ') : 'no plugin --set';
    case 'relocations':
      return id.relocations ? `--msix-relocation ${id.relocations.join(',')}` : "the scenario's MSI-X relocation";
    case 'vmms':
      return id.vmms ? `--vmm ${id.vmms.join(',')}` : "the scenario's VMM";
  }
}

const IDENTITY_FIELDS: ReadonlyArray<keyof GridIdentity> = [
  'scenario',
  'variants',
  'combinations',
  'vary',
  'ops',
  'seed',
  'pageSize',
  'costs',
  'plugins',
  'relocations',
  'vmms',
];

/**
 * The first field in which two grid identities differ, spelled as each was given.
 * @returns undefined when they are the same experiment
 */
export function identityDifference(a: GridIdentity, b: GridIdentity): { a: string; b: string } | undefined {
  for (const k of IDENTITY_FIELDS) {
    if (canonical(a[k]) !== canonical(b[k])) return { a: spell(k, a), b: spell(k, b) };
  }
  return undefined;
}

/** Rows read from one input of a merge. */
export interface ResultSource {
  /** How the input is named in messages (a file name). */
  name: string;
  rows: readonly RunResult[];
}

/** A merged set: rows in grid order, and what is missing. */
export interface MergedSet {
  rows: RunResult[];
  /** The grid, when the rows record one (rows of an older vhw do not). */
  experiment?: { id: string; identity: GridIdentity; points: number; scenarioRef: string };
  /** Grid points no input holds (only with `allowPartial`). */
  missing: number[];
  /** A sentence naming the missing shards and points, when some are missing. */
  missingText?: string;
}

/** A grid point by its place on each axis, in `sweepGrid`'s order (variant, each vary dimension, combination). */
function describePoint(i: number, id: GridIdentity): string {
  const dims = id.vary ?? [];
  const sizes = [id.variants.length, ...dims.map((v) => v.count), id.combinations.length];
  const at: number[] = [];
  let rest = i;
  for (let k = sizes.length - 1; k >= 0; k--) {
    at[k] = rest % sizes[k]!;
    rest = Math.floor(rest / sizes[k]!);
  }
  const vary = dims.map((v, k) => ` ${v.field} point ${at[k + 1]! + 1}/${v.count}`).join('');
  return `${i} (${id.variants[at[0]!] ?? '?'}${vary} ${id.combinations[at[sizes.length - 1]!]})`;
}

function missingText(missing: readonly number[], points: number, identity: GridIdentity, shardCounts: ReadonlySet<number>): string {
  const parts: string[] = [];
  let rest = [...missing];
  if (shardCounts.size === 1) {
    const count = [...shardCounts][0]!;
    const gone = new Set(missing);
    const shards: number[] = [];
    for (let s = 0; s < count; s++) {
      const own = Array.from({ length: points }, (_, p) => p).filter((p) => p % count === s);
      if (own.length > 0 && own.every((p) => gone.has(p))) shards.push(s);
    }
    if (shards.length > 0) {
      parts.push(`shard${shards.length > 1 ? 's' : ''} ${shards.map((s) => `${s}/${count}`).join(', ')}`);
      rest = rest.filter((p) => !shards.includes(p % count));
    }
  }
  if (rest.length > 0) {
    const shown = rest.slice(0, 8).map((p) => describePoint(p, identity));
    parts.push(`point${rest.length > 1 ? 's' : ''} ${shown.join(', ')}${rest.length > 8 ? `, and ${rest.length - 8} more` : ''}`);
  }
  return `${missing.length} of ${points} points missing: ${parts.join('; ')}`;
}

/**
 * Joins the rows of sweep shards into one set in grid order. Refuses (E_CONFIG, naming the
 * first difference) rows of different experiments, a point given twice (the same shard given
 * twice), rows without a grid record, and, unless `allowPartial`, an incomplete set (naming
 * the missing shards and points). The merged rows carry no shard.
 */
export function mergeResultSets(sources: readonly ResultSource[], o: { allowPartial?: boolean } = {}): MergedSet {
  const all = sources.flatMap((s) => s.rows.map((row) => ({ row, from: s.name })));
  if (all.length === 0) return { rows: [], missing: [] };
  const unrecorded = all.find((x) => x.row.experiment === undefined);
  if (unrecorded) {
    if (!o.allowPartial || all.some((x) => x.row.experiment !== undefined))
      throw new VhwError(
        'E_CONFIG',
        `merge: ${unrecorded.from} holds rows without a grid record (written by an older vhw), so they cannot be checked to form one experiment; ` +
          'run the shards again, or pass --allow-partial to merge them unchecked',
      );
    return { rows: orderResults(all.map((x) => x.row)), missing: [] };
  }
  const first = all[0]!;
  const ref = first.row.experiment!;
  const byPoint = new Map<number, string>();
  const shardCounts = new Set<number>();
  for (const { row, from } of all) {
    const e = row.experiment!;
    const diff =
      identityDifference(e.identity, ref.identity) ??
      (e.points !== ref.points ? { a: `${e.points} points`, b: `${ref.points} points` } : undefined);
    if (diff) {
      throw new VhwError(
        'E_CONFIG',
        from === first.from
          ? `merge: ${from} holds rows of two experiments: one made with ${diff.b}, another with ${diff.a}`
          : `merge: shard ${from} was made with ${diff.a}, ${first.from} with ${diff.b}; they are not parts of one experiment`,
      );
    }
    if (!Number.isInteger(e.point) || e.point < 0 || e.point >= ref.points)
      throw new VhwError('E_CONFIG', `merge: ${from} holds point ${e.point}, outside the grid of ${ref.points} points`);
    const seen = byPoint.get(e.point);
    if (seen !== undefined)
      throw new VhwError(
        'E_CONFIG',
        `merge: point ${describePoint(e.point, ref.identity)} is in ${seen === from ? `${from} twice` : `both ${seen} and ${from}`}; was a shard given twice?`,
      );
    byPoint.set(e.point, from);
    if (e.shard) shardCounts.add(e.shard.count);
  }
  const missing = Array.from({ length: ref.points }, (_, p) => p).filter((p) => !byPoint.has(p));
  const text = missing.length > 0 ? missingText(missing, ref.points, ref.identity, shardCounts) : undefined;
  if (text && !o.allowPartial) throw new VhwError('E_CONFIG', `merge: incomplete: ${text}; pass --allow-partial to merge what is there`);
  const rows = all
    .map((x) => x.row)
    .sort((a, b) => a.experiment!.point - b.experiment!.point)
    .map((r) => {
      const { shard: _shard, ...experiment } = r.experiment!;
      return { ...r, experiment };
    });
  return {
    rows,
    experiment: { id: ref.id, identity: ref.identity, points: ref.points, scenarioRef: ref.scenarioRef },
    missing,
    ...(text ? { missingText: text } : {}),
  };
}
