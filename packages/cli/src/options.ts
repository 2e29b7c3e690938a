import { InvalidArgumentError, Option, type Command } from 'commander';
import { PATCHES, VARIANTS, type Variant, parsePatchList } from '@vhw/core';
import { type ExperimentConfig, MAX_OPS, MAX_SEED } from '@vhw/experiment';
import { MSIX_RELOCATION_MODES, type MsixRelocationMode, vmmPolicyIds } from '@vhw/vmm';

/**
 * The option builders the commands share, so that an option spelled in two commands is
 * spelled, parsed and refused the same way in both.
 */

const PAGE_SIZES: Record<string, number> = { '4k': 4096, '16k': 16384, '64k': 65536 };

/** Parses `--page-size`: 4k, 16k or 64k, in bytes. */
export function parsePageSize(v: string): number {
  const n = PAGE_SIZES[v.toLowerCase()];
  if (n === undefined) throw new InvalidArgumentError(`allowed: ${Object.keys(PAGE_SIZES).join(', ')}`);
  return n;
}

/**
 * A parser of a count: an integer from 1 to `max`. Every count has a bound, and none above
 * 2^53 - 1: past it, numbers are no longer exact integers (a counter stops changing).
 */
export function positiveIntUpTo(max: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`allowed: an integer 1..${max}`);
    return n;
  };
}

/** Parses a count (`--steps`, `--jobs`): an integer from 1 to 2^53 - 1. */
export const parsePositiveInt: (v: string) => number = positiveIntUpTo(Number.MAX_SAFE_INTEGER);

function parseVariant(v: string): Variant {
  const variant = VARIANTS.find((x) => x === v);
  if (variant === undefined) throw new InvalidArgumentError(`allowed: ${VARIANTS.join(', ')}`);
  return variant;
}

function parseFormat<F extends string>(allowed: readonly F[]): (v: string) => F {
  return (v) => {
    const f = allowed.find((x) => x === v);
    if (f === undefined) throw new InvalidArgumentError(`allowed: ${allowed.join(', ')}`);
    return f;
  };
}

/** Appends each use of a repeatable option (`--set`, `--vary`) to the list so far. */
export const collect = (v: string, prev: string[]) => [...prev, v];

/** Refuses an empty `--patches` (which would silently mean none); the list itself is parsed by core's `parsePatchList`. */
function nonEmptyPatchList(names: string): (v: string) => string {
  return (v) => {
    if (v.split(',').some((x) => x.trim() === ''))
      throw new InvalidArgumentError(`an empty patch name; allowed: none, all, or a comma list of ${names}`);
    return v;
  };
}

/** `--patches`, written once for every command that runs one combination (ids and P1..P3 from core's vocabulary). */
export function patchesOption(): Option {
  const names = PATCHES.map((p) => `${p.id} (${p.short})`).join(', ');
  return new Option('--patches <list>', `none, all, or a comma list of ${names}`).argParser(nonEmptyPatchList(names)).default('none');
}

/** `--variant`: one variant, or with `both` (sweep) each of them. */
export function variantOption(both: boolean): Option {
  const o = new Option('--variant <v>', [...VARIANTS, ...(both ? ['both'] : [])].join(', ')).default('rfc-2015');
  return both ? o : o.argParser(parseVariant);
}

function parseMsixRelocation(v: string): MsixRelocationMode {
  const mode = MSIX_RELOCATION_MODES.find((x) => x === v);
  if (mode === undefined) throw new InvalidArgumentError(`allowed: ${MSIX_RELOCATION_MODES.join(', ')}`);
  return mode;
}

/**
 * `--msix-relocation`: QEMU's x-msix-relocation for the VMM (default: the scenario's, off
 * unless it sets one); with `both` (sweep) off and auto, as a sweep dimension.
 */
export function msixRelocationOption(both: boolean): Option {
  const o = new Option(
    '--msix-relocation <mode>',
    `QEMU's x-msix-relocation: ${[...MSIX_RELOCATION_MODES, ...(both ? ['both (off and auto)'] : [])].join(', ')} (default: the scenario's, off)`,
  );
  return both ? o : o.argParser(parseMsixRelocation);
}

