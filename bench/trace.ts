/**
 * What tracing costs once it is off: the guest drivers' workload (RAM, direct and trapped
 * accesses through the MMU, the VMM and vfio) timed on a machine that never traced and on one
 * that traced (a recorder attached, some operations traced) and then switched tracing off.
 * Each is measured in processes of its own, alternated round by round so a slow phase of a
 * shared machine hits both alike, as V8's compiled code and type feedback are per process:
 * the traced one has run the tracing paths, the other never has. Reported per patch
 * combination: the best CPU time per operation of each (the process's user + system time,
 * not the wall clock, which on a shared machine mostly measures waiting for a core; best
 * batch in a process, best over processes), the spread (worst process over best) and the ratio off / never, which is
 * ~1 when switching tracing off leaves nothing on the hot path.
 *
 * Run with `npm run bench:trace`; writes the `traceOff` entry of bench/results.json (and
 * nothing else of it).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_SCENARIO, loadScenario, parsePatchList, prepare, traceMachine } from '@vhw/experiment';

const ROUNDS = 5;
const BATCHES = 8;
const OPS_PER_BATCH = 16_000;
const CHUNK = 16;
const PATCH_SETS = ['none', 'all'] as const;
type Mode = 'never' | 'off';

/** One patch combination's figures. */
export interface TraceOffFigure {
  /** Best ns per operation on a machine that never traced. */
  neverNs: number;
  /** Best ns per operation after tracing was on and switched off. */
  offNs: number;
  /** offNs over neverNs. */
  ratio: number;
  /** Worst process over best, never traced. */
  neverSpread: number;
  /** Worst process over best, tracing switched off. */
  offSpread: number;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** In a child process: the best ns per operation of each patch combination, for `mode`. */
async function child(mode: Mode): Promise<Record<string, number>> {
  const scenario = await loadScenario(DEFAULT_SCENARIO);
  const out: Record<string, number> = {};
  for (const patches of PATCH_SETS) {
    const run = prepare(scenario, { patches: parsePatchList(patches), variant: 'rfc-2015', seed: 1 });
    const work = (ops: number) => {
      for (let left = ops; left > 0; left -= CHUNK * run.drivers.length) for (const d of run.drivers) d.run(CHUNK);
    };
    if (mode === 'off') {
      let records = 0;
      traceMachine(run, { record: () => records++ });
      work(2000);
      run.machine.trace(false);
      if (records === 0) throw new Error('the traced warm-up recorded nothing');
    }
    work(OPS_PER_BATCH * 3); // warm-up: V8 compiles the untraced paths
    let best = Number.POSITIVE_INFINITY;
    for (let b = 0; b < BATCHES; b++) {
      const t0 = process.cpuUsage();
      work(OPS_PER_BATCH);
      const t = process.cpuUsage(t0);
      best = Math.min(best, ((t.user + t.system) * 1e3) / OPS_PER_BATCH);
    }
    run.machine.dispose();
    out[patches] = best;
  }
  return out;
}

/** Runs ROUNDS processes of each mode, alternated, and returns the figures per patch combination. */
export function measureTraceOff(): Record<string, TraceOffFigure> {
  const self = fileURLToPath(import.meta.url);
  const bests: Record<Mode, Array<Record<string, number>>> = { never: [], off: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const mode of r % 2 === 0 ? (['never', 'off'] as const) : (['off', 'never'] as const)) {
      const c = spawnSync(process.execPath, [...process.execArgv, self, '--child', mode], { encoding: 'utf8' });
      if (c.status !== 0) throw new Error(`bench/trace.ts --child ${mode} exited ${c.status}: ${c.stderr}`);
      bests[mode].push(JSON.parse(c.stdout) as Record<string, number>);
    }
  }
  const figures: Record<string, TraceOffFigure> = {};
  for (const patches of PATCH_SETS) {
    const never = bests.never.map((b) => b[patches]!);
    const off = bests.off.map((b) => b[patches]!);
    const neverNs = Math.min(...never);
    const offNs = Math.min(...off);
    figures[`patches ${patches}`] = {
      neverNs: round3(neverNs),
      offNs: round3(offNs),
      ratio: round3(offNs / neverNs),
      neverSpread: round3(Math.max(...never) / neverNs),
      offSpread: round3(Math.max(...off) / offNs),
    };
  }
  return figures;
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--child');
  if (i >= 0) {
    process.stdout.write(JSON.stringify(await child(process.argv[i + 1] as Mode)));
    return;
  }
  const figures = measureTraceOff();
  console.log(`ns per driver operation (${DEFAULT_SCENARIO}), best of ${ROUNDS} processes each`);
  console.log('patches  never traced  tracing off  off/never  spread never / off');
  for (const [name, f] of Object.entries(figures)) {
    console.log(
      `${name.replace('patches ', '').padEnd(8)} ${f.neverNs.toFixed(1).padStart(12)} ${f.offNs.toFixed(1).padStart(12)} ${f.ratio.toFixed(3).padStart(10)}  ${f.neverSpread.toFixed(2)} / ${f.offSpread.toFixed(2)}`,
    );
  }
  // Only this bench's key: the rest of results.json belongs to `npm run bench`.
  const file = join(dirname(fileURLToPath(import.meta.url)), 'results.json');
  const results = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  results.traceOff = {
    scenario: DEFAULT_SCENARIO,
    rounds: ROUNDS,
    opsPerBatch: OPS_PER_BATCH,
    measuredAt: new Date().toISOString(),
    node: process.version,
    figures,
  };
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
}

await main();
