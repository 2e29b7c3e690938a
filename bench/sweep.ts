/**
 * Sweeps at scale (issue 16 items 1 and 2): memory and run time over many runs, and what
 * `--jobs 2` gains over serial. Run with `npm run bench:sweep`; writes only its own keys into
 * bench/results.json (read, changed, written back).
 *
 * - `sweepRssMbPer1000Runs`: RSS growth per 1,000 runs of a serial sweep of ppc64-nvme over
 *   `--vary cost.guest.ioStackNs=0..20000` (the measurement), between run 1,000 and the
 *   last; `sweepLateVsEarlyRunTime`: mean time of the last 1,000 runs over the first 1,000.
 *   Each process runs RUNS runs (`--runs N`, default 2,000; the target is stated for 8,000).
 * - `sweepJobsSpeedup`: `vhw sweep --jobs 1` over `--jobs 2` wall time, on a 128-point grid
 *   (ppc64-mixed, `--vary` of 16 points); `sweepJobsSpeedupSmall`: the same on the 16-run
 *   default sweep (`--variant both`), where `--jobs 2` must never be slower.
 *
 * Every figure is the best of several processes (rounds alternate the two commands, so a slow
 * phase of a shared machine hits both alike), with the spread (worst over best).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'packages/cli/bin/vhw.mjs');
const SELF = fileURLToPath(import.meta.url);
const NODE_ARGS = ['--expose-gc', '--import', 'tsx', '--conditions=vhw-source'];

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};

/** One process's memory run: per-run times, and RSS after run 1,000 and at the end. */
interface MemoryRun {
  runs: number;
  earlyMs: number;
  lateMs: number;
  rssAt1000Mb: number;
  rssEndMb: number;
  seconds: number;
}

/** The child: a serial sweep of `runs` points, timed run by run. */
async function memoryChild(runs: number): Promise<void> {
  const { executeGrid, loadScenario, parseVary, sweepGrid } = await import('@vhw/experiment');
  const scenario = await loadScenario('ppc64-nvme');
  const points = sweepGrid(scenario.name, ['rfc-2015'], parseVary('cost.guest.ioStackNs=0..20000', Math.ceil(runs / 8))).slice(0, runs);
  const times: number[] = [];
  let last = performance.now();
  let rssAt1000 = 0;
  const t0 = performance.now();
  await executeGrid(scenario, points, {
    scenarioRef: 'ppc64-nvme',
    costs: {},
    seed: 1,
    jobs: 1,
    onProgress: (done) => {
      const now = performance.now();
      times.push(now - last);
      last = now;
      if (done === 1000) rssAt1000 = process.memoryUsage().rss;
    },
  });
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const block = Math.min(1000, Math.floor(runs / 2));
  const out: MemoryRun = {
    runs,
    earlyMs: mean(times.slice(0, block)),
    lateMs: mean(times.slice(-block)),
    rssAt1000Mb: rssAt1000 / 1e6,
    rssEndMb: process.memoryUsage().rss / 1e6,
    seconds: (performance.now() - t0) / 1000,
  };
  process.stdout.write(JSON.stringify(out));
}

function memoryRun(runs: number): MemoryRun {
  const r = spawnSync(process.execPath, [...NODE_ARGS, SELF, '--child-memory', String(runs)], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`memory child exited ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout) as MemoryRun;
}

/** Wall seconds of one `vhw sweep` process. */
function sweepSeconds(args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [BIN, 'sweep', ...args, '--format', 'json', '--no-progress'], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  if (r.status !== 0) throw new Error(`vhw sweep ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return (performance.now() - t0) / 1000;
}

/** Serial against `--jobs 2`, alternating, best of `rounds` each. */
function jobsSpeedup(args: string[], rounds: number) {
  const serial: number[] = [];
  const jobs: number[] = [];
  for (let i = 0; i < rounds; i++) {
    serial.push(sweepSeconds([...args, '--jobs', '1']));
    jobs.push(sweepSeconds([...args, '--jobs', '2']));
  }
  const best = (xs: number[]) => Math.min(...xs);
  const spread = (xs: number[]) => Math.max(...xs) / Math.min(...xs);
  return {
    speedup: round(best(serial) / best(jobs)),
    serialSeconds: round(best(serial)),
    jobsSeconds: round(best(jobs)),
    spread: { serial: round(spread(serial)), jobs: round(spread(jobs)) },
    rounds,
  };
}

const round = (x: number) => Math.round(x * 1000) / 1000;

async function main(): Promise<void> {
  const child = process.argv.indexOf('--child-memory');
  if (child >= 0) return memoryChild(Number(process.argv[child + 1]));
  const runs = arg('--runs', 2000);
  const processes = arg('--processes', 3);
  const rounds = arg('--rounds', 3);
  const started = performance.now();

  const mem = Array.from({ length: processes }, () => memoryRun(runs));
  const perK = mem.map((m) => ((m.rssEndMb - m.rssAt1000Mb) / (m.runs - 1000)) * 1000);
  const late = mem.map((m) => m.lateMs / m.earlyMs);
  const large = jobsSpeedup(['ppc64-mixed', '--vary', 'cost.guest.ioStackNs=0..20000', '--steps', '16'], rounds);
  const small = jobsSpeedup(['ppc64-mixed', '--variant', 'both'], rounds);

  const figures = {
    sweepRssMbPer1000Runs: round(Math.min(...perK)),
    sweepLateVsEarlyRunTime: round(Math.min(...late)),
    sweepMemory: {
      runs,
      processes,
      rssMbPer1000Runs: perK.map(round),
      lateVsEarly: late.map(round),
      rssEndMb: mem.map((m) => round(m.rssEndMb)),
      earlyMsPerRun: mem.map((m) => round(m.earlyMs)),
      seconds: mem.map((m) => round(m.seconds)),
    },
    sweepJobsSpeedup: large.speedup,
    sweepJobsSpeedupSmall: small.speedup,
    sweepJobs: { grid128: large, default16: small },
    sweepBenchSeconds: round((performance.now() - started) / 1000),
  };
  console.table({
    sweepRssMbPer1000Runs: { value: figures.sweepRssMbPer1000Runs, target: '< 1000 MB per 8,000 runs' },
    sweepLateVsEarlyRunTime: { value: figures.sweepLateVsEarlyRunTime, target: '<= 1.2' },
    sweepJobsSpeedup: { value: figures.sweepJobsSpeedup, target: '>= 1.6' },
    sweepJobsSpeedupSmall: { value: figures.sweepJobsSpeedupSmall, target: '>= 1 (never slower)' },
  });
  // Only this bench's keys: the other benches write theirs into the same file.
  const file = join(ROOT, 'bench/results.json');
  const results: Record<string, unknown> = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  writeFileSync(file, `${JSON.stringify({ ...results, ...figures }, null, 2)}\n`);
}

await main();
