/**
 * Scenario files from anywhere: a `.ts`, `.mts`, `.js` or `.mjs` file in a directory outside
 * the workspace, in a project whose package.json says `"type": "commonjs"` (what npm 11's
 * `npm init -y` writes), runs with `vhw run FILE`; its imports resolve from the file's own
 * location, falling back to vhw's own packages. Errors name the file and line, and an
 * exception of the user's own code exits 2, not 70 (internal error).
 *
 * test/pack-install.test.ts does the same from the installed tarballs; this runs the
 * workspace's command (sources), so it needs no build.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..');
const BIN = join(ROOT, 'packages/cli/bin/vhw.mjs');
const SLOW = 120_000;

const project = mkdtempSync(join(tmpdir(), 'vhw-user-project-'));
writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'my-project', version: '1.0.0', type: 'commonjs' }));
mkdirSync(join(project, 'lib'));
afterAll(() => rmSync(project, { recursive: true, force: true }));

function vhw(...args: string[]): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: project,
    encoding: 'utf8',
    timeout: SLOW,
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** A scenario module's text; `typed` adds TypeScript-only syntax. */
function scenarioText(name: string, typed: boolean): string {
  return `import { nvmeLite } from '@vhw/device-nvme-lite';
import { defineScenario, passthroughMachine } from '@vhw/experiment';
import { layout } from './lib/layout${typed ? '.ts' : '.mjs'}';

const ops${typed ? ': number' : ''} = 300;
export default defineScenario({
  name: '${name}',
  description: 'one NVMe controller',
  ops,
  machine: (config) => passthroughMachine({ platform: 'ppc64', devices: [nvmeLite({ name: 'nvme0', layout })] }, config),
});
`;
}
writeFileSync(join(project, 'lib/layout.ts'), `export const layout: 'bar0-16k' = 'bar0-16k';\n`);
writeFileSync(join(project, 'lib/layout.mjs'), `export const layout = 'bar0-16k';\n`);

describe('vhw run FILE from a CommonJS project outside the workspace', () => {
  for (const ext of ['ts', 'mts', 'js', 'mjs']) {
    it(
      `runs a .${ext} scenario that imports packages and the user's own modules`,
      () => {
        const file = join(project, `my-nvme-${ext}.${ext}`);
        writeFileSync(file, scenarioText(`my-nvme-${ext}`, ext.endsWith('ts')));
        const r = vhw('run', file, '--format', 'json');
        expect(r.code, r.err).toBe(0);
        const result = JSON.parse(r.out) as { scenario: string; workload: { completed: number } };
        expect(result.scenario).toBe(`my-nvme-${ext}`);
        expect(result.workload.completed).toBe(300);
      },
      SLOW,
    );
  }

  it(
    'a syntax error shows the compiler message at file:line:col and exits 2',
    () => {
      writeFileSync(
        join(project, 'syntax.ts'),
        `import { defineScenario } from '@vhw/experiment';\nexport default defineScenario({ name: 'x', machine: ( => });\n`,
      );
      const r = vhw('run', 'syntax.ts');
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/scenario file syntax\.ts failed to load: syntax\.ts:2:\d+: Unexpected "=>"/);
      expect(r.err).not.toMatch(/internal error|\n\s+at /);
    },
    SLOW,
  );

  it(
    'an import that resolves nowhere names file:line:col',
    () => {
      writeFileSync(join(project, 'missing.ts'), `import { nope } from 'no-such-package';\nexport default nope;\n`);
      const r = vhw('run', 'missing.ts');
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/missing\.ts:1:\d+: Could not resolve "no-such-package"/);
    },
    SLOW,
  );

  it(
    'a default export of the wrong shape says what is expected',
    () => {
      writeFileSync(join(project, 'shape.mjs'), `export default { name: 'half', ops: 10 };\n`);
      const r = vhw('run', 'shape.mjs');
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/shape\.mjs exports no scenario: its default export lacks machine/);
      expect(r.err).toMatch(/expected export default defineScenario\(\{ name, description, ops, machine\(config\) \}\)/);
    },
    SLOW,
  );

  it(
    "an exception in the user's machine() shows the user's line and exits 2, not 70",
    () => {
      writeFileSync(
        join(project, 'throws.ts'),
        `import { defineScenario } from '@vhw/experiment';

export default defineScenario({
  name: 'throws',
  description: 'a machine() with a bug',
  ops: 10,
  machine: () => {
    throw new TypeError('no devices yet');
  },
});
`,
      );
      const r = vhw('run', 'throws.ts');
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/scenario file throws\.ts: machine\(\) threw: no devices yet \(at throws\.ts:8:11\)/);
      expect(r.err).not.toMatch(/internal error/);
    },
    SLOW,
  );

  it(
    "an exception while the file loads shows the user's line",
    () => {
      writeFileSync(join(project, 'load-throws.mjs'), `const x = 1;\nif (x) throw new Error('boom while loading');\nexport default {};\n`);
      const r = vhw('run', 'load-throws.mjs');
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/failed to load: boom while loading \(at load-throws\.mjs:2:\d+\)/);
    },
    SLOW,
  );
});