function parseVmm(v: string): string {
  if (!vmmPolicyIds().includes(v)) throw new InvalidArgumentError(`allowed: ${vmmPolicyIds().join(', ')}`);
  return v;
}

/**
 * `--vmm`: which VMM's rules build the guest view (default: the scenario's, qemu unless it
 * sets one); with `all` (sweep) each built-in VMM, as a sweep dimension.
 */
export function vmmOption(all: boolean): Option {
  const o = new Option(
    '--vmm <vmm>',
    `the VMM whose rules map the device: ${[...vmmPolicyIds(), ...(all ? ['all'] : [])].join(', ')} (default: the scenario's, qemu)`,
  );
  return all ? o : o.argParser(parseVmm);
}

/** `--format`: one of `allowed`, `fallback` when not given. */
export function formatOption<F extends string>(description: string, allowed: readonly F[], fallback: F): Option {
  return new Option('--format <fmt>', description).argParser(parseFormat(allowed)).default(fallback);
}

/** The output formats of the commands that print results. */
export type ResultFormat = 'table' | 'json' | 'csv';

/** `--format` of the commands that print results (`run`, `sweep`, `merge`). */
export function resultFormatOption(): Option {
  return formatOption<ResultFormat>('table, json or csv', ['table', 'json', 'csv'], 'table');
}

/** An option holding a count (`--steps`, `--jobs`), with its default. */
export function positiveIntOption(flags: string, description: string, fallback: number): Option {
  return new Option(flags, description).argParser(parsePositiveInt).default(fallback);
}

/** What commander gives every command that builds one experiment point (`pointOptions`; `run` adds its own). */
export interface PointOptions {
  /** `--patches`: none, all or a comma list, parsed by core's `parsePatchList`. */
  patches: string;
  variant: Variant;
  pageSize?: number;
  seed: number;
  /** `--msix-relocation`, when given. */
  msixRelocation?: MsixRelocationMode;
  /** `--vmm`, when given. */
  vmm?: string;
}

/** The options `workloadOptions` adds: workload size, seed and cost overrides. */
export interface WorkloadOptions {
  pageSize?: number;
  ops?: number;
  seed: number;
  /** `--set cost.FIELD=VALUE` or `--set TARGET.FIELD=VALUE` (a plugin option), repeated. */
  set: string[];
}

/** Adds the options of a command that runs a workload (`WorkloadOptions`): `run` and `sweep`. */
export function workloadOptions(c: Command): Command {
  return c
    .addOption(new Option('--page-size <size>', "host page size: 4k, 16k or 64k (default: the platform's)").argParser(parsePageSize))
    .addOption(
      new Option('--ops <n>', `workload operations, at most ${MAX_OPS} (default: the scenario's)`).argParser(positiveIntUpTo(MAX_OPS)),
    )
    .addOption(new Option('--seed <n>', 'seed recorded with the run').argParser(positiveIntUpTo(MAX_SEED)).default(1))
    .option(
      '--set <NAME.FIELD=VALUE>',
      'set a cost parameter (cost.FIELD) or a plugin option (INSTANCE, PLUGIN or platform .FIELD); repeatable; see vhw list',
      collect,
      [],
    );
}

/** Adds the options of a command that builds one experiment point and runs no workload (`PointOptions`): `map` and `explain`. */
export function pointOptions(c: Command): Command {
  return c
    .addOption(patchesOption())
    .addOption(variantOption(false))
    .addOption(msixRelocationOption(false))
    .addOption(vmmOption(false))
    .addOption(new Option('--page-size <size>', '4k, 16k or 64k').argParser(parsePageSize))
    .addOption(new Option('--seed <n>').argParser(positiveIntUpTo(MAX_SEED)).default(1).hideHelp());
}

/** The experiment point the point options name. */
export function configOf(opts: PointOptions): ExperimentConfig {
  return {
    patches: parsePatchList(opts.patches),
    variant: opts.variant,
    seed: opts.seed,
    ...(opts.pageSize ? { pageSize: opts.pageSize } : {}),
    ...(opts.msixRelocation ? { relocation: opts.msixRelocation } : {}),
    ...(opts.vmm ? { vmm: opts.vmm } : {}),
  };
}
