import { CORE_COST_PARAMETERS, VhwError } from '@vhw/core';
import {
  type GridPoint,
  type MergedSet,
  type PluginSet,
  type RunResult,
  type Scenario,
  type SweepDescription,
  gridIdentity,
  stampExperiment,
} from '@vhw/experiment';
import type { OutDir, ResultSetSeams } from './out-dir.js';
import type { Io } from './output.js';
import type { ResultFormat } from './options.js';
import { provenance } from './provenance.js';
import { type CostRow, type MachineRow, htmlReport, reportCharts, sweepTable, csvAsPrintedLine, toCsv } from './render/index.js';
import { reportPageMaps } from './report-maps.js';

/** The sweep a set of rows comes from, recorded in each row (`experiment`) so shards can be merged safely. */
export interface SweepRecord {
  description: SweepDescription;
  /** The points run, in the order of the rows. */
  points: readonly GridPoint[];
  /** Points of the whole grid (before `--shard`). */
  gridSize: number;
  shard?: { index: number; count: number };
  /** The rows already carry their `experiment` record (stamped as they were taken). */
  stamped?: boolean;
  /** The rows were already printed as they were taken (`--format json`, see {@link jsonArrayWriter}). */
  printed?: boolean;
}

/**
 * Prints a JSON array one element at a time, exactly as `JSON.stringify(rows, null, 2)` prints
 * it whole: a row is written when the next one comes (it needs its comma), the last by `end()`.
 * @param out - a printer of lines (`Io.out`)
 */
export function jsonArrayWriter(out: (line: string) => void): { push: (row: unknown) => void; end: () => void } {
  let held: string | undefined;
  let any = false;
  const indent = (row: unknown) => `  ${JSON.stringify(row, null, 2).replace(/\n/g, '\n  ')}`;
  return {
    push(row) {
      if (!any) out('[');
      any = true;
      if (held !== undefined) out(`${held},`);
      held = indent(row);
    },
    end() {
      if (!any) out('[]');
      else out(`${held}\n]`);
    },
  };
}

/** How a sweep's results are printed, and what is recorded with them. */
export interface EmitOptions {
  format: ResultFormat;
  /** `--set` overrides, which the page maps are drawn with. */
  costs?: Record<string, number>;
  /** Given by `sweep`: stamps each row with its grid. */
  sweep?: SweepRecord;
  /** Given by `merge`: the inputs and what the merged set lacks. */
  merge?: { inputs: string[]; set: MergedSet };
  /** Page maps are left out, and the report says why (a merge that cannot reload the scenario). */
  noMapsBecause?: string;
  /** Test seams of the set writer. */
  seams?: ResultSetSeams;
  /** Plugin options set on the command line, so the page maps show the machine that ran. */
  pluginSets?: readonly PluginSet[];
}

/**
 * Prints a sweep's results (`sweep`, and `merge` for joined shards) and, given `out`, writes
 * its set as one step (see out-dir.ts): results, charts, the HTML report with the page maps
 * of `scenario` when it is known, and manifest.json with the provenance.
 * @throws VhwError E_CONFIG when the set is empty and `out` holds results (an empty shard
 *   must not wipe a finished sweep)
 */
