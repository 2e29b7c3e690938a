/**
 * vhw as someone outside this repository gets it: build, `npm pack` every package (and the
 * third-party example plugin examples/custom-device), install the tarballs into an empty
 * project outside the workspace whose package.json is what `npm init -y` writes
 * (`"type": "commonjs"` with npm 11), and use the `vhw` command there. The README's section
 * "Using vhw in your own project" lists the same steps.
 *
 * The install is `--prefer-offline`: packages come from the npm cache `npm ci` filled, and
 * only the registry `npm ci` used is asked for what the cache lacks (package metadata).
 * Building, packing and installing take about a minute; set VHW_SKIP_PACK=1 to skip.
 */
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..');
const SKIP = process.env.VHW_SKIP_PACK === '1';

/** The package folders that ship: every non-private workspace package, and the example plugin. */
function shippedPackageDirs(): string[] {
  const dirs = ['packages', 'plugins'].flatMap((top) => readdirSync(join(ROOT, top)).map((d) => join(top, d)));
  return [...dirs, 'examples/custom-device'].filter((d) => {
    const manifest = join(ROOT, d, 'package.json');
    if (!existsSync(manifest)) return false;
    const p = JSON.parse(readFileSync(manifest, 'utf8')) as { private?: boolean; name: string };
    return p.private !== true || d === 'examples/custom-device';
  });
}

/**
 * The environment of a command run in the user's project: without the npm_* variables of an
 * enclosing `npm test` (npm_config_local_prefix would point npm back at the workspace), nor
 * the switch that makes the workspace's own bin run its dist/.
 */
function userEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && k !== 'VHW_BUILT' && k !== 'NODE_OPTIONS') env[k] = v;
  return { ...env, NO_COLOR: '1' };
}

interface Ran {
  code: number | null;
  out: string;
  err: string;
}

