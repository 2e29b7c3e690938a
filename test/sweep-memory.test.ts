/**
 * A sweep keeps no machine once its row is taken (issue 16 item 1): the heap after many runs
 * is about what it was after a few. A coarse bound, never a timing: before the fix every run
 * kept its whole machine (about 0.2 MB of heap each, 20 MB over the 100 runs measured here).
 */
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { executeGrid, loadScenario, parseVary, sweepGrid } from '@vhw/experiment';

/** A full collection, whether or not node was started with --expose-gc. */
function collect(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('sweep memory', () => {
  it('keeps the heap flat over 120 runs', async () => {
    const scenario = await loadScenario('ppc64-nvme');
    const points = sweepGrid(scenario.name, ['rfc-2015'], parseVary('cost.guest.ioStackNs=0..20000', 15));
    const heap: number[] = [];
    await executeGrid(scenario, points, {
      scenarioRef: 'ppc64-nvme',
      costs: {},
      seed: 1,
      jobs: 1,
      ops: 16,
      onProgress: (done) => {
        if (done === 20 || done === points.length) {
          collect();
          heap.push(process.memoryUsage().heapUsed);
        }
      },
    });
    expect(points.length).toBe(120);
    const grewMb = (heap[1]! - heap[0]!) / 1e6;
    expect(grewMb, `heap grew ${grewMb.toFixed(1)} MB over 100 runs`).toBeLessThan(6);
  }, 120_000);
});
