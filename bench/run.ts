/**
 * Hot-path benchmarks of @vhw/core, measured in one run and reported as ratios to a raw
 * DataView load/store loop on the same machine (absolute numbers vary between hosts,
 * ratios much less). Run with `npm run bench`; writes bench/results.json.
 *
 * Every benchmark does the same work per operation: one 4-byte load and one 4-byte store
 * of the loaded value plus one, at an address taken from a precomputed Float64Array, so
 * the loops allocate nothing themselves. A task call runs OPS operations.
 */
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Table from 'cli-table3';
import { Bench } from 'tinybench';
import {
  AddressSpace,
  ContainerModule,
  type GuestCpu,
  GuestCpuToken,
  Lifecycle,
  Machine,
  type MmioHandler,
  type Mmu,
  MmuToken,
  Stage,
  type Stats,
  StatsToken,
  definePlugin,
  guestRam,
  simplePlatform,
  z,
} from '@vhw/core';

const OPS = 1024;
const PAGE = 65536;
const RAM_BASE = 0;
const RAM_SIZE = 1 << 20;
const DEVICE_BASE = 0x4000_0000;
const REGS = 64; // 32-bit registers of the trivial device

/** A trivial register file: no side effects, 64 dwords repeated across the page. */
function trivialRegs(): MmioHandler {
  const regs = new Uint32Array(REGS);
  return {
    read: (offset) => regs[(offset >>> 2) & (REGS - 1)],
    write: (offset, _size, value) => {
      regs[(offset >>> 2) & (REGS - 1)] = value;
    },
  };
}

/** Register offsets spread over the device page, 4-byte aligned. */
function offsets(span: number): Float64Array {
  const out = new Float64Array(OPS);
  let x = 0x9e3779b9;
  for (let i = 0; i < OPS; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out[i] = ((x % span) >>> 2) << 2;
  }
  return out;
}

/** A path under test: a guest CPU, and the guest-physical range of registers its accesses go to. */
interface PathUnderTest {
  cpu: GuestCpu;
  base: number;
  /** Bytes from `base` the accesses spread over (4-byte aligned registers). */
  span: number;
  /** What the path is, for the report. */
  label: string;
}

/** Maps the trivial device's page direct and the next page as trap, with a core AddressSpace behind the trap. */
const benchDevice = definePlugin({
  name: 'bench-device',
  kind: 'device',
  description: 'a trivial register file, one page direct and one page trapped',
  schema: z.strictObject({ at: z.number().int().nonnegative() }),
  module: ({ at }) =>
    new ContainerModule(({ bind }) => {
      bind<Lifecycle>(Lifecycle).toDynamicValue((ctx) => {
        const mmu = ctx.get<Mmu>(MmuToken);
        const cpu = ctx.get<GuestCpu>(GuestCpuToken);
        const stats = ctx.get<Stats>(StatsToken);
        return {
          name: 'bench-device',
          stage: Stage.Device,
          realize() {
            const regs = trivialRegs();
            mmu.mapDirect({ name: 'direct', gpa: at, size: mmu.pageSize, hostPa: 0x3fe0_0000_0000, handler: regs, handlerOffset: 0 });
            mmu.mapTrap('trap', at + mmu.pageSize, mmu.pageSize, 'bench');
            const vmm = new AddressSpace('bench-vmm', 'ignore');
            vmm.mapMmio({ name: 'regs', base: at + mmu.pageSize, size: mmu.pageSize, handler: regs, constraints: { valid: { sizes: [4, 8] } } });
            // The trap handler counts the trap by reason, as the VMM does.
            cpu.setTrapHandler({
              high: 0,
              read(gpa, size, reason) {
                stats.trapsByReasonCounts[reason]++;
                const v = vmm.read(gpa, size);
                this.high = vmm.high;
                return v;
              },
              write(gpa, size, value, high, reason) {
                stats.trapsByReasonCounts[reason]++;
                vmm.write(gpa, size, value, high);
              },
            });
          },
        };
      });
    }),
});

function benchMachine(): Machine {
  return Machine.create({
    name: 'bench',
    plugins: [simplePlatform({ pageSize: PAGE }), guestRam({ base: RAM_BASE, size: RAM_SIZE }), benchDevice({ at: DEVICE_BASE })],
  });
}

/**
 * Today's trapped path: core's GuestCpu with a trap handler that dispatches through a
 * core AddressSpace to the trivial register file.
 */
function coreTrapPath(): PathUnderTest {
  const m = benchMachine();
  return { cpu: m.cpu, base: DEVICE_BASE + m.mmu.pageSize, span: PAGE, label: 'GuestCpu → exit → AddressSpace → trivial handler' };
}

/**
 * The trapped path measured. To measure the real VMM path, point this at a factory that
 * builds a machine with the VMM (plus vfio-pci and a device) and returns its cpu and a
 * trapped register range; nothing else in this file changes.
 */
const trapPath: () => PathUnderTest = coreTrapPath;

function directPath(): PathUnderTest {
  const m = benchMachine();
  return { cpu: m.cpu, base: DEVICE_BASE, span: PAGE, label: 'GuestCpu → direct page → trivial handler' };
}

function ramPath(): PathUnderTest {
  return { cpu: benchMachine().cpu, base: RAM_BASE, span: RAM_SIZE, label: 'GuestCpu → RAM page → DataView' };
}

let sink = 0;