function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = userEnv()): Ran {
  const r: SpawnSyncReturns<string> = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 240_000, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status, out: r.stdout ?? '', err: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

function ok(r: Ran, what: string): Ran {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}:\n${r.out}\n${r.err}`);
  return r;
}

let work = '';
let project = '';
let tarballs: { dir: string; file: string; files: string[] }[] = [];

/** `npx vhw ARGS` in the user's project: the bin of the installed package. */
function vhw(...args: string[]): Ran {
  return sh('npx', ['vhw', ...args], project);
}

/** Each command takes a few seconds of a busy machine; a sweep over worker threads more. */
const SLOW = 240_000;

describe.skipIf(SKIP)('vhw packed and installed in an empty project', () => {
  beforeAll(() => {
    ok(sh('npm', ['run', 'build'], ROOT, { ...process.env, NO_COLOR: '1' }), 'npm run build');
    work = mkdtempSync(join(tmpdir(), 'vhw-pack-'));
    expect(relative(ROOT, work).startsWith('..')).toBe(true);
    const packed = join(work, 'tarballs');
    mkdirSync(packed);
    const dirs = shippedPackageDirs();
    const r = ok(sh('npm', ['pack', '--json', '--pack-destination', packed, ...dirs.map((d) => `./${d}`)], ROOT), 'npm pack');
    const list = JSON.parse(r.out) as { name: string; filename: string; files: { path: string }[] }[];
    const nameOf = (d: string) => (JSON.parse(readFileSync(join(ROOT, d, 'package.json'), 'utf8')) as { name: string }).name;
    tarballs = dirs.map((dir) => {
      const t = list.find((x) => x.name === nameOf(dir));
      if (!t) throw new Error(`npm pack made no tarball for ${dir}`);
      return { dir, file: join(packed, t.filename), files: t.files.map((f) => f.path) };
    });
    project = join(work, 'my-project');
    mkdirSync(project);
    ok(sh('npm', ['init', '-y'], project), 'npm init -y');
    ok(
      sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', ...tarballs.map((t) => t.file)], project),
      'npm install of the tarballs',
    );
  }, 600_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  }, SLOW);

  it('every tarball ships its LICENSE, metadata and the built files its exports name', () => {
    expect(tarballs.length).toBeGreaterThanOrEqual(13);
    for (const t of tarballs) {
      const p = JSON.parse(readFileSync(join(ROOT, t.dir, 'package.json'), 'utf8')) as {
        license?: string;
        repository?: unknown;
        keywords?: string[];
        exports: Record<string, string | Record<string, string>>;
      };
      expect(t.files, t.dir).toContain('LICENSE');
      expect(p.license, t.dir).toBe('MIT');
      expect(p.repository, t.dir).toBeTruthy();
      expect(p.keywords?.length, t.dir).toBeGreaterThan(0);
      expect(
        t.files.some((f) => f.startsWith('src/')),
        `${t.dir} ships no sources`,
      ).toBe(false);
      for (const [key, target] of Object.entries(p.exports)) {
        if (typeof target === 'string' || key.includes('*')) continue;
        for (const cond of ['types', 'import']) expect(t.files, `${t.dir} ${key} ${cond}`).toContain(target[cond]!.replace(/^\.\//, ''));
      }
    }
  });

  it('npm init -y wrote a CommonJS project', () => {
    expect(JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')).type).toBe('commonjs');
  });

  it(
    'npx vhw --version and --help run the built command',
    () => {
      const version = (JSON.parse(readFileSync(join(ROOT, 'packages/cli/package.json'), 'utf8')) as { version: string }).version;
      const v = vhw('--version');
      expect(v.code, v.err).toBe(0);
      expect(v.out.trim()).toBe(version);
      const r = vhw('--help');
      expect(r.code, r.err).toBe(0);
      expect(r.out).toMatch(/Usage: vhw/);
      expect(r.out).toMatch(/sweep/);
    },
    SLOW,
  );

  it(
    'npx vhw list shows the built-in scenarios and plugins',
    () => {
      const r = vhw('list');
      expect(r.code, r.err).toBe(0);
      for (const s of ['ppc64-mixed', 'ppc64-nvme', 'generic-nvme']) expect(r.out).toContain(s);
      for (const p of ['platform-ppc64', 'platform-generic', 'platform-arm64', 'vfio-pci', 'nvme-lite', 'nic-lite'])
        expect(r.out).toContain(p);
      // The packed third-party plugin is found by its package manifest, not by its scope.
      expect(r.out).toContain('rng-lite');
      const one = vhw('list', 'rng-lite');
      expect(one.code, one.err).toBe(0);
      expect(one.out).toMatch(/vhw-example-custom-device/);
    },
    SLOW,
  );

  it(
    'npx vhw sweep ppc64-nvme prints the 8 combinations, serially and over worker threads',
    () => {
      const r = vhw('sweep', 'ppc64-nvme', '--no-progress');
      expect(r.code, r.err).toBe(0);
      expect(r.out.split('\n').filter((l) => l.includes('│ ppc64-nvme │'))).toHaveLength(8);
      const serial = JSON.parse(vhw('sweep', 'ppc64-nvme', '--format', 'json', '--no-progress').out) as unknown[];
      const threaded = vhw('sweep', 'ppc64-nvme', '--format', 'json', '--jobs', '2', '--no-progress');
      expect(threaded.code, threaded.err).toBe(0);
      expect(serial).toHaveLength(8);
      expect(JSON.parse(threaded.out)).toEqual(serial);
    },
    SLOW,
  );

  it(
    "runs the user's own .ts scenario with the packed custom-device plugin",
    () => {
      writeFileSync(
        join(project, 'rng.ts'),
        `import { defineScenario, passthroughMachine } from '@vhw/experiment';
import { rngLite } from 'vhw-example-custom-device';

export default defineScenario({
  name: 'my-rng',
  description: 'rng-lite on ppc64',
  ops: 500,
  machine: (config) => passthroughMachine({ platform: 'ppc64', devices: [rngLite({ poolWords: 32 })] }, config),
});
`,
      );
      const r = vhw('sweep', './rng.ts', '--format', 'json', '--no-progress', '--jobs', '2');
      expect(r.code, r.err).toBe(0);
      const rows = JSON.parse(r.out) as { scenario: string; workload: { completed: number } }[];
      expect(rows).toHaveLength(8);
      expect(rows.every((x) => x.scenario === 'my-rng' && x.workload.completed === 500)).toBe(true);
    },
    SLOW,
  );

  it(
    'a scenario file with a syntax error exits 2 naming file:line',
    () => {
      writeFileSync(
        join(project, 'broken.ts'),
        `import { defineScenario } from '@vhw/experiment';\nexport default defineScenario({ name: 'x', machine: ( => });\n`,
      );
      const r = vhw('run', 'broken.ts');
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/broken\.ts:2:\d+/);
      expect(r.err).not.toMatch(/internal error/);
    },
    SLOW,
  );

  it(
    'vhw new device writes a plugin package whose test and sweep pass with the same tarballs',
    () => {
      ok(vhw('new', 'device', 'demo-dev'), 'vhw new device demo-dev');
      const dev = join(project, 'demo-dev');
      // As the scaffold's README says: vhw is installed from its tarballs.
      ok(
        sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', ...tarballs.map((t) => t.file)], dev),
        'npm install in demo-dev',
      );
      ok(sh('npm', ['test'], dev), 'npm test in demo-dev');
      const r = sh('npx', ['vhw', 'sweep', 'scenario.ts', '--no-progress'], dev);
      expect(r.code, r.err).toBe(0);
      const rows = r.out.split('\n').filter((l) => l.startsWith('│') && l.includes('│ rfc-2015 │'));
      expect(rows).toHaveLength(8);
    },
    SLOW * 2,
  );
});
