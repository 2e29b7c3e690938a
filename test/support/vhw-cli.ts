/**
 * The vhw CLI spawned as a user runs it (from the repository's root, no colour), for the
 * end-to-end tests.
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';

/** The repository's root. */
export const ROOT = resolve(__dirname, '../..');
const BIN = join(ROOT, 'packages/cli/bin/vhw.mjs');

/** Runs `vhw ...args`; its exit code (-1 when killed) and what it printed. */
export function vhw(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}
