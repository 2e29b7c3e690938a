import { existsSync, readdirSync } from 'node:fs';
import { dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { VhwError } from '@vhw/core';
import type { Scenario } from './scenario.js';

/** Where the built-in scenarios live: examples/scenarios of this repository. */
export const BUILTIN_SCENARIO_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../examples/scenarios');
export const DEFAULT_SCENARIO = 'ppc64-mixed';

/** Names of the built-in scenarios. */
export function builtinScenarioNames(): string[] {
  if (!existsSync(BUILTIN_SCENARIO_DIR)) return [];
  return readdirSync(BUILTIN_SCENARIO_DIR)
    .filter((f) => (f.endsWith('.ts') || f.endsWith('.js')) && !f.endsWith('.test.ts') && !f.endsWith('.d.ts'))
    .map((f) => f.slice(0, -extname(f).length))
    .sort();
}

function isScenario(x: unknown): x is Scenario {
  return typeof x === 'object' && x !== null && typeof (x as Scenario).machine === 'function' && typeof (x as Scenario).name === 'string';
}

/**
 * Loads a scenario by built-in name or from a user's `.ts`/`.js` file (its default
 * export, or its only exported scenario). A file that throws, has a syntax error or
 * exports no scenario is a clear E_CONFIG error, never a stack trace.
 */
export async function loadScenario(nameOrPath: string): Promise<Scenario> {
  const looksLikePath = nameOrPath.includes('/') || nameOrPath.includes('\\') || /\.(m?[jt]s)$/.test(nameOrPath);
  let file: string;
  if (looksLikePath) {
    file = isAbsolute(nameOrPath) ? nameOrPath : resolve(process.cwd(), nameOrPath);
    if (!existsSync(file)) throw new VhwError('E_NOT_FOUND', `scenario file ${nameOrPath} does not exist`);
  } else {
    const names = builtinScenarioNames();
    if (!names.includes(nameOrPath)) {
      throw new VhwError(
        'E_NOT_FOUND',
        `unknown scenario "${nameOrPath}"; built-in: ${names.join(', ') || 'none'}; or give the path of a .ts/.js scenario file`,
      );
    }
    const ts = join(BUILTIN_SCENARIO_DIR, `${nameOrPath}.ts`);
    file = existsSync(ts) ? ts : join(BUILTIN_SCENARIO_DIR, `${nameOrPath}.js`);
  }
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (e) {
    const msg = (e as Error)?.message?.split('\n')[0] ?? String(e);
    throw new VhwError('E_CONFIG', `scenario file ${nameOrPath} failed to load: ${msg}`, { cause: e });
  }
  if (isScenario(mod.default)) return mod.default;
  const found = Object.values(mod).filter(isScenario);
  if (found.length === 1) return found[0]!;
  throw new VhwError(
    'E_CONFIG',
    found.length === 0
      ? `scenario file ${nameOrPath} exports no scenario; export default defineScenario({ name, description, ops, machine })`
      : `scenario file ${nameOrPath} exports ${found.length} scenarios and no default; make one the default export`,
  );
}
