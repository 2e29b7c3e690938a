import type { Command } from 'commander';
import { Machine, parsePatchList } from '@vhw/core';
import { DEFAULT_SCENARIO, builtinScenarioNames, loadScenario } from '@vhw/experiment';
import type { Io } from '../output.js';
import { formatOption } from '../options.js';
import { listPlugins } from '../plugins.js';

/** `vhw list`. */
export interface ListCommandOptions {
  format: 'table' | 'json';
}

/** `vhw list`: the built-in scenarios, the installed plugins with their options, and the cost parameters. */
export async function listAction(io: Io, o: ListCommandOptions): Promise<void> {
  const scenarios = [];
  for (const name of builtinScenarioNames()) {
    const s = await loadScenario(name);
    scenarios.push({ name, description: s.description, ops: s.ops, default: name === DEFAULT_SCENARIO });
  }
  const plugins = await listPlugins();
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
  lines.push('', `Cost parameters (override with --set cost.FIELD=VALUE; values for ${DEFAULT_SCENARIO}):`);
  for (const c of costs)
    lines.push(`  cost.${c.name} = ${c.value} ${c.unit} [${c.confidence}]: ${c.description}`, `      source: ${c.source}`);
  io.out(lines.join('\n'));
}

/** Adds `vhw list` to `program`. */
export function addListCommand(program: Command, io: Io): void {
  program
    .command('list')
    .description('list the built-in scenarios and the installed plugins with their options')
    .addOption(formatOption('table or json', ['table', 'json'], 'table'))
    .action((o: ListCommandOptions) => listAction(io, o));
}
