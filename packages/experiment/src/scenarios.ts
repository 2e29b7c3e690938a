import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { VhwError } from '@vhw/core';
import type { ExperimentConfig, Scenario } from './scenario.js';
import { FROM_SOURCES, displayPath, errorMessage, importUserModule } from './user-module.js';

/** The built-in scenarios are taken in this package's own form: `src/*.ts` or `dist/*.js` of `@vhw/scenarios`. */
const SCENARIO_EXT = FROM_SOURCES ? '.ts' : '.js';

/**
 * Where the built-in scenarios live: the modules of the `@vhw/scenarios` package (its
 * `src/` inside the workspace, its `dist/` when installed), or undefined when that package
 * is not installed. `@vhw/scenarios` imports this package, so it is found by its location,
 * never imported by name here (that would be a cycle).
 */
export const BUILTIN_SCENARIO_DIR: string | undefined = (() => {
  try {
    const manifest = createRequire(import.meta.url).resolve('@vhw/scenarios/package.json');
    return join(dirname(manifest), FROM_SOURCES ? 'src' : 'dist');
  } catch {
    return undefined;
  }
})();
export const DEFAULT_SCENARIO = 'ppc64-mixed';

/** Names of the built-in scenarios. */
export function builtinScenarioNames(): string[] {
  if (BUILTIN_SCENARIO_DIR === undefined || !existsSync(BUILTIN_SCENARIO_DIR)) return [];
  return readdirSync(BUILTIN_SCENARIO_DIR)
    .filter((f) => f.endsWith(SCENARIO_EXT) && !f.endsWith('.test.ts') && !f.endsWith('.d.ts'))
    .map((f) => f.slice(0, -SCENARIO_EXT.length))
    .sort();
}

/** The module file of built-in scenario `name`, or undefined when there is no such built-in. */
export function builtinScenarioFile(name: string): string | undefined {
  if (BUILTIN_SCENARIO_DIR === undefined || !builtinScenarioNames().includes(name)) return undefined;
  return join(BUILTIN_SCENARIO_DIR, `${name}${SCENARIO_EXT}`);
}

/** What a scenario module must export, for messages. */
const EXPECTED_SHAPE = 'export default defineScenario({ name, description, ops, machine(config) })';

function isScenario(x: unknown): x is Scenario {
  return typeof x === 'object' && x !== null && typeof (x as Scenario).machine === 'function' && typeof (x as Scenario).name === 'string';
}

/** What is wrong with a default export that is not a scenario, in words. */
function shapeProblem(x: unknown): string {
  if (x === null || typeof x !== 'object') return `its default export is ${x === null ? 'null' : typeof x}, not a scenario object`;
  const s = x as Partial<Record<keyof Scenario, unknown>>;
  const wrong: string[] = [];
  if (typeof s.name !== 'string') wrong.push('name (a string)');
  if (typeof s.machine !== 'function') wrong.push('machine (a function of the experiment point returning plugins)');
  return `its default export lacks ${wrong.join(' and ')}`;
}

/**
 * A user's scenario whose `machine()` reports an exception from the user's own code as a
 * clear error naming the line it came from, instead of an internal error of vhw. A
 * `VhwError` (a bad option caught by vhw's own checks) already says what is wrong and passes.
 */
function guardUserCode(s: Scenario, shown: string, userFrame: (e: unknown) => string | undefined): Scenario {
  return Object.freeze({
    ...s,
    machine(config: ExperimentConfig) {
      try {
        return s.machine(config);
      } catch (e) {
        if (VhwError.is(e)) throw e;
        const at = userFrame(e);
        throw new VhwError('E_CONFIG', `scenario file ${shown}: machine() threw: ${errorMessage(e)}${at ? ` (at ${at})` : ''}`, {
          cause: e,
        });
      }
    },
  });
}

/**
 * Loads a scenario by built-in name or from a user's `.ts`, `.mts`, `.js` or `.mjs` file in
 * any directory (its default export, or its only exported scenario). The file is compiled as
 * an ES module whatever the `"type"` of its project, and its imports resolve from its own
 * location.
 * @param nameOrPath - a built-in name (`builtinScenarioNames()`) or a file path
 * @returns the scenario
 * @throws VhwError E_NOT_FOUND for an unknown name or a missing file; E_CONFIG naming
 *   `file:line:col` for a file that does not compile or throws while loading, naming the
 *   expected shape for one that exports no scenario
 */
export async function loadScenario(nameOrPath: string): Promise<Scenario> {
  const looksLikePath = nameOrPath.includes('/') || nameOrPath.includes('\\') || /\.(m?[jt]s)$/.test(nameOrPath);
  if (!looksLikePath) return loadBuiltin(nameOrPath);
  const file = isAbsolute(nameOrPath) ? nameOrPath : resolve(process.cwd(), nameOrPath);
  if (!existsSync(file)) throw new VhwError('E_NOT_FOUND', `scenario file ${nameOrPath} does not exist`);
  const shown = displayPath(file);
  let mod: Awaited<ReturnType<typeof importUserModule>>;
  try {
    mod = await importUserModule(file);
  } catch (e) {
    if (!VhwError.is(e, 'E_CONFIG')) throw e;
    throw new VhwError('E_CONFIG', `scenario file ${shown} failed to load: ${e.message}`, { cause: e.cause ?? e });
  }
  return guardUserCode(scenarioExport(mod.exports, shown), shown, mod.userFrame);
}

async function loadBuiltin(name: string): Promise<Scenario> {
  const names = builtinScenarioNames();
  if (BUILTIN_SCENARIO_DIR === undefined || !names.includes(name)) {
    throw new VhwError(
      'E_NOT_FOUND',
      `unknown scenario "${name}"; built-in: ${names.join(', ') || 'none (@vhw/scenarios is not installed)'}; or give the path of a .ts/.js scenario file`,
    );
  }
  const mod = (await import(pathToFileURL(join(BUILTIN_SCENARIO_DIR, `${name}${SCENARIO_EXT}`)).href)) as Record<string, unknown>;
  return scenarioExport(mod, name);
}

/** The scenario a module exports: its default export, or its only exported scenario. */
function scenarioExport(mod: Record<string, unknown>, shown: string): Scenario {
  if (isScenario(mod.default)) return mod.default;
  const found = Object.values(mod).filter(isScenario);
  if (found.length === 1) return found[0]!;
  if (found.length > 1)
    throw new VhwError('E_CONFIG', `scenario file ${shown} exports ${found.length} scenarios and no default; make one the default export`);
  if ('default' in mod)
    throw new VhwError('E_CONFIG', `scenario file ${shown} exports no scenario: ${shapeProblem(mod.default)}; expected ${EXPECTED_SHAPE}`);
  throw new VhwError('E_CONFIG', `scenario file ${shown} exports no scenario; expected ${EXPECTED_SHAPE}`);
}