export async function emitSweep(io: Io, rows: RunResult[], o: EmitOptions, out: OutDir | undefined, scenario?: Scenario): Promise<void> {
  if (out && rows.length === 0 && out.hasResults())
    throw new VhwError('E_CONFIG', `no runs to write (an empty shard?); ${out.dir} holds results, which an empty set would replace`);
  const results =
    o.sweep && !o.sweep.stamped ? stampExperiment(rows, o.sweep.points, o.sweep.description, o.sweep.gridSize, o.sweep.shard) : rows;
  if (o.sweep?.printed) {
    // Printed row by row as the sweep ran.
  } else if (o.format === 'json') io.out(JSON.stringify(results, null, 2));
  else if (o.format === 'csv') io.out(csvAsPrintedLine(toCsv(results)));
  else io.out(sweepTable(results));
  if (o.merge?.set.missingText) io.err(`vhw: merged a partial set: ${o.merge.set.missingText}`);
  if (!out) return;
  const charts = await reportCharts(results);
  const { pageMaps, costMeta } = scenario ? reportPageMaps(scenario, results, { costs: o.costs, pluginSets: o.pluginSets }) : {};
  const prov = provenance();
  const experiment = o.merge?.set.experiment ?? (o.sweep ? { ...gridIdentity(o.sweep.description), points: o.sweep.gridSize } : undefined);
  const files: Array<[string, string]> = [
    ['results.json', `${JSON.stringify(results, null, 2)}\n`],
    ['results.csv', toCsv(results)],
    ...charts.map((c): [string, string] => [c.file, c.svg]),
  ];
  files.push([
    'report.html',
    htmlReport({
      title: `vhw sweep: ${[...new Set(results.map((r) => r.scenario))].join(', ')}`,
      results,
      charts,
      pageMaps,
      costs: costRowsOf(results, costMeta),
      machines: machineRowsOf(results),
      provenance: prov,
      notes: [
        ...(o.merge?.set.missingText ? [`Partial set: ${o.merge.set.missingText}.`] : []),
        ...(o.noMapsBecause ? [`No page maps: ${o.noMapsBecause}.`] : []),
      ],
    }),
  ]);
  const manifest = {
    format: 'vhw-result-set',
    formatVersion: 1,
    ...prov,
    files: [...files.map(([name]) => name), 'manifest.json'],
    rows: results.length,
    ...(experiment
      ? {
          experiment: {
            id: experiment.id,
            identity: experiment.identity,
            points: experiment.points,
            present: results.length,
            missing: o.merge?.set.missing ?? [],
            ...(o.sweep?.shard ? { shard: o.sweep.shard } : {}),
          },
        }
      : {}),
    ...(o.merge ? { mergedFrom: o.merge.inputs } : {}),
  };
  files.push(['manifest.json', `${JSON.stringify(manifest, null, 2)}\n`]);
  out.writeSet(files, o.seams);
  io.err(`wrote ${files.map(([name]) => name).join(', ')} to ${out.dir}`);
}

/**
 * The cost parameters the runs used, from the rows themselves (never the defaults): one row per
 * parameter, with the range when runs differ (`--vary`); unit and source from `meta` (a machine
 * of the scenario) or core's table where known.
 */
function costRowsOf(results: readonly RunResult[], meta?: ReadonlyArray<Omit<CostRow, 'value'>>): CostRow[] {
  const names = [...new Set(results.flatMap((r) => Object.keys(r.costs ?? {})))];
  return names.map((name) => {
    const values = results.map((r) => r.costs?.[name]).filter((v): v is number => v !== undefined);
    const lo = Math.min(...values);
    const hi = Math.max(...values);
    const m = meta?.find((c) => c.name === name) ?? CORE_COST_PARAMETERS.find((c) => c.name === name);
    return {
      name,
      value: lo,
      ...(hi !== lo ? { max: hi } : {}),
      unit: m?.unit ?? '-',
      source: m?.source ?? '-',
      confidence: m?.confidence ?? '-',
    };
  });
}

/** The plugins the runs were built from, one row per plugin instance and options, with how many runs used it. */
function machineRowsOf(results: readonly RunResult[]): MachineRow[] {
  const rows = new Map<string, MachineRow>();
  for (const r of results) {
    for (const p of r.plugins ?? []) {
      const options = JSON.stringify(p.options);
      const key = `${p.instance}\u0000${p.name}\u0000${options}`;
      const row = rows.get(key);
      if (row) row.runs++;
      else rows.set(key, { instance: p.instance, plugin: p.name, kind: p.kind, options, runs: 1 });
    }
  }
  return [...rows.values()];
}
