/**
 * Grids of several `--vary` (issue 16 item 3): the product of the dimensions, each point equal
 * to the single run with the same values set with `--set`; plugin options as dimensions, their
 * values checked by the plugin's schema before any run; range points as the user wrote them.
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type RunResult,
  executeGrid,
  loadScenario,
  parseSetOptions,
  parseVary,
  parseVaryDimensions,
  runExperiment,
  sweepGrid,
  threadsFor,
} from '@vhw/experiment';

const ROOT = resolve(__dirname, '..');
const BIN = join(ROOT, 'packages/cli/bin/vhw.mjs');

/** A row without what only a sweep records (its vary point, grid record) or what varies by run time. */
function measured(r: RunResult): Omit<RunResult, 'vary' | 'experiment' | 'pluginOverrides'> {
  const { vary: _v, experiment: _e, pluginOverrides: _p, ...rest } = r;
  return rest;
}

describe('sweep grids', () => {
  it('runs the product of the dimensions, each point equal to the single run with both values set', async () => {
    const scenario = await loadScenario('ppc64-nvme');
    const dims = parseVaryDimensions(['cost.guest.ioStackNs=0..2000', 'nvme0.layout=bar0-64k,bar0-16k'], [3]);
    const points = sweepGrid(scenario.name, ['rfc-2015'], dims);
    expect(points).toHaveLength(3 * 2 * 8);
    // The first dimension varies slowest, the combinations fastest.
    expect(points.slice(0, 9).map((p) => p.vary!.map((v) => v.value))).toEqual([...Array(8).fill([0, 'bar0-64k']), [0, 'bar0-16k']]);
    const rows = await executeGrid(scenario, points, { scenarioRef: 'ppc64-nvme', costs: {}, seed: 1, jobs: 1, ops: 32 });
    for (const [i, p] of points.entries()) {
      const [cost, layout] = p.vary!;
      expect(rows[i]!.vary).toEqual([
        { field: 'guest.ioStackNs', value: cost!.value },
        { field: 'nvme0.layout', value: layout!.value },
      ]);
      const sets = parseSetOptions([`cost.guest.ioStackNs=${cost!.value}`, `nvme0.layout=${layout!.value}`]);
      const single = runExperiment(
        scenario,
        { patches: p.patches, variant: p.variant, seed: 1 },
        { ops: 32, costs: sets.costs, pluginSets: sets.pluginSets },
      );
      expect(measured(rows[i]!), `point ${i}`).toEqual(measured(single));
    }
  }, 240_000);

  it('gives the same rows over two worker threads (the bundled worker) as serially', async () => {
    const scenario = await loadScenario('ppc64-nvme');
    const points = sweepGrid(
      scenario.name,
      ['rfc-2015'],
      parseVaryDimensions(['nvme0.layout=bar0-64k,bar0-16k', 'cost.guest.ioStackNs=0,5000']),
    );
    const o = { scenarioRef: 'ppc64-nvme', costs: {}, seed: 1, ops: 32 };
    const serial = await executeGrid(scenario, points, { ...o, jobs: 1 });
    const streamed: number[] = [];
    const threaded = await executeGrid(scenario, points, { ...o, jobs: 2, onRow: (_r, i) => streamed.push(i) });
    expect(threaded).toEqual(serial);
    // Rows are handed on in grid order, each once, whatever order the threads finish in.
    expect(streamed).toEqual(points.map((p) => p.index));
    expect(threadsFor(16, 2)).toBe(1);
    expect(threadsFor(128, 2)).toBe(2);
  }, 240_000);

  it('records the vary point on the rows of a VMM that refused the device, as on measured rows', async () => {
    const scenario = await loadScenario('ppc64-nvme');
    const dims = parseVaryDimensions(['cost.guest.ioStackNs=0,1000']);
    const points = sweepGrid(scenario.name, ['rfc-2015'], dims, [undefined], ['kvmtool']);
    const rows = await executeGrid(scenario, points, { scenarioRef: 'ppc64-nvme', costs: {}, seed: 1, jobs: 1, ops: 8 });
    expect(rows.some((r) => r.rejected)).toBe(true);
    for (const [i, p] of points.entries()) expect(rows[i]!.vary).toEqual(p.vary!.map(({ field, value }) => ({ field, value })));
  }, 120_000);

  it('refuses a plugin value its schema refuses before any run, naming the field and what is allowed', () => {
    const r = spawnSync(process.execPath, [BIN, 'sweep', 'ppc64-nvme', '--vary', 'nvme0.layout=bar0-64k,bar0-8k', '--no-progress'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--vary nvme0\.layout: value "bar0-8k".*layout.*bar0-16k.*bar0-64k/);
    expect(r.stdout).toBe('');
  }, 60_000);

  it('spaces range points as written and takes --steps per range dimension', () => {
    expect(parseVary('cost.a=0..1', 4).values).toEqual([0, 0.333, 0.667, 1]);
    expect(parseVary('cost.a=0.1..0.3', 3).values).toEqual([0.1, 0.2, 0.3]);
    expect(parseVary('cost.a=1..1000', 4, true).values).toEqual([1, 10, 100, 1000]);
    expect(parseVary('cost.a=0..20000', 7).values).toEqual([0, 3333, 6667, 10000, 13333, 16667, 20000]);
    const dims = parseVaryDimensions(['cost.a=0..10', 'nvme0.layout=x,y', 'cost.b=1..2'], [3, 2]);
    expect(dims.map((d) => d.values.length)).toEqual([3, 2, 2]);
    expect(() => parseVaryDimensions(['cost.a=0..10', 'cost.b=1..2'], [3, 2, 4])).toThrow(/3 counts for 2 range --vary/);
    expect(() => parseVaryDimensions(['cost.a=0..10', 'cost.a=1,2'])).toThrow(/cost\.a|given twice/);
  });
});
