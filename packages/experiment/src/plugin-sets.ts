import { PATCHES, type VhwPlugin, VhwError } from '@vhw/core';
import { parseSets } from './sweep.js';

/**
 * Plugin options from the command line: `--set TARGET.FIELD=VALUE`, where TARGET is an
 * instance name (`nvme0`), a plugin name (`nvme-lite`: every instance of it) or a kind
 * (`platform`), and FIELD a top-level option of that plugin. The value is checked by the
 * plugin's own schema when the scenario's machine is built, before the machine exists.
 */

/** One `--set` for a plugin option, as written; the value is typed against the schema when applied. */
export interface PluginSet {
  /** Instance name, plugin name or kind. */
  target: string;
  /** A top-level option of the plugin. */
  field: string;
  /** The value as written on the command line. */
  value: string;
  /** The whole `--set` argument, for messages. */
  text: string;
}

/** The plugin options a run changed, as applied: target → field → value (recorded in results). */
export type PluginOverrides = Record<string, Record<string, unknown>>;

/** The `--set` arguments split into cost overrides and plugin option sets. */
export interface SetOptions {
  /** `cost.FIELD=NUMBER`, by parameter name (as `parseSets` gives them). */
  costs: Record<string, number>;
  /** Every other `TARGET.FIELD=VALUE`. */
  pluginSets: PluginSet[];
}

/** Options the experiment sets itself: a `--set` of one would contradict the recorded point. */
const EXPERIMENT_FIELDS: Readonly<Record<string, string>> = {
  ...Object.fromEntries(PATCHES.map((p) => [p.key, `--patches (${p.id})`])),
  variant: '--variant',
  pageSize: '--page-size',
};

/**
 * Splits `--set` arguments: `cost.FIELD=NUMBER` goes to the cost model, `TARGET.FIELD=VALUE`
 * to a plugin's options.
 * @param sets - the `--set` arguments, in order (a later one wins)
 * @returns the cost overrides and the plugin option sets
 * @throws VhwError E_CONFIG when an argument is not `NAME.FIELD=VALUE`, or a cost value is not a number
 * @example
 * parseSetOptions(['cost.guest.ioStackNs=0', 'platform.peGranularity=bus'])
 * // { costs: { 'guest.ioStackNs': 0 }, pluginSets: [{ target: 'platform', field: 'peGranularity', value: 'bus', ... }] }
 */
export function parseSetOptions(sets: readonly string[]): SetOptions {
  const costSets: string[] = [];
  const pluginSets: PluginSet[] = [];
  for (const text of sets) {
    if (text.trim().startsWith('cost.')) {
      costSets.push(text); // parseSets refuses a malformed cost set with its own message
      continue;
    }
    const m = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_.]+)=(.*)$/s.exec(text.trim());
    if (!m) {
      throw new VhwError(
        'E_CONFIG',
        `--set "${text}"; allowed: cost.FIELD=NUMBER, INSTANCE.FIELD=VALUE, PLUGIN.FIELD=VALUE or platform.FIELD=VALUE (see vhw list)`,
      );
    }
    // All three groups are mandatory in the pattern, so a match has them.
    const target = m[1]!;
    const field = m[2]!;
    const value = m[3]!;
    if (field.includes('.'))
      throw new VhwError('E_CONFIG', `--set "${text}": "${field}" is not a top-level option; allowed: ${target}.FIELD=VALUE`);
    const owner = EXPERIMENT_FIELDS[field];
    if (owner) throw new VhwError('E_CONFIG', `--set "${text}": ${field} is the experiment's own setting; allowed: ${owner}`);
    pluginSets.push({ target, field, value, text });
  }
  return { costs: parseSets(costSets), pluginSets };
}

/** The values a command-line string may stand for, most specific first: JSON (numbers, booleans, quoted strings), then the text itself. */
function candidates(value: string): unknown[] {
  try {
    const parsed: unknown = JSON.parse(value);
    return parsed === value ? [value] : [parsed, value];
  } catch {
    return [value];
  }
}

/**
 * Applies plugin option sets to a scenario's plugins, each validated by the plugin's own
 * schema (the same errors as a scenario file's bad option).
 * @param plugins - the plugins `scenario.machine(config)` returned
 * @param sets - from `parseSetOptions`
 * @param scenario - the scenario's name, for messages
 * @returns the plugins with the options changed (the others as they were) and what was applied
 * @throws VhwError E_CONFIG when a target names no plugin of the machine (the message lists
 *   them) or the plugin's schema refuses the value (the message names the field and what is allowed)
 */
export function applyPluginSets(
  plugins: readonly VhwPlugin[],
  sets: readonly PluginSet[],
  scenario: string,
): { plugins: VhwPlugin[]; overrides: PluginOverrides } {
  const out = [...plugins];
  const overrides: PluginOverrides = {};
  if (sets.length === 0) return { plugins: out, overrides };
  const changes = plugins.map(() => ({}) as Record<string, unknown>);
  for (const set of sets) {
    const hits = plugins.flatMap((p, i) => (p.instance === set.target || p.name === set.target || p.kind === set.target ? [i] : []));
    if (hits.length === 0) {
      const names = [...new Set(plugins.flatMap((p) => [p.instance, p.name]).concat(['platform']))];
      throw new VhwError(
        'E_CONFIG',
        `--set "${set.text}": no plugin "${set.target}" in scenario ${scenario}; allowed: cost, ${names.join(', ')}`,
      );
    }
    for (const i of hits) {
      const plugin = plugins[i]!;
      const tried = candidates(set.value);
      let error: unknown;
      let accepted = false;
      for (const v of tried) {
        try {
          plugin.withOptions({ ...changes[i], [set.field]: v });
        } catch (e) {
          error ??= e;
          continue;
        }
        changes[i]![set.field] = v;
        overrides[set.target] = { ...overrides[set.target], [set.field]: v };
        accepted = true;
        break;
      }
      if (!accepted) {
        const why = error instanceof Error ? error.message : String(error);
        throw new VhwError('E_CONFIG', `--set "${set.text}": ${why}`, { cause: error });
      }
    }
  }
  for (const [i, c] of changes.entries()) if (Object.keys(c).length > 0) out[i] = plugins[i]!.withOptions(c);
  return { plugins: out, overrides };
}
