import type { Command } from 'commander';
import { Machine, type OptionDoc, VhwError, parsePatchList } from '@vhw/core';
import { DEFAULT_SCENARIO, builtinScenarioNames, loadScenario } from '@vhw/experiment';
import type { Io } from '../output.js';
import { formatOption } from '../options.js';
import { type PluginInfo, listPlugins } from '../plugins.js';

/** `vhw list`. */
export interface ListCommandOptions {
  format: 'table' | 'json';
}

/** `vhw list`: the built-in scenarios, the installed plugins with their options, and the cost parameters. */
export async function listAction(io: Io, o: ListCommandOptions): Promise<void> {
  const { plugins, problems } = await listPlugins();
  for (const p of problems) io.err(`vhw: plugin entry "${p.entry}" of ${p.package} failed to load: ${p.message}`);
  const scenarios = [];
  for (const name of builtinScenarioNames()) {
    const s = await loadScenario(name);
    scenarios.push({ name, description: s.description, ops: s.ops, default: name === DEFAULT_SCENARIO });
  }
  // The cost parameters in force for the default scenario (core's and its plugins').
  const machine = Machine.create({
    plugins: (await loadScenario(DEFAULT_SCENARIO)).machine({ patches: parsePatchList('none'), variant: 'rfc-2015', seed: 1 }),
  });
  const costs = machine.costs
    .rows()
    .map(({ name, value, unit, description, source, confidence }) => ({ name, value, unit, description, source, confidence }));
  machine.dispose();
  if (o.format === 'json') {
    io.out(JSON.stringify({ scenarios, plugins, costs }, null, 2));
    return;
  }
  const lines = ['Scenarios (built-in, @vhw/scenarios):'];
  for (const s of scenarios) lines.push(`  ${s.name}${s.default ? ' (default)' : ''}: ${s.description} [${s.ops} ops]`);
  lines.push('', 'Plugins:');
  for (const p of plugins) {
    lines.push(`  ${p.name} (${p.kind}, ${p.package}): ${p.description}`);
    for (const opt of p.options)
      lines.push(
        `      ${opt.field}: ${opt.type}${opt.default !== undefined ? ` = ${JSON.stringify(opt.default)}` : ''}${opt.description ? `  ${opt.description}` : ''}`,
      );
  }
  lines.push('', 'Details of one plugin: vhw list PLUGIN; set an option: --set INSTANCE.FIELD=VALUE or --set PLUGIN.FIELD=VALUE');
  lines.push('', `Cost parameters (override with --set cost.FIELD=VALUE; values for ${DEFAULT_SCENARIO}):`);
  for (const c of costs)
    lines.push(`  cost.${c.name} = ${c.value} ${c.unit} [${c.confidence}]: ${c.description}`, `      source: ${c.source}`);
  io.out(lines.join('\n'));
}

/**
 * `vhw list PLUGIN`: one plugin's options with their types, ranges, defaults and
 * descriptions, as QEMU's `-device NAME,help` prints a device's properties.
 * @throws VhwError E_CONFIG when no installed plugin has that name (the message lists them)
 */
export async function pluginHelpAction(io: Io, name: string, o: ListCommandOptions): Promise<void> {
  const { plugins, problems } = await listPlugins();
  const p = plugins.find((x) => x.name === name);
  if (!p) {
    for (const pr of problems) io.err(`vhw: plugin entry "${pr.entry}" of ${pr.package} failed to load: ${pr.message}`);
    throw new VhwError('E_CONFIG', `unknown plugin "${name}"; installed: ${plugins.map((x) => x.name).join(', ')}`);
  }
  if (o.format === 'json') io.out(JSON.stringify(p, null, 2));
  else io.out(pluginHelp(p));
}

/** The text of `vhw list PLUGIN`. */
export function pluginHelp(p: PluginInfo): string {
  const lines = [`${p.name} (${p.kind} plugin, package ${p.package})`, `  ${p.description}`, ''];
  if (p.options.length === 0) {
    lines.push('  (no options)');
    return lines.join('\n');
  }
  lines.push(`Options (${setSyntax(p)}):`);
  const left = p.options.map((opt) => `  ${opt.field}=<${opt.type}>`);
  const width = Math.min(48, Math.max(...left.map((l) => l.length)) + 2);
  p.options.forEach((opt, i) => {
    const l = left[i]!;
    const text = [opt.description, defaultOf(opt)].filter(Boolean).join(' ');
    lines.push(l.length >= width ? `${l}\n${' '.repeat(width)}${text}` : `${l.padEnd(width)}${text}`);
  });
  return lines.join('\n');
}

/** How `--set` names this plugin's options: by plugin name, by kind for the one platform, by instance for one device. */
function setSyntax(p: PluginInfo): string {
  const alias = p.kind === 'platform' ? ' or platform.FIELD=VALUE' : '';
  const instance = p.options.some((o) => o.field === 'name') ? '; INSTANCE.FIELD=VALUE sets only the instance with that name' : '';
  return `--set ${p.name}.FIELD=VALUE${alias}${instance}`;
}

function defaultOf(opt: OptionDoc): string {
  return opt.default === undefined ? '' : `(default: ${JSON.stringify(opt.default)})`;
}

/** Adds `vhw list` to `program`. */
export function addListCommand(program: Command, io: Io): void {
  program
    .command('list')
    .description("list the built-in scenarios and the installed plugins with their options; with PLUGIN, that plugin's options in detail")
    .argument('[plugin]', 'a plugin name (see vhw list)')
    .addOption(formatOption('table or json', ['table', 'json'], 'table'))
    .action((plugin: string | undefined, o: ListCommandOptions) => (plugin ? pluginHelpAction(io, plugin, o) : listAction(io, o)));
}
