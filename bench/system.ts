/**
 * Whole-system measurements: machine creation (time and heap), the default sweep serial
 * and over worker threads, and heap growth under a long run of guest accesses.
 */
import { deepStrictEqual } from 'node:assert/strict';
import { Machine, Path, type VhwPlugin } from '@vhw/core';
import type { Vmm } from '@vhw/vmm';
import { DEFAULT_SCENARIO, type RunResult, executeGrid, loadScenario, prepare, sweepGrid } from '@vhw/experiment';
import { nvmeDevices, ppc64Plugins } from './passthrough.js';

const gcFn = (globalThis as { gc?: () => void }).gc;

/** Full collections until the heap stops shrinking (a single gc() can leave weak and finalization work). */
export function collect(): number {
  if (!gcFn) throw new Error('bench: run with --expose-gc (npm run bench does)');
  let used = Infinity;
  for (let i = 0; i < 4; i++) {
    gcFn();
    const now = process.memoryUsage().heapUsed;
    if (now >= used) return now;
    used = now;
  }
  return used;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2; // the callers pass reps > 0
};

export interface CreateResult {
  devices: number;
  /** Median wall time of Machine.create, ms; null when the machine cannot be built. */
  ms: number | null;
  /** JS heap retained per machine (heapUsed after gc, averaged over several live machines); null when it cannot be built. */
  heapBytes: number | null;
  /** ArrayBuffer bytes per machine (guest RAM and the like, outside the JS heap). */
  arrayBufferBytes: number | null;
  /** The same machine with 1 MiB of guest RAM instead of 64 MiB: median ms (a diagnostic). */
  msWith1MiBRam: number | null;
  reps: number;
  error?: string;
}

function medianCreateMs(plugins: () => VhwPlugin[], reps: number): number {
  // warm-up: the first machines pay for JIT and inline caches
  for (let i = 0; i < 3; i++) Machine.create({ name: 'warm', plugins: plugins() }).dispose();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const p = plugins();
    // Start each rep on a collected heap: the time is this machine's, not the collection of the previous ones.
    collect();
    const t0 = performance.now();
    const m = Machine.create({ name: 'timed', plugins: p });
    times.push(performance.now() - t0);
    m.dispose();
  }
  return median(times);
}

/**
 * Machine.create of a ppc64 machine with `n` passed-through nvme-lite controllers (vfio-pci
 * without patches, vmm(), 64 MiB guest RAM as the scenarios). Plugin lists are built
 * outside the timed region; each rep builds a fresh machine and disposes it.
 */
export function measureCreate(n: number): CreateResult {
  const plugins = (): VhwPlugin[] => ppc64Plugins(nvmeDevices(n));
  try {
    Machine.create({ name: 'probe', plugins: plugins() }).dispose();
  } catch (e) {
    return { devices: n, ms: null, heapBytes: null, arrayBufferBytes: null, msWith1MiBRam: null, reps: 0, error: (e as Error).message };
  }
  const reps = n <= 1 ? 30 : n <= 16 ? 15 : 10;
  const ms = medianCreateMs(plugins, reps);
  const msWith1MiBRam = medianCreateMs(() => ppc64Plugins(nvmeDevices(n), undefined, 1 << 20), reps);
  // Heap: K live machines, heap after gc minus heap before, per machine.
  const K = n <= 16 ? 10 : 5;
  const lists = Array.from({ length: K }, plugins);
  const before = collect();
  const ab0 = process.memoryUsage().arrayBuffers;
  const live = lists.map((p) => Machine.create({ name: 'live', plugins: p }));
  const after = collect();
  const ab1 = process.memoryUsage().arrayBuffers;
  for (const m of live) m.dispose();
  return {
    devices: n,
    ms,
    heapBytes: Math.round((after - before) / K),
    arrayBufferBytes: Math.round((ab1 - ab0) / K),
    msWith1MiBRam,
    reps,
  };
}

export interface SweepMeasure {
  serialSeconds: number;
  serialWarmSeconds: number;
  jobsSeconds: number;
  /** Seconds from the start of the jobs sweep to its first result (worker start-up plus one point). */
  jobsFirstResultSeconds: number;
  jobs: number;
  points: number;
  identical: boolean;
  mismatch?: string;
}

/**
 * The default scenario's 8-combination rfc-2015 sweep with its default ops: serially
 * (first run in this process, then once more warm), then with `jobs` worker threads.
 * executeGrid builds a new piscina pool per call, so the jobs time includes starting
 * the workers, as `vhw sweep --jobs N` does.
 */
export async function measureSweep(jobs = 2): Promise<SweepMeasure> {
  const scenario = await loadScenario(DEFAULT_SCENARIO);
  const points = sweepGrid(scenario.name, ['rfc-2015']);
  const opts = { scenarioRef: DEFAULT_SCENARIO, costs: {}, seed: 1 };
  let t0 = performance.now();
  const serial: RunResult[] = await executeGrid(scenario, points, { ...opts, jobs: 1 });
  const serialSeconds = (performance.now() - t0) / 1000;
  t0 = performance.now();
  await executeGrid(scenario, points, { ...opts, jobs: 1 });
  const serialWarmSeconds = (performance.now() - t0) / 1000;
  t0 = performance.now();
  let first = 0;
  const parallel: RunResult[] = await executeGrid(scenario, points, {
    ...opts,
    jobs,
    onProgress: (done) => {
      if (done === 1) first = performance.now() - t0;
    },
  });
  const jobsSeconds = (performance.now() - t0) / 1000;
  let identical = true;
  let mismatch: string | undefined;
  try {
    deepStrictEqual(parallel, serial);
  } catch (e) {
    identical = false;
    mismatch = (e as Error).message.split('\n').slice(0, 20).join('\n');
  }
  return {
    serialSeconds,
    serialWarmSeconds,
    jobsSeconds,
    jobsFirstResultSeconds: first / 1000,
    jobs,
    points: points.length,
    identical,
    mismatch,
  };
}

