/**
 * Joining shards: only the points of one grid, each once, all of them unless a partial set is
 * asked for. Rows are stamped as `vhw sweep` stamps them; their measurements do not matter here.
 */
import { describe, expect, it } from 'vitest';
import type { RunResult } from './result.js';
import { type SweepDescription, mergeResultSets, stampExperiment } from './result-set.js';
import type { Scenario } from './scenario.js';
import { parseVary, shardOf, sweepGrid } from './sweep.js';

const scenario: Scenario = { name: 'ppc64-nvme', description: 'test', ops: 100, machine: () => [] };
const base: SweepDescription = { scenario, scenarioRef: 'ppc64-nvme', variants: ['rfc-2015'], seed: 1, costs: {} };

/** The rows of shard `index` of `count` of the sweep `d`. */
function shard(d: SweepDescription, index: number, count: number): RunResult[] {
  const grid = sweepGrid(scenario.name, d.variants, d.vary);
  const points = shardOf(grid, { index, count });
  const rows = points.map(
    (p) =>
      ({
        scenario: p.scenario,
        platform: { name: 'ppc64', pageSize: 65536, eeh: true },
        variant: p.variant,
        patches: p.patches,
      }) as unknown as RunResult,
  );
  return stampExperiment(rows, points, d, grid.length, { index, count });
}

describe('mergeResultSets', () => {
  it('joins the shards of one grid in grid order, without their shard records', () => {
    const m = mergeResultSets([
      { name: 'b.json', rows: shard(base, 1, 2) },
      { name: 'a.json', rows: shard(base, 0, 2) },
    ]);
    expect(m.rows.map((r) => r.experiment?.point)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(m.rows.every((r) => r.experiment?.shard === undefined)).toBe(true);
    expect(m.missing).toEqual([]);
  });

  it('refuses shards of another experiment, naming the first difference', () => {
    const other = (d: Partial<SweepDescription>) => () =>
      mergeResultSets([
        { name: 'a.json', rows: shard(base, 0, 2) },
        { name: 'b.json', rows: shard({ ...base, ...d }, 1, 2) },
      ]);
    expect(other({ ops: 500 })).toThrow('shard b.json was made with --ops 500, a.json with --ops 100');
    expect(other({ costs: { 'vfio.fdRwCycles': 3000 } })).toThrow(
      'b.json was made with --set cost.vfio.fdRwCycles=3000, a.json with no --set',
    );
    expect(other({ variants: ['rfc-2015', 'upstream'] })).toThrow('--variant both, a.json with --variant rfc-2015');
    expect(other({ vary: parseVary('cost.exit.userspaceFactor=1,3') })).toThrow(/--vary cost\.exit\.userspaceFactor \(2 points, 1\.\.3/);
  });

  it('refuses a point given twice', () => {
    const a = shard(base, 0, 2);
    expect(() =>
      mergeResultSets([
        { name: 'a.json', rows: a },
        { name: 'b.json', rows: shard(base, 1, 2) },
        { name: 'c.json', rows: a },
      ]),
    ).toThrow('point 0 (rfc-2015 none) is in both a.json and c.json; was a shard given twice?');
  });

  it('refuses an incomplete set naming the missing shards, and merges it when a partial set is allowed', () => {
    const sources = [0, 2].map((i) => ({ name: `s${i}.json`, rows: shard(base, i, 4) }));
    expect(() => mergeResultSets(sources)).toThrow('incomplete: 4 of 8 points missing: shards 1/4, 3/4; pass --allow-partial');
    const m = mergeResultSets(sources, { allowPartial: true });
    expect(m.missing).toEqual([1, 3, 5, 7]);
    expect(m.rows).toHaveLength(4);
    expect(m.missingText).toBe('4 of 8 points missing: shards 1/4, 3/4');
  });

  it('refuses rows without a grid record unless a partial set is allowed', () => {
    const old = shard(base, 0, 1).map(({ experiment: _e, ...r }) => r);
    expect(() => mergeResultSets([{ name: 'old.json', rows: old }])).toThrow(/old\.json holds rows without a grid record/);
    expect(mergeResultSets([{ name: 'old.json', rows: old }], { allowPartial: true }).rows).toHaveLength(8);
  });
});
