/**
 * Start-up of the `vhw` command as an installed package runs it: the built JavaScript of
 * dist/ (the bin with VHW_BUILT=1, which resolves every vhw package to its dist/ exactly as
 * node_modules of a user's project does; test/pack-install.test.ts runs the same files from
 * tarballs). Each command is timed as a whole process beside a bare `node -e 0` measured in
 * the same rounds: rounds alternate the commands so that a slow phase of a shared machine
 * hits all of them alike. Two clocks: wall time from spawn to exit, and the CPU time the
 * process itself used (user + system, read at its exit by bench/cpu-probe.cjs), which is
 * what the start-up costs apart from waiting for a core on a shared machine. Reported per
 * command and clock: the best of ROUNDS processes, its ratio to node's best, and the spread
 * (worst over best). A target is met when the best CPU time is under it.
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
const PROBE = join(ROOT, 'bench/cpu-probe.cjs');
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
  /** Best wall time, spawn to exit. */
  bestMs: number;
  /** Best wall time over node's best in the same run. */
  ratio: number;
  /** Worst over best wall time of the ROUNDS processes. */
  spread: number;
  /** Best CPU time of the process (user + system). */
  bestCpuMs: number;
  /** Best CPU time over node's best CPU time. */
  cpuRatio: number;
  /** Worst over best CPU time. */
  cpuSpread: number;
  targetMs?: number;
  /** bestCpuMs under targetMs. */
  met?: boolean;
}

/** The start-up figures, or why they were not measured. */
export type StartupResult = { rounds: number; commands: Record<string, StartupFigure> } | { skipped: string };

const round2 = (x: number) => Math.round(x * 100) / 100;

/** Times each command ROUNDS times, interleaved, and returns best, ratio and spread on both clocks. */
export function measureStartup(): StartupResult {
  if (!existsSync(join(ROOT, 'packages/cli/dist/main.js')))
    return { skipped: 'packages/cli/dist is missing: run `npm run build` first (start-up is measured on the built package)' };
  const env: NodeJS.ProcessEnv = { ...process.env, VHW_BUILT: '1', NO_COLOR: '1' };
  delete env.NODE_OPTIONS;
  const wall = new Map<string, number[]>(COMMANDS.map((c) => [c.name, []]));
  const cpu = new Map<string, number[]>(COMMANDS.map((c) => [c.name, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of COMMANDS) {
      const t0 = performance.now();
      const child = spawnSync(process.execPath, ['--require', PROBE, ...c.args], {
        cwd: ROOT,
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
        encoding: 'utf8',
      });
      const ms = performance.now() - t0;
      if (child.status !== 0) throw new Error(`${c.name} exited ${child.status}: ${child.stderr}`);
      const us = /vhw-bench-cpu-us (\d+)/.exec(child.stderr)?.[1];
      if (us === undefined) throw new Error(`${c.name}: no CPU time reported`);
      wall.get(c.name)?.push(ms);
      cpu.get(c.name)?.push(Number(us) / 1000);
    }
  }
  const best = (m: Map<string, number[]>, name: string) => Math.min(...(m.get(name) ?? [Number.NaN]));
  const worst = (m: Map<string, number[]>, name: string) => Math.max(...(m.get(name) ?? [Number.NaN]));
  const commands: Record<string, StartupFigure> = {};
  for (const c of COMMANDS) {
    const b = best(wall, c.name);
    const bc = best(cpu, c.name);
    commands[c.name] = {
      bestMs: round2(b),
      ratio: round2(b / best(wall, 'node -e 0')),
      spread: round2(worst(wall, c.name) / b),
      bestCpuMs: round2(bc),
      cpuRatio: round2(bc / best(cpu, 'node -e 0')),
      cpuSpread: round2(worst(cpu, c.name) / bc),
      ...(c.targetMs !== undefined ? { targetMs: c.targetMs, met: bc < c.targetMs } : {}),
    };
  }
  return { rounds: ROUNDS, commands };
}

/** Prints the figures, one line per command: wall clock, then the process's CPU time. */
export function printStartup(r: StartupResult): void {
  if ('skipped' in r) {
    console.log(`start-up: skipped: ${r.skipped}`);
    return;
  }
  console.log(`start-up of the built vhw command, best of ${r.rounds} processes (wall | CPU of the process):`);
  for (const [name, f] of Object.entries(r.commands)) {
    const target = f.targetMs !== undefined ? `  target CPU < ${f.targetMs} ms: ${f.met ? 'met' : 'MISSED'}` : '';
    const wallCol = `${f.bestMs.toFixed(0).padStart(5)} ms ${f.ratio.toFixed(2).padStart(5)}x node (spread ${f.spread.toFixed(2)})`;
    const cpuCol = `${f.bestCpuMs.toFixed(0).padStart(5)} ms ${f.cpuRatio.toFixed(2).padStart(5)}x node (spread ${f.cpuSpread.toFixed(2)})`;
    console.log(`  ${name.padEnd(20)} ${wallCol} | ${cpuCol}${target}`);
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
