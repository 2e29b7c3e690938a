import type { Command } from 'commander';
import { parsePatchList, patchListOf } from '@vhw/core';
import { buildPageMap, prepare } from '@vhw/experiment';
import { loadScenarioOf } from '../scenario-file.js';
import { type Io, writeFileAtomic } from '../output.js';
import { type PointOptions, configOf, formatOption, pointOptions } from '../options.js';
import { pageMapSvg, pageMapText } from '../render/index.js';

/** `vhw map`. */
export interface MapCommandOptions extends PointOptions {
  out?: string;
  format: 'text' | 'svg';
}

/** `vhw map`: the host MMIO pages of one experiment point, as text or (with `--out`) SVG. */
export async function mapAction(io: Io, scenarioRef: string, o: MapCommandOptions): Promise<void> {
  const scenario = await loadScenarioOf(io, scenarioRef);
  const run = prepare(scenario, configOf(o));
  try {
    const map = buildPageMap(run);
    const title = `${scenario.name}, ${o.variant}, patches: ${patchListOf(parsePatchList(o.patches))}`;
    if (o.out) {
      writeFileAtomic(o.out, pageMapSvg(map, { title }));
      io.err(`wrote ${o.out}`);
    }
    if (!o.out || o.format === 'text') io.out(pageMapText(map));
  } finally {
    run.machine.dispose();
  }
}

/** Adds `vhw map` to `program`. */
export function addMapCommand(program: Command, io: Io): void {
  const map = program
    .command('map')
    .description('draw the host MMIO pages: which BARs sit in which page, which are direct and which trap, and why')
    .argument('<scenario>', 'a built-in scenario name or a scenario file');
  pointOptions(map)
    .option('--out <file.svg>', 'write the map as SVG')
    .addOption(formatOption('text (also printed when --out is not given)', ['text', 'svg'], 'svg'))
    .action((scenario: string, o: MapCommandOptions) => mapAction(io, scenario, o));
}
