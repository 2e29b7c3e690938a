/**
 * Errors under `--jobs N` come out of the worker threads as they would serially (issue 17
 * item 3), and a failing point stops the others cleanly: no new point starts, the running
 * ones are awaited, and only then is the pool destroyed.
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { Piscina } from 'piscina';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { VARIANTS, VhwError } from '@vhw/core';
import { executeGrid, loadScenario, sweepGrid } from '@vhw/experiment';

const ROOT = resolve(__dirname, '..');
const FIXTURE = join(ROOT, 'test/fixtures/scenario-fails-some-points.ts');

afterEach(() => vi.restoreAllMocks());

async function failureOf(jobs: number): Promise<unknown> {
  const scenario = await loadScenario(FIXTURE);
  const points = sweepGrid(scenario.name, [...VARIANTS]);
  try {
    await executeGrid(scenario, points, { scenarioRef: FIXTURE, costs: {}, seed: 1, jobs, ops: 16 });
  } catch (e) {
    return e;
  }
  throw new Error('the sweep did not fail');
}

describe('a failing point under --jobs', () => {
  it('rethrows the VhwError of the first failing point with its code and message, as serially', async () => {
    const serial = await failureOf(1);
    expect(VhwError.is(serial, 'E_CONFIG')).toBe(true);
    const parallel = await failureOf(2);
    expect(VhwError.is(parallel, 'E_CONFIG'), String(parallel)).toBe(true);
    expect((parallel as Error).message).toBe((serial as Error).message);
  }, 120_000);

  it('destroys the pool only once no task is in flight, starts no more points, and leaves nothing unhandled', async () => {
    // The old race: the pool was destroyed while points were still running, and a worker's
    // late answer became an uncaught "Unexpected message from Worker". Count the tasks in
    // flight when destroy() is called: the fixture fails point 0 at once while point 1 is
    // busy, so a destroy that does not wait sees one in flight on every iteration.
    const run = Piscina.prototype.run;
    const destroy = Piscina.prototype.destroy;
    let inFlight = 0;
    let started = 0;
    const inFlightAtDestroy: number[] = [];
    vi.spyOn(Piscina.prototype, 'run').mockImplementation(function (this: Piscina, ...args: Parameters<Piscina['run']>) {
      inFlight++;
      started++;
      return run.apply(this, args).finally(() => inFlight--);
    });
    vi.spyOn(Piscina.prototype, 'destroy').mockImplementation(function (this: Piscina) {
      inFlightAtDestroy.push(inFlight);
      return destroy.apply(this);
    });
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    process.on('uncaughtException', onUnhandled);
    try {
      for (let k = 0; k < 3; k++) {
        started = 0;
        const e = await failureOf(2);
        expect(VhwError.is(e, 'E_CONFIG'), String(e)).toBe(true);
        // Two lanes start points 0 and 1; point 0 fails, and the lane of point 1 may take
        // point 2 (which fails) before it sees that: no later point begins.
        expect(started).toBeGreaterThanOrEqual(2);
        expect(started).toBeLessThanOrEqual(3);
      }
      // Give a late worker message the time to arrive.
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      process.off('unhandledRejection', onUnhandled);
      process.off('uncaughtException', onUnhandled);
    }
    expect(inFlightAtDestroy).toEqual([0, 0, 0]);
    expect(unhandled).toEqual([]);
  }, 180_000);
});

describe('vhw sweep --jobs 2', () => {
  it('a bad cost override exits 2 with the same message as serially, not 70 "internal error"', () => {
    const vhw = (...args: string[]) =>
      spawnSync(process.execPath, [join(ROOT, 'packages/cli/bin/vhw.mjs'), ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    const args = ['sweep', 'ppc64-nvme', '--ops', '16', '--no-progress', '--set', 'cost.nope=1'];
    const serial = vhw(...args);
    const parallel = vhw(...args, '--jobs', '2');
    expect(serial.status).toBe(2);
    expect(parallel.stderr).not.toMatch(/internal error/);
    expect(parallel.status).toBe(2);
    expect(parallel.stderr).toBe(serial.stderr);
    expect(parallel.stderr).toMatch(/cost\.nope \(override\) is not a cost parameter; allowed: .*cost\.vfio\.fdRwCycles/);
  }, 120_000);
});