/**
 * A grid large enough for worker threads to pay for their start-up (each worker loads the
 * TypeScript sources): both variants x 8 values of a cost parameter x 8 combinations =
 * 128 points, serial vs `jobs` threads, results checked identical.
 */
export async function measureLargeSweep(
  jobs = 2,
): Promise<{ points: number; serialSeconds: number; jobsSeconds: number; identical: boolean }> {
  const scenario = await loadScenario(DEFAULT_SCENARIO);
  const points = sweepGrid(scenario.name, ['rfc-2015', 'upstream'], {
    field: 'exit.userspaceFactor',
    values: [1, 1.5, 2, 2.5, 3, 3.5, 4, 5],
  });
  const opts = { scenarioRef: DEFAULT_SCENARIO, costs: {}, seed: 1 };
  let t0 = performance.now();
  const serial = await executeGrid(scenario, points, { ...opts, jobs: 1 });
  const serialSeconds = (performance.now() - t0) / 1000;
  t0 = performance.now();
  const parallel = await executeGrid(scenario, points, { ...opts, jobs });
  const jobsSeconds = (performance.now() - t0) / 1000;
  let identical = true;
  try {
    deepStrictEqual(parallel, serial);
  } catch {
    identical = false;
  }
  return { points: points.length, serialSeconds, jobsSeconds, identical };
}

export interface HeapMeasure {
  warmupAccesses: number;
  accesses: number;
  heapBytesAfterWarmup: number;
  heapBytesAfter1M: number;
  ratio: number;
  /** Accesses per path over warm-up and run, from the machine's statistics. */
  byPath: { ram: number; direct: number; trap: number };
  seconds: number;
}

/**
 * Heap growth under guest accesses: the default scenario prepared with patch 3 only
 * (nvme1's 64 KiB BAR0 maps direct, nvme0's sub-page BAR0 traps), and a loop of 4-byte
 * load + store pairs mixing guest RAM, nvme1 registers (direct) and nvme0 registers
 * (trap: exit → VMM → vfio fd → host bridge → device). The registers used are NVMe's
 * reserved space 0x100..0xfff (reads 0, writes ignored), so the devices' state does not
 * change and the guest drivers are not disturbed. gc() before each measurement.
 */
export async function measureHeap(warmupAccesses = 100_000, accesses = 1_000_000): Promise<HeapMeasure> {
  const scenario = await loadScenario(DEFAULT_SCENARIO);
  const run = prepare(scenario, { patches: { alignBars: false, subPageMmap: false, msixMmap: true }, variant: 'rfc-2015', seed: 1 });
  try {
    const { machine } = run;
    const vmm: Vmm = run.vmm;
    const barOf = (dev: string) => {
      const b = vmm.bars.find((x) => x.device === dev && x.index === 0);
      if (!b) throw new Error(`bench: no ${dev} BAR0`);
      return b;
    };
    const direct = barOf('nvme1');
    const trapped = barOf('nvme0');
    if (direct.plan.areas[0]?.path !== 'direct' || trapped.plan.areas[0]?.path !== 'trap') {
      throw new Error(
        `bench: expected nvme1 BAR0 direct and nvme0 BAR0 trapped, got ${direct.plan.areas[0]?.path} and ${trapped.plan.areas[0]?.path}`,
      );
    }
    const RAM_BASE = 0x80_0000; // 8 MiB: above the guest OS's allocations for the drivers, inside the 16 MiB of RAM
    const N = 4096;
    const addrs = new Float64Array(N);
    let x = 0x2545f491;
    for (let i = 0; i < N; i++) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      const kind = x % 3;
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      const reg = 0x100 + ((x % 0xf00) & ~3);
      addrs[i] = kind === 0 ? RAM_BASE + ((x % 0x10_0000) & ~3) : kind === 1 ? direct.guestAddress + reg : trapped.guestAddress + reg;
    }
    const cpu = machine.cpu;
    let acc = 0;
    let next = 0;
    // Locals in the loop, written back once: the loop itself allocates nothing.
    const pairs = (n: number) => {
      let k = next;
      let sum = 0;
      for (let i = 0; i < n; i++) {
        const a = addrs[k]!; // k is masked to N - 1
        k = (k + 1) & (N - 1);
        const v = cpu.load(a, 4);
        cpu.store(a, 4, v + 1);
        sum += v;
      }
      next = k;
      acc += sum;
    };
    machine.stats.reset();
    const t0 = performance.now();
    pairs(warmupAccesses / 2);
    const heapBytesAfterWarmup = collect();
    pairs(accesses / 2);
    const heapBytesAfter1M = collect();
    const seconds = (performance.now() - t0) / 1000;
    if (!Number.isFinite(acc)) throw new Error('bench: heap loop checksum is not finite');
    const s = machine.stats;
    const byPath = { ram: s.count(Path.Ram), direct: s.count(Path.Direct), trap: s.count(Path.Trap) };
    if (
      byPath.ram + byPath.direct + byPath.trap !== warmupAccesses + accesses ||
      byPath.ram === 0 ||
      byPath.direct === 0 ||
      byPath.trap === 0
    ) {
      throw new Error(`bench: heap loop paths ${JSON.stringify(byPath)} do not add up to ${warmupAccesses + accesses} mixed accesses`);
    }
    return {
      warmupAccesses,
      accesses,
      heapBytesAfterWarmup,
      heapBytesAfter1M,
      ratio: heapBytesAfter1M / heapBytesAfterWarmup,
      byPath,
      seconds,
    };
  } finally {
    run.machine.dispose();
  }
}
