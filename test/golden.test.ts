/**
 * Golden sweeps: every built-in scenario, all 8 patch combinations, both variants, as the
 * CLI's JSON contract prints them. A refactor changes no result; these files catch it.
 *
 * The oracle is the checked-in file (made by an earlier version of vhw), not the code under
 * test. Regenerate only on purpose, when a result is meant to change, and say why in the
 * commit: `VHW_UPDATE_GOLDEN=1 npx vitest run test/golden.test.ts`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { goldenRow } from './golden-row';

const ROOT = resolve(__dirname, '..');
const BIN = join(ROOT, 'packages/cli/bin/vhw.mjs');
const GOLDEN = join(ROOT, 'test/golden');
const UPDATE = process.env.VHW_UPDATE_GOLDEN === '1';
/** Simulated time is a sum of many charges: equal up to this relative difference. */
const REL = 1e-9;

const scenarios = readdirSync(join(ROOT, 'packages/scenarios/src'))
  .filter((f) => f.endsWith('.ts'))
  .map((f) => f.replace(/\.ts$/, ''))
  .sort();

function sweep(name: string): Record<string, unknown>[] {
  const r = spawnSync(process.execPath, [BIN, 'sweep', name, '--variant', 'both', '--format', 'json'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, NO_COLOR: '1' },
  });
  if (r.status !== 0) throw new Error(`vhw sweep ${name} exited ${r.status}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as Record<string, unknown>[]).map(goldenRow);
}

/** Deep equality with numbers compared to a relative tolerance; the path names the first difference. */
function compare(actual: unknown, expected: unknown, path: string): string | undefined {
  if (typeof expected === 'number' && typeof actual === 'number') {
    if (Number.isInteger(expected) && Number.isInteger(actual))
      return actual === expected ? undefined : `${path}: ${actual} != ${expected}`;
    const scale = Math.max(Math.abs(expected), Math.abs(actual), Number.MIN_VALUE);
    return Math.abs(actual - expected) / scale <= REL
      ? undefined
      : `${path}: ${actual} != ${expected} (relative ${Math.abs(actual - expected) / scale})`;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return `${path}: not an array`;
    if (actual.length !== expected.length) return `${path}: length ${actual.length} != ${expected.length}`;
    for (let i = 0; i < expected.length; i++) {
      const d = compare(actual[i], expected[i], `${path}[${i}]`);
      if (d) return d;
    }
    return undefined;
  }
  if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return `${path}: not an object`;
    const a = actual as Record<string, unknown>;
    const e = expected as Record<string, unknown>;
    const keys = new Set([...Object.keys(a), ...Object.keys(e)]);
    for (const k of [...keys].sort()) {
      const d = compare(a[k], e[k], `${path}.${k}`);
      if (d) return d;
    }
    return undefined;
  }
  return actual === expected ? undefined : `${path}: ${JSON.stringify(actual)} != ${JSON.stringify(expected)}`;
}

describe('golden sweeps of the built-in scenarios', () => {
  it('covers every built-in scenario', () => {
    expect(scenarios.length).toBeGreaterThanOrEqual(7);
    if (!UPDATE) for (const s of scenarios) expect(existsSync(join(GOLDEN, `${s}.json`)), `test/golden/${s}.json`).toBe(true);
  });

  for (const name of scenarios) {
    it(`${name}: --variant both gives the recorded results`, () => {
      const rows = sweep(name);
      const file = join(GOLDEN, `${name}.json`);
      if (UPDATE) writeFileSync(file, `${JSON.stringify(rows, null, 2)}\n`);
      const expected = JSON.parse(readFileSync(file, 'utf8')) as unknown;
      expect(rows.length).toBe(16);
      expect(compare(rows, expected, name)).toBeUndefined();
    });
  }
});
