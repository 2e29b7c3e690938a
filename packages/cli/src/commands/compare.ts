import { type Command, Option } from 'commander';
import { VhwError, parsePatchList, patchListOf } from '@vhw/core';
import {
  type BarArea,
  type BarResult,
  type PageMap,
  type RunResult,
  barResults,
  buildPageMap,
  parseSetOptions,
  parseVmms,
  prepare,
} from '@vhw/experiment';
import { vmmPolicy } from '@vhw/vmm';
import { loadScenarioOf } from '../scenario-file.js';
import type { Io } from '../output.js';
import {
  type PointOptions,
  collect,
  configOf,
  formatOption,
  msixRelocationOption,
  parsePageSize,
  patchesOption,
  variantOption,
  vmmOption,
} from '../options.js';
import { formatBytes, hex } from '../render/index.js';

/** `vhw compare`. */
export interface CompareCommandOptions extends Omit<PointOptions, 'seed'> {
  format: 'table' | 'json';
  /** `--set`, repeated: cost overrides and plugin options, as `run` takes them. */
  set: string[];
}

/** One BAR as one VMM installed it: the result contract's BAR without trap counts (no workload ran). */
export interface CompareBar extends Omit<BarResult, 'areas'> {
  areas: Array<Omit<BarArea, 'traps'>>;
}

/** What one VMM policy made of the machine. */
export interface CompareVmm {
  /** The policy id (`--vmm`). */
  vmm: string;
  /** The VMM's name. */
  title: string;
  /** `--msix-relocation`, when given and the VMM has that knob (QEMU's). */
  relocation?: string;
  /** Present when the policy refuses the layout: the result row's `rejected`. */
  rejected?: RunResult['rejected'];
  /** The BARs as the VMM installed them (`barResults`); empty when it refused before mapping. */
  bars: CompareBar[];
  /** The host page map (`buildPageMap`). */
  pageMap: PageMap;
}

/** `vhw compare --format json`: one experiment point under each VMM policy. */
export interface CompareResult {
  scenario: string;
  variant: string;
  /** The patch combination, as `patchListOf` spells it. */
  patches: string;
  /** Host page size in bytes. */
  pageSize: number;
  vmms: CompareVmm[];
}

/**
 * Parses the `--vmm` list of `compare`: comma-separated policy ids or `all` (the default),
 * each checked by the sweep's `parseVmms`, so the allowed values and message are the same.
 */
function vmmList(text: string | undefined): string[] {
  const ids = (text ?? 'all').split(',').flatMap((t) => parseVmms(t.trim()));
  return [...new Set(ids.filter((x): x is string => x !== undefined))];
}

/**
 * Prepares the point under each policy in `vmms` and reads what it mapped: nothing here
 * decides a path or a reason, the VMM's plan does (`barResults`, `buildPageMap`).
 */
export async function compareVmms(io: Io, scenarioRef: string, o: CompareCommandOptions): Promise<CompareResult> {
  const vmms = vmmList(o.vmm);
  const knobless = vmms.map(vmmPolicy).filter((p) => p.relocationKnob !== true);
  // Asked of no VMM that has it: refused, as a sweep of those VMMs refuses it.
  if (o.msixRelocation && o.msixRelocation !== 'off' && knobless.length === vmms.length) {
    throw new VhwError(
      'E_CONFIG',
      `--vmm ${o.vmm} with --msix-relocation ${o.msixRelocation}: ${knobless[0]!.relocationKnob}; allowed with this VMM: off`,
    );
  }
  const sets = parseSetOptions(o.set);
  const scenario = await loadScenarioOf(io, scenarioRef);
  const out: CompareVmm[] = [];
  let pageSize = 0;
  for (const vmm of vmms) {
    // --msix-relocation is QEMU's knob: a VMM without it runs with its own rule, as in a `--vmm all` sweep.
    const knob = vmmPolicy(vmm).relocationKnob === true;
    const config = { ...configOf({ ...o, seed: 1, ...(knob ? {} : { msixRelocation: undefined }) }), vmm };
    const run = prepare(scenario, config, { costs: sets.costs, pluginSets: sets.pluginSets });
    try {
      const r = run.vmm.rejection;
      pageSize = run.vmm.pageSize;
      out.push({
        vmm,
        title: run.vmm.policy.title,
        ...(config.relocation ? { relocation: config.relocation } : {}),
        ...(r
          ? { rejected: { vmm: r.vmm, why: r.why, device: r.device, code: r.code, ...(r.bar !== undefined ? { bar: r.bar } : {}) } }
          : {}),
        // As the result row of a refused point: the VM does not run, so no BAR is reported.
        bars: r ? [] : barResults(run.vmm).map((b) => ({ ...b, areas: b.areas.map(({ traps: _, ...a }) => a) })),
        pageMap: buildPageMap(run),
      });
    } finally {
      run.machine.dispose();
    }
  }
  return { scenario: scenario.name, variant: o.variant, patches: patchListOf(parsePatchList(o.patches)), pageSize, vmms: out };
}

