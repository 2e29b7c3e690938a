/**
 * The sweep worker as one JavaScript file, for `--jobs N` run from the TypeScript sources.
 *
 * Why: a worker thread started from the sources registers tsx and compiles every module of
 * vhw on its own (about 1.4 s per worker on a 2-core machine), more than a 128-point sweep
 * takes to run. Instead the main thread bundles the worker and the built-in scenarios once
 * with esbuild (one copy of every vhw package, the npm packages left to Node), caches the
 * bundle, and every worker imports that plain module.
 *
 * The cache is a file in the user's temporary directory named by a hash of what the bundle is
 * made of (its entry, esbuild's and Node's versions); beside it the list of the source files
 * that went into it with their sizes and modification times. It is reused only while every
 * one of those files is unchanged, so an edited source never runs stale.
 *
 * User scenario files are not bundled: they import vhw's packages by their own file URLs,
 * which only the tsx worker (`worker-entry.mjs`) shares with them.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Plugin } from 'esbuild';
import { BUILTIN_SCENARIO_DIR, builtinScenarioNames } from './scenarios.js';

/** One source file of a bundle as it was when bundled. */
type InputStamp = [path: string, size: number, mtimeMs: number];

const here = dirname(fileURLToPath(import.meta.url));
/** The name esbuild gives the generated entry (not a file). */
const ENTRY_NAME = 'vhw-sweep-worker-entry.ts';

/** Whether a cached bundle's inputs are all as they were when it was made. */
function fresh(stampsFile: string): boolean {
  try {
    const stamps = JSON.parse(readFileSync(stampsFile, 'utf8')) as InputStamp[];
    return stamps.every(([path, size, mtimeMs]) => {
      const s = statSync(path);
      return s.size === size && s.mtimeMs === mtimeMs;
    });
  } catch {
    return false;
  }
}

/**
 * Leaves npm packages to Node, imported by absolute file URL (so the bundle runs from any
 * directory), and bundles vhw's own packages from their TypeScript sources.
 */
function externalNpmPackages(): Plugin {
  const again = Symbol('vhw-worker-resolve');
  return {
    name: 'vhw-worker-externals',
    setup(build) {
      build.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.pluginData === again || args.path.startsWith('@vhw/')) return undefined;
        if (isBuiltin(args.path)) return { path: args.path, external: true };
        const r = await build.resolve(args.path, {
          kind: args.kind,
          importer: args.importer,
          resolveDir: args.resolveDir,
          pluginData: again,
        });
        if (r.errors.length > 0) return { errors: r.errors };
        return { path: pathToFileURL(r.path).href, external: true };
      });
    },
  };
}

/**
 * The path of the bundled sweep worker (its default export runs one task, as `worker.ts`
 * does, with the built-in scenarios built in), made or taken from the cache.
 * @returns undefined when there is nothing to bundle (no sources beside this file: the built package)
 */
export async function workerBundle(): Promise<string | undefined> {
  const worker = join(here, 'worker.ts');
  if (!existsSync(worker) || BUILTIN_SCENARIO_DIR === undefined) return undefined;
  const names = builtinScenarioNames();
  const entry = [
    `import { runTaskWith } from ${JSON.stringify(worker)};`,
    ...names.map((n, i) => `import s${i} from ${JSON.stringify(join(BUILTIN_SCENARIO_DIR!, `${n}.ts`))};`),
    `export default runTaskWith({ ${names.map((n, i) => `${JSON.stringify(n)}: s${i}`).join(', ')} });`,
  ].join('\n');
  const esbuild = await import('esbuild');
  const key = createHash('sha256').update(`${entry}\0${esbuild.version}\0${process.version}`).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), `vhw-worker-${userInfo().uid}`);
  const file = join(dir, `worker-${key}.mjs`);
  const stampsFile = `${file}.inputs.json`;
  if (existsSync(file) && fresh(stampsFile)) return file;
  const result = await esbuild.build({
    stdin: { contents: entry, resolveDir: here, sourcefile: ENTRY_NAME, loader: 'ts' },
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    conditions: ['vhw-source'],
    tsconfig: resolve(here, '../../../tsconfig.json'),
    plugins: [externalNpmPackages()],
    absWorkingDir: here,
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const stamps: InputStamp[] = Object.keys(result.metafile.inputs)
    .filter((p) => !p.endsWith(ENTRY_NAME))
    .map((p) => {
      const abs = resolve(here, p);
      const s = statSync(abs);
      return [abs, s.size, s.mtimeMs];
    });
  // Written beside and renamed: another sweep may be reading the cache at the same time.
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tag = `${process.pid}-${Date.now()}`;
  writeFileSync(`${file}.${tag}`, result.outputFiles[0]!.contents);
  renameSync(`${file}.${tag}`, file);
  writeFileSync(`${stampsFile}.${tag}`, JSON.stringify(stamps));
  renameSync(`${stampsFile}.${tag}`, stampsFile);
  return file;
}
