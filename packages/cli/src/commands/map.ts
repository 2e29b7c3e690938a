import { extname } from 'node:path';
import type { Command } from 'commander';
import { VhwError, parsePatchList, patchListOf } from '@vhw/core';
import { buildPageMap, prepare } from '@vhw/experiment';
import { loadScenarioOf } from '../scenario-file.js';
import { type Io, writeFileAtomic } from '../output.js';
import { type PointOptions, configOf, formatOption, pointOptions } from '../options.js';
import { pageMapSvg, pageMapText } from '../render/index.js';
import { msixMarksOf } from '../report-maps.js';

/** `vhw map`. */
export interface MapCommandOptions extends PointOptions {
  out?: string;
  format: 'text' | 'svg' | 'json';
}

/**
 * Checks that a chart output path names an SVG file: vhw draws only SVG, and writing SVG
 * into `map.png` would give a file no image viewer opens.
 *
 * @param flag - the option that named the path, for the message.
 * @param file - the path given.
 * @throws VhwError E_CONFIG when the extension is not `.svg` (any case)
 */
export function requireSvgPath(flag: string, file: string): void {
  const ext = extname(file);
  if (ext.toLowerCase() !== '.svg') {
    throw new VhwError('E_CONFIG', `${flag} ${file}: ${ext ? `${ext} files are not written` : 'no extension'}; allowed: only .svg`);
  }
}

/**
 * `vhw map`: the host MMIO pages of one experiment point, as text, as JSON (the result
 * contract's `PageMap`, for tools) or (with `--out`) SVG.
 */
export async function mapAction(io: Io, scenarioRef: string, o: MapCommandOptions): Promise<void> {
  if (o.out) requireSvgPath('--out', o.out);
  const scenario = await loadScenarioOf(io, scenarioRef);
  const run = prepare(scenario, configOf(o));
  try {
    const map = buildPageMap(run);
    const title = `${scenario.name}, ${o.variant}, vmm ${run.vmm.policy.id}, patches: ${patchListOf(parsePatchList(o.patches))}`;
    const r = run.vmm.rejection;
    if (r) io.err(`rejected by VMM ${r.vmm}: ${r.device}${r.bar !== undefined ? ` BAR${r.bar}` : ''}: ${r.why} (nothing is mapped)`);
    if (o.out) {
      writeFileAtomic(o.out, pageMapSvg(map, { title, ...msixMarksOf(run) }));
      io.err(`wrote ${o.out}`);
    }
    if (o.format === 'json') io.out(JSON.stringify(map, null, 2));
    else if (!o.out || o.format === 'text') io.out(pageMapText(map));
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
    .addOption(formatOption('text (also printed when --out is not given) or json (the page map for tools)', ['text', 'svg', 'json'], 'svg'))
    .action((scenario: string, o: MapCommandOptions) => mapAction(io, scenario, o));
}