/** An area as the table shows it: its byte range in the BAR, its reason and, for a trap, what serves it. */
function areaText(a: Omit<BarArea, 'traps'>): string {
  return `${hex(a.offset)}..${hex(a.offset + a.size)} ${a.reason}${a.via ? ` (${a.via})` : ''}`;
}

/** What one VMM shows for one BAR: its mapped and trapped areas, or its refusal. */
function vmmCells(v: CompareVmm, device: string, bar: number): [string, string] {
  if (v.rejected) {
    const where = `${v.rejected.device}${v.rejected.bar !== undefined ? ` BAR${v.rejected.bar}` : ''}`;
    return [`rejected by VMM ${v.vmm}: ${where}: ${v.rejected.why}`, ''];
  }
  const b = v.bars.find((x) => x.device === device && x.bar === bar);
  if (!b) return ['not passed through', ''];
  const list = (path: string) =>
    b.areas
      .filter((a) => a.path === path)
      .map(areaText)
      .join(', ') || '-';
  return [list('direct'), list('trap')];
}

/** The heading of the mapped column. */
const MAPPED = 'mapped (offset range, reason)';

/** The pages each VMM maps directly, traps on, or splits: the page map's summary line. */
function pagesText(m: PageMap): string {
  const n = (path: string) => m.pages.filter((p) => p.path === path).length;
  return `${m.pages.length} page(s): ${n('direct')} direct, ${n('trap')} trap, ${n('mixed')} mixed`;
}

/**
 * The comparison as text: per device and BAR, one line per VMM with its mapped and trapped
 * areas side by side, then each VMM's host pages.
 */
export function compareTable(c: CompareResult): string {
  const reloc = c.vmms.find((v) => v.relocation)?.relocation;
  const relocText = reloc
    ? `, msix-relocation ${reloc} (${c.vmms
        .filter((v) => v.relocation)
        .map((v) => v.vmm)
        .join(', ')} only)`
    : '';
  const lines = [`${c.scenario}, ${c.variant}, patches: ${c.patches}${relocText}, host page ${formatBytes(c.pageSize)}`];
  const bars: Array<{ device: string; bar: number; size: number }> = [];
  for (const v of c.vmms) {
    for (const b of v.bars)
      if (!bars.some((x) => x.device === b.device && x.bar === b.bar)) bars.push({ device: b.device, bar: b.bar, size: b.size });
  }
  // A layout every VMM refused before mapping still names its device.
  if (bars.length === 0)
    for (const v of c.vmms) if (v.rejected) bars.push({ device: v.rejected.device, bar: v.rejected.bar ?? 0, size: 0 });
  const w = Math.max(...c.vmms.map((v) => v.vmm.length), 3);
  for (const b of bars) {
    lines.push('', `${b.device} BAR${b.bar}${b.size ? ` (${formatBytes(b.size)})` : ''}`);
    const rows = c.vmms.map((v) => [v.vmm, ...vmmCells(v, b.device, b.bar)] as const);
    const wm = Math.max(...rows.filter((r) => r[2] !== '').map((r) => r[1].length), MAPPED.length);
    lines.push(`  ${'VMM'.padEnd(w)}  ${MAPPED.padEnd(wm)}  trapped (offset range, reason, served by)`);
    for (const [vmm, mapped, trapped] of rows)
      lines.push(`  ${vmm.padEnd(w)}  ${trapped === '' ? mapped : `${mapped.padEnd(wm)}  ${trapped}`}`);
  }
  lines.push('', 'host pages');
  for (const v of c.vmms) lines.push(`  ${v.vmm.padEnd(w)}  ${v.rejected ? 'rejected: the VM does not run' : pagesText(v.pageMap)}`);
  return lines.join('\n');
}

/** `vhw compare`: one experiment point under each VMM policy, side by side. */
export async function compareAction(io: Io, scenarioRef: string, o: CompareCommandOptions): Promise<void> {
  const c = await compareVmms(io, scenarioRef, o);
  io.out(o.format === 'json' ? JSON.stringify(c, null, 2) : compareTable(c));
}

/** Adds `vhw compare` to `program`. */
export function addCompareCommand(program: Command, io: Io): void {
  const compare = program
    .command('compare')
    .description('one patch combination under each VMM policy: per device and BAR, what each VMM maps and traps, and why')
    .argument('<scenario>', 'a built-in scenario name or a scenario file');
  compare
    // compare's own defaults: every patch, every VMM (a comma list picks some).
    .addOption(patchesOption().default('all'))
    .addOption(variantOption(false))
    .addOption(msixRelocationOption(false))
    .addOption(vmmOption(true).default(undefined, 'all, or a comma list'))
    .addOption(new Option('--page-size <size>', '4k, 16k or 64k').argParser(parsePageSize))
    .addOption(formatOption('table or json (for tools)', ['table', 'json'], 'table'))
    .option('--set <NAME.FIELD=VALUE>', 'set a cost parameter or a plugin option, as run takes it; repeatable', collect, [])
    .action((scenario: string, o: CompareCommandOptions) => compareAction(io, scenario, o));
}
