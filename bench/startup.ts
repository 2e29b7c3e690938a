/**
 * Start-up of the `vhw` command as an installed package runs it: the built JavaScript of
 * dist/ (the bin with VHW_BUILT=1, which resolves every vhw package to its dist/ exactly as
 * node_modules of a user's project does; test/pack-install.test.ts runs the same files from
 * tarballs). Each command is timed as a whole process, wall clock from spawn to exit, beside
 * a bare `node -e 0` measured in the same rounds: rounds alternate the commands so that a
 * slow phase of a shared machine hits all of them alike. Reported per command: the best of
 * ROUNDS processes, the ratio of that best to node's best, and the spread (worst over best).
 *
 * Run alone with `npm run bench:startup` (needs `npm run build`); bench/run.ts includes it.
 * Writes the `startup` entry of bench/results.json.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'packages/cli/bin/vhw.mjs');
const ROUNDS = 7;

/** The commands measured, with the start-up each should stay under on a 2-core machine. */
const COMMANDS: { name: string; args: string[]; targetMs?: number }[] = [
  { name: 'node -e 0', args: ['-e', '0'] },
  { name: 'vhw --help', args: [BIN, '--help'], targetMs: 300 },
  { name: 'vhw list', args: [BIN, 'list'], targetMs: 300 },
  { name: 'vhw run ppc64-nvme', args: [BIN, 'run', 'ppc64-nvme'], targetMs: 1000 },
];

/** One command's figures. */
export interface StartupFigure {
  bestMs: number;
  /** Best over node's best in the same run. */
  ratio: number;
  /** Worst over best of the ROUNDS processes. */
  spread: number;
  targetMs?: number;
  met?: boolean;
}

/** The start-up figures, or why they were not measured. */
export type StartupResult = { rounds: number; commands: Record<string, StartupFigure> } | { skipped: string };

const round2 = (x: number) => Math.round(x * 100) / 100;

/** Times each command ROUNDS times, interleaved, and returns best, ratio and spread. */
export function measureStartup(): StartupResult {
  if (!existsSync(join(ROOT, 'packages/cli/dist/main.js')))
    return { skipped: 'packages/cli/dist is missing: run `npm run build` first (start-up is measured on the built package)' };
  const env: NodeJS.ProcessEnv = { ...process.env, VHW_BUILT: '1', NO_COLOR: '1' };
  delete env.NODE_OPTIONS;
  const times = new Map<string, number[]>(COMMANDS.map((c) => [c.name, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of COMMANDS) {
      const t0 = performance.now();
      const child = spawnSync(process.execPath, c.args, { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
      const ms = performance.now() - t0;
      if (child.status !== 0) throw new Error(`${c.name} exited ${child.status}: ${child.stderr}`);
      times.get(c.name)?.push(ms);
    }
  }
  const best = (name: string) => Math.min(...(times.get(name) ?? [Number.NaN]));
  const nodeBest = best('node -e 0');
  const commands: Record<string, StartupFigure> = {};
  for (const c of COMMANDS) {
    const ts = times.get(c.name) ?? [];
    const b = best(c.name);
    commands[c.name] = {
      bestMs: round2(b),
      ratio: round2(b / nodeBest),
      spread: round2(Math.max(...ts) / b),
      ...(c.targetMs !== undefined ? { targetMs: c.targetMs, met: b < c.targetMs } : {}),
    };
  }
  return { rounds: ROUNDS, commands };
}

/** Prints the figures as a small table. */
export function printStartup(r: StartupResult): void {
  if ('skipped' in r) {
    console.log(`start-up: skipped: ${r.skipped}`);
    return;
  }
  console.log(`start-up of the built vhw command, best of ${r.rounds} processes:`);
  for (const [name, f] of Object.entries(r.commands)) {
    const target = f.targetMs !== undefined ? `  target < ${f.targetMs} ms: ${f.met ? 'met' : 'MISSED'}` : '';
    console.log(
      `  ${name.padEnd(20)} ${f.bestMs.toFixed(0).padStart(6)} ms  ${f.ratio.toFixed(2).padStart(6)}x node  spread ${f.spread.toFixed(2)}${target}`,
    );
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = measureStartup();
  printStartup(r);
  const out = join(ROOT, 'bench/results.json');
  const previous = existsSync(out) ? (JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>) : {};
  writeFileSync(out, `${JSON.stringify({ ...previous, startup: r }, null, 2)}\n`);
  console.log(`wrote the startup entry of ${out}`);
}
