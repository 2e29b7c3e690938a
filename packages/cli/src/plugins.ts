import { existsSync, readFileSync, readdirSync, realpathSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { OptionDoc, PluginKind } from '@vhw/core';

/**
 * Plugin discovery by manifest. A package declares its plugins in its package.json:
 *
 * ```json
 * { "vhw": { "plugins": ["."] } }
 * ```
 *
 * Each entry is either a subpath of the package's own `exports` (`"."`, `"./plugin"`),
 * resolved with the conditions this CLI runs under (so the `vhw-source` TypeScript sources
 * in the vhw workspace, the built `import` files once installed from a tarball), or a file
 * path inside the package (`"./dist/plugin.js"`). The CLI imports each entry and takes
 * every plugin factory (made with `definePlugin`) it exports.
 */

/** The `"vhw"` field of a package.json. */
export interface VhwManifest {
  /** Entry points that export plugin factories: export subpaths or file paths in the package. */
  plugins: string[];
}

/** One installed plugin, as `vhw list` shows it. */
export interface PluginInfo {
  /** The plugin's name (`definePlugin({ name })`), also a `--set` target. */
  name: string;
  kind: PluginKind;
  /** The npm package that declares it. */
  package: string;
  description: string;
  /** One row per top-level option, from the plugin's zod schema. */
  options: OptionDoc[];
}

/** A manifest entry that could not be loaded: listed, so an author sees why a plugin is missing. */
export interface PluginProblem {
  package: string;
  entry: string;
  message: string;
}

/** What `listPlugins` found. */
export interface PluginDiscovery {
  plugins: PluginInfo[];
  problems: PluginProblem[];
}

interface FactoryLike {
  pluginName: string;
  kind: PluginKind;
  description: string;
  describeOptions(): OptionDoc[];
}

function isFactory(x: unknown): x is FactoryLike {
  const f = x as Partial<FactoryLike> | null;
  return typeof x === 'function' && typeof f?.pluginName === 'string' && typeof f?.describeOptions === 'function';
}

interface PackageJson {
  name?: unknown;
  exports?: unknown;
  vhw?: unknown;
}

/** An installed package that carries the manifest. */
interface ManifestPackage {
  name: string;
  dir: string;
  exports: unknown;
  manifest: VhwManifest;
}

/**
 * The node_modules folders to search: from the working directory upward (the user's
 * project), then from this CLI's own install location upward (vhw installed elsewhere).
 */
function nodeModulesDirs(): string[] {
  const dirs: string[] = [];
  const upward = (start: string) => {
    for (let d = start; ; d = dirname(d)) {
      const nm = join(d, 'node_modules');
      if (!dirs.includes(nm) && existsSync(nm)) dirs.push(nm);
      if (dirname(d) === d) break;
    }
  };
  upward(process.cwd());
  upward(dirname(fileURLToPath(import.meta.url)));
  return dirs;
}

/** The package folders directly in one node_modules folder (scoped ones one level down). */
function packageDirs(nodeModules: string): string[] {
  const out: string[] = [];
  for (const n of safeReaddir(nodeModules)) {
    if (n.startsWith('.')) continue;
    if (n.startsWith('@')) for (const m of safeReaddir(join(nodeModules, n))) out.push(join(nodeModules, n, m));
    else out.push(join(nodeModules, n));
  }
  return out;
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Reads a package's manifest; undefined when it has none (most packages). */
export function readManifest(pkgDir: string): ManifestPackage | undefined {
  let pkg: PackageJson;
  try {
    pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')) as PackageJson;
  } catch {
    return undefined;
  }
  const m = pkg.vhw as { plugins?: unknown } | undefined;
  if (typeof pkg.name !== 'string' || !m || !Array.isArray(m.plugins)) return undefined;
  const plugins = m.plugins.filter((e): e is string => typeof e === 'string');
  return { name: pkg.name, dir: pkgDir, exports: pkg.exports, manifest: { plugins } };
}

/** Every installed package with a `"vhw"` manifest, each once (the first found wins, as Node's resolution would). */
export function findManifestPackages(dirs: readonly string[] = nodeModulesDirs()): ManifestPackage[] {
  const byName = new Map<string, ManifestPackage>();
  const seenDirs = new Set<string>();
  for (const nm of dirs) {
    for (const d of packageDirs(nm)) {
      let real: string;
      try {
        real = realpathSync(d);
      } catch {
        continue;
      }
      if (seenDirs.has(real)) continue;
      seenDirs.add(real);
      const p = readManifest(real);
      if (p && !byName.has(p.name)) byName.set(p.name, p);
    }
  }
  return [...byName.values()];
}

/**
 * The export conditions in force: a CLI running from its TypeScript sources (this
 * workspace, where `bin/` registers the `vhw-source` condition) loads plugin sources too;
 * a built CLI loads the built files.
 */
const SOURCE_MODE = /\.ts$/.test(fileURLToPath(import.meta.url));
const CONDITIONS = SOURCE_MODE ? ['vhw-source', 'import', 'node', 'default'] : ['import', 'node', 'default'];

/** Resolves a conditional `exports` target (string, condition object, or array of fallbacks). */
function resolveTarget(target: unknown, conditions: readonly string[]): string | undefined {
  if (typeof target === 'string') return target;
  if (Array.isArray(target)) {
    for (const t of target) {
      const r = resolveTarget(t, conditions);
      if (r !== undefined) return r;
    }
    return undefined;
  }
  if (target && typeof target === 'object') {
    for (const [cond, t] of Object.entries(target)) {
      if (!conditions.includes(cond)) continue;
      const r = resolveTarget(t, conditions);
      if (r !== undefined) return r;
    }
  }
  return undefined;
}

/**
 * The file a manifest entry names: an export subpath through `exports`, else a path in the package.
 * @param pkg - the package's folder and its `exports` field
 * @param entry - one entry of the manifest's `plugins`
 * @param conditions - the export conditions in force, in no particular order (the `exports` object's order decides)
 * @returns the absolute path of the module to import
 */
export function entryFile(
  pkg: Pick<ManifestPackage, 'dir' | 'exports'>,
  entry: string,
  conditions: readonly string[] = CONDITIONS,
): string {
  const ex = pkg.exports;
  const isSubpathMap = ex !== null && typeof ex === 'object' && !Array.isArray(ex) && Object.keys(ex).some((k) => k.startsWith('.'));
  const map: Record<string, unknown> | undefined = isSubpathMap
    ? (ex as Record<string, unknown>)
    : ex !== undefined
      ? { '.': ex }
      : undefined;
  const target = map && entry in map ? resolveTarget(map[entry], conditions) : undefined;
  return resolve(pkg.dir, target ?? entry);
}

const KIND_ORDER: readonly PluginKind[] = ['platform', 'memory', 'device', 'passthrough', 'vmm', 'other'];

/**
 * The installed plugins: every package with a `"vhw"` manifest in the node_modules folders
 * visible from the working directory or from this CLI, each manifest entry imported and
 * each exported plugin factory listed with its options.
 * @returns the plugins in kind order, then by name, and the entries that failed to load
 */
export async function listPlugins(): Promise<PluginDiscovery> {
  const out = new Map<string, PluginInfo>();
  const problems: PluginProblem[] = [];
  for (const pkg of findManifestPackages()) {
    for (const entry of pkg.manifest.plugins) {
      let mod: Record<string, unknown>;
      try {
        mod = (await import(pathToFileURL(entryFile(pkg, entry)).href)) as Record<string, unknown>;
      } catch (e) {
        problems.push({ package: pkg.name, entry, message: e instanceof Error ? e.message.split('\n')[0]! : String(e) });
        continue;
      }
      for (const v of Object.values(mod)) {
        if (!isFactory(v) || out.has(v.pluginName)) continue;
        out.set(v.pluginName, {
          name: v.pluginName,
          kind: v.kind,
          package: pkg.name,
          description: v.description,
          options: v.describeOptions(),
        });
      }
    }
  }
  const plugins = [...out.values()].sort((a, b) => KIND_ORDER.indexOf(a.kind) - KIND_ORDER.indexOf(b.kind) || a.name.localeCompare(b.name));
  return { plugins, problems };
}
