// Runs every example script (examples/*.ts) as a smoke test, so examples cannot rot. New
// scripts are picked up automatically. Subdirectories are not scripts:
// examples/custom-device is a package with its own tests.
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const scripts = readdirSync(join(root, 'examples'), { withFileTypes: true })
  .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts'))
  .map((e) => join('examples', e.name))
  .sort();

function run(script: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', '--conditions=vhw-source', script],
      { cwd: root, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
      (error, _stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ code, stderr });
      },
    );
  });
}

describe('examples', () => {
  it('finds the example scripts', () => {
    expect(scripts).toContain(join('examples', 'core-toy-device.ts'));
    expect(scripts.every((s) => !s.includes('custom-device'))).toBe(true);
  });

  it.concurrent.each(scripts)(
    '%s runs to completion with exit code 0',
    async (script) => {
      const { code, stderr } = await run(script);
      expect(code, `${script} failed:\n${stderr}`).toBe(0);
    },
    90_000,
  );
});
