/**
 * `vhw new device NAME [DIR]` writes a plugin package that passes its own test and sweeps
 * right away. Generated inside the workspace (test/.scratch), so @vhw/* resolve to the
 * workspace's sources; the installed-from-tarballs case is the packaging acceptance test.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..');
const BIN = join(ROOT, 'packages/cli/bin/vhw.mjs');
mkdirSync(join(ROOT, 'test/.scratch'), { recursive: true });
const tmp = mkdtempSync(join(ROOT, 'test/.scratch/new-device-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function run(cwd: string, args: string[], env: Record<string, string> = {}): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: 180_000, env: { ...process.env, ...env } });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

describe('vhw new device', () => {
  it('writes a package that passes its own test and sweeps the 8 combinations', () => {
    const made = run(tmp, [BIN, 'new', 'device', 'demo-dev']);
    expect(made.err).toBe('');
    expect(made.code).toBe(0);
    const dir = join(tmp, 'demo-dev');
    for (const f of [
      'package.json',
      'README.md',
      'scenario.ts',
      '.gitignore',
      'src/device.ts',
      'src/driver.ts',
      'src/plugin.ts',
      'src/device.test.ts',
    ])
      expect(existsSync(join(dir, f)), f).toBe(true);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      name: string;
      vhw: unknown;
      scripts: Record<string, string>;
    };
    expect(pkg).toMatchObject({ name: 'demo-dev', vhw: { plugins: ['.'] }, scripts: { test: 'vitest run' } });
    expect(readFileSync(join(dir, 'README.md'), 'utf8')).toMatch(/npm install \.\.\/vhw\/\*\.tgz/);

    // Its test, with the workspace's sources (installed, @vhw/* are built JavaScript and need no config).
    writeFileSync(
      join(dir, 'vitest.config.mts'),
      "export default { resolve: { conditions: ['vhw-source'] }, ssr: { resolve: { conditions: ['vhw-source'] } }, oxc: { decorator: { legacy: true } } };\n",
    );
    const test = run(dir, [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run']);
    expect(test.out + test.err).toMatch(/3 passed/);
    expect(test.code).toBe(0);

    // Its scenario. The workspace's decorators need the workspace's tsconfig, which the
    // package's own tsconfig would hide from tsx here.
    const sweep = run(dir, [BIN, 'sweep', 'scenario.ts', '--ops', '200', '--format', 'json'], {
      TSX_TSCONFIG_PATH: join(ROOT, 'tsconfig.json'),
    });
    expect(sweep.err).toBe('');
    const results = JSON.parse(sweep.out) as Array<{ scenario: string; workload: { completed: number; failed: number } }>;
    expect(results).toHaveLength(8);
    for (const r of results) expect(r).toMatchObject({ scenario: 'demo-dev-ppc64', workload: { completed: 200, failed: 0 } });
  }, 300_000);

  it('refuses a name npm would refuse, an existing non-empty folder and an unknown kind, with exit 2', () => {
    const bad = run(tmp, [BIN, 'new', 'device', 'Demo Dev']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/package name "Demo Dev"; allowed: an npm package name/);
    mkdirSync(join(tmp, 'taken'));
    writeFileSync(join(tmp, 'taken/file'), 'x');
    const taken = run(tmp, [BIN, 'new', 'device', '@acme/demo', 'taken']);
    expect(taken.code).toBe(2);
    expect(taken.err).toMatch(/taken exists and is not empty/);
    expect(run(tmp, [BIN, 'new', 'board', 'x']).err).toMatch(/vhw new board; allowed: device/);
  }, 120_000);
});