function cpuLoop(p: PathUnderTest): () => void {
  const { cpu, base } = p;
  const addrs = offsets(p.span).map((o) => base + o);
  return () => {
    let acc = 0;
    for (let i = 0; i < OPS; i++) {
      const a = addrs[i];
      const v = cpu.load(a, 4);
      cpu.store(a, 4, v + 1);
      acc += v;
    }
    sink += acc;
  };
}

function rawLoop(): () => void {
  const dv = new DataView(new ArrayBuffer(PAGE));
  const addrs = offsets(PAGE);
  return () => {
    let acc = 0;
    for (let i = 0; i < OPS; i++) {
      const a = addrs[i];
      const v = dv.getUint32(a, true);
      dv.setUint32(a, (v + 1) >>> 0, true);
      acc += v;
    }
    sink += acc;
  };
}

const REGION_SIZE = 0x1000;

/** An AddressSpace with `n` trivial MMIO regions (gaps between them) and OPS random addresses across all of them. */
function dispatchLoop(n: number): () => void {
  const as = new AddressSpace(`dispatch-${n}`, 'ignore');
  const handler = trivialRegs();
  as.transaction(() => {
    for (let i = 0; i < n; i++) as.mapMmio({ name: `r${i}`, base: 0x1_0000_0000 + i * 2 * REGION_SIZE, size: REGION_SIZE, handler });
  });
  const addrs = new Float64Array(OPS);
  let x = 12345;
  for (let i = 0; i < OPS; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const region = x % n;
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    addrs[i] = 0x1_0000_0000 + region * 2 * REGION_SIZE + (((x % REGION_SIZE) >>> 2) << 2);
  }
  return () => {
    let acc = 0;
    for (let i = 0; i < OPS; i++) {
      const a = addrs[i];
      const v = as.read(a, 4);
      as.write(a, 4, v + 1);
      acc += v;
    }
    if (as.unassignedCounts[0] !== 0) throw new Error('dispatch benchmark hit a hole');
    sink += acc;
  };
}

interface Row {
  name: string;
  what: string;
  nsPerOp: number;
}

async function main(): Promise<void> {
  const gc = (globalThis as { gc?: () => void }).gc;
  const bench = new Bench({
    name: 'vhw core hot paths',
    time: 600,
    warmupTime: 200,
    iterations: 64,
    setup: () => gc?.(),
  });
  const trap = trapPath();
  const direct = directPath();
  const ram = ramPath();
  const what: Record<string, string> = {
    raw: 'DataView getUint32 + setUint32 (baseline)',
    ram: ram.label,
    direct: direct.label,
    trap: trap.label,
  };
  bench.add('raw', rawLoop());
  bench.add('ram', cpuLoop(ram));
  bench.add('direct', cpuLoop(direct));
  bench.add('trap', cpuLoop(trap));
  for (const n of [16, 256, 4096, 16384]) {
    bench.add(`dispatch${n}`, dispatchLoop(n));
    what[`dispatch${n}`] = `AddressSpace.read + write, ${n} regions, random addresses`;
  }
  await bench.run();

  const rows: Row[] = bench.tasks.map((t) => {
    const r = t.result;
    if (r.state !== 'completed') throw new Error(`benchmark ${t.name} did not complete: ${r.state}${'error' in r ? `: ${String(r.error)}` : ''}`);
    // median task latency in ms over OPS operations
    return { name: t.name, what: what[t.name], nsPerOp: (r.latency.p50 * 1e6) / OPS };
  });
  const ns = Object.fromEntries(rows.map((r) => [r.name, r.nsPerOp]));
  const ratio = (a: string, b: string) => ns[a] / ns[b];
  const round = (x: number) => Math.round(x * 1000) / 1000;

  const targets: Record<string, [string, string, number]> = {
    directVsRaw: ['direct', 'raw', 5],
    trapVsRaw: ['trap', 'raw', 25],
    ramVsRaw: ['ram', 'raw', 3],
    dispatch16384Vs16: ['dispatch16384', 'dispatch16', 1.3],
  };

  const table = new Table({ head: ['benchmark', 'what one op is', 'ns/op', 'x raw'] });
  for (const r of rows) table.push([r.name, r.what, r.nsPerOp.toFixed(2), ratio(r.name, 'raw').toFixed(2)]);
  const cpuInfo = cpus();
  const machine = { node: process.version, cpu: cpuInfo[0]?.model ?? 'unknown', cores: cpuInfo.length };
  console.log(`vhw core benchmarks: node ${machine.node}, ${machine.cpu}, ${machine.cores} cores; one op = 4-byte load + 4-byte store`);
  console.log(table.toString());

  const check = new Table({ head: ['ratio', 'measured', 'target', 'met'] });
  const ratios: Record<string, number> = {};
  for (const [key, [a, b, limit]] of Object.entries(targets)) {
    ratios[key] = round(ratio(a, b));
    check.push([key, ratios[key].toFixed(2), `<= ${limit}`, ratios[key] <= limit ? 'yes' : 'NO']);
  }
  console.log(check.toString());

  const out = join(dirname(fileURLToPath(import.meta.url)), 'results.json');
  const nsPerOp = Object.fromEntries(rows.map((r) => [r.name, round(r.nsPerOp)]));
  writeFileSync(out, JSON.stringify({ machine, ratios, nsPerOp }, null, 2) + '\n');
  // `sink` keeps the loops' results alive; checking it keeps the JIT from dropping them.
  if (!Number.isFinite(sink)) throw new Error('benchmark loops produced a non-finite checksum');
  console.log(`wrote ${out}`);
}

await main();
