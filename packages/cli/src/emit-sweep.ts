import { parsePatchList } from '@vhw/core';
import { type PluginSet, type RunResult, type Scenario, buildPageMap, prepare } from '@vhw/experiment';
import { type Io, writeFileAtomic } from './output.js';
import type { ResultFormat } from './options.js';
import { htmlReport, pageMapSvg, sweepChartSvg, sweepTable, toCsv, varyChartSvg } from './render/index.js';

/** How a sweep's results are printed, and the cost overrides its page maps are drawn with. */
export interface EmitOptions {
  format: ResultFormat;
  costs?: Record<string, number>;
  /** Plugin options set on the command line, so the page maps show the machine that ran. */
  pluginSets?: readonly PluginSet[];
}

/**
 * Prints a sweep's results (`sweep`, and `merge` for joined shards) and, given `outDir`,
 * writes its files: results, charts and the HTML report, with the page maps of
 * `scenario` when it is known.
 */
export async function emitSweep(
  io: Io,
  results: RunResult[],
  o: EmitOptions,
  outDir: string | undefined,
  scenario?: Scenario,
): Promise<void> {
  if (o.format === 'json') io.out(JSON.stringify(results, null, 2));
  else if (o.format === 'csv') io.out(toCsv(results));
  else io.out(sweepTable(results));
  if (!outDir) return;
  const hasVary = results.some((r) => r.vary);
  const sweepSvg = await sweepChartSvg(results, { measure: 'speedup' });
  const varySvg = hasVary ? await varyChartSvg(results) : undefined;
  const pageMaps: Array<{ label: string; svg: string }> = [];
  let costRows: Array<{ name: string; value: number; unit: string; source: string; confidence: string }> | undefined;
  if (scenario) {
    // Page maps of the two ends of the experiment, for each variant present.
    for (const variant of [...new Set(results.map((r) => r.variant))]) {
      for (const patches of ['none', 'all']) {
        const first = results.find((r) => r.variant === variant) ?? results[0];
        const pageSize = first?.platform.pageSize;
        const run = prepare(
          scenario,
          { patches: parsePatchList(patches), variant, seed: first?.seed ?? 1, ...(pageSize ? { pageSize } : {}) },
          { costs: o.costs, pluginSets: o.pluginSets },
        );
        pageMaps.push({
          label: `${scenario.name} ${variant} patches=${patches}`,
          svg: pageMapSvg(buildPageMap(run), { title: `${scenario.name}, ${variant}, patches: ${patches}` }),
        });
        if (!costRows)
          costRows = run.machine.costs
            .rows()
            .map((c) => ({ name: c.name, value: c.value, unit: c.unit, source: c.source, confidence: c.confidence }));
        run.machine.dispose();
      }
    }
  }
  writeFileAtomic(`${outDir}/results.json`, `${JSON.stringify(results, null, 2)}\n`);
  writeFileAtomic(`${outDir}/results.csv`, toCsv(results));
  writeFileAtomic(`${outDir}/chart.svg`, sweepSvg);
  if (varySvg) writeFileAtomic(`${outDir}/vary.svg`, varySvg);
  writeFileAtomic(
    `${outDir}/report.html`,
    htmlReport({
      title: `vhw sweep: ${[...new Set(results.map((r) => r.scenario))].join(', ')}`,
      results,
      sweepSvg,
      varySvg,
      pageMaps,
      costs: costRows,
    }),
  );
  io.err(`wrote results.json, results.csv, chart.svg${varySvg ? ', vary.svg' : ''}, report.html to ${outDir}`);
}
