import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { OptionDoc } from '@vhw/core';

export interface PluginInfo {
  name: string;
  kind: string;
  package: string;
  description: string;
  options: OptionDoc[];
}

interface FactoryLike {
  pluginName: string;
  kind: string;
  description: string;
  describeOptions(): OptionDoc[];
}

function isFactory(x: unknown): x is FactoryLike {
  const f = x as Partial<FactoryLike> | null;
  return typeof x === 'function' && typeof f?.pluginName === 'string' && typeof f?.describeOptions === 'function';
}

/** node_modules/@vhw folders visible from the working directory and from this package. */
function scopeDirs(): string[] {
  const here = dirname(fileURLToPath(import.meta.url));
  const dirs = new Set<string>();
  for (let d = process.cwd(); ; d = dirname(d)) {
    dirs.add(join(d, 'node_modules/@vhw'));
    if (dirname(d) === d) break;
  }
  dirs.add(resolve(here, '../../../node_modules/@vhw'));
  return [...dirs].filter((d) => existsSync(d));
}

/**
 * The installed plugins: every `@vhw/*` package found in node_modules is imported and
 * each exported plugin factory (from `definePlugin`) listed with its options.
 */
export async function listPlugins(): Promise<PluginInfo[]> {
  const names = new Set<string>();
  for (const dir of scopeDirs()) for (const n of readdirSync(dir)) names.add(n);
  const out = new Map<string, PluginInfo>();
  for (const n of [...names].sort()) {
    const pkg = `@vhw/${n}`;
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pkg)) as Record<string, unknown>;
    } catch {
      continue; // not importable here (e.g. not built for this runtime); nothing to list
    }
    for (const v of Object.values(mod)) {
      if (!isFactory(v) || out.has(v.pluginName)) continue;
      out.set(v.pluginName, { name: v.pluginName, kind: v.kind, package: pkg, description: v.description, options: v.describeOptions() });
    }
  }
  const order = ['platform', 'memory', 'device', 'passthrough', 'vmm', 'other'];
  return [...out.values()].sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind) || a.name.localeCompare(b.name));
}
