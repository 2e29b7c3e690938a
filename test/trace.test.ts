/**
 * `vhw run --trace`: the trace-event JSON a person opens in Perfetto UI or chrome://tracing,
 * the line format for grep, the refused extensions, and that a failed run leaves no trace.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nvmeLite } from '@vhw/device-nvme-lite';
import {
  ChromeTraceWriter,
  type TraceEvent,
  type TraceRecord,
  preparePassthrough,
  pciRegisterNamer,
  traceLine,
  traceMachine,
} from '@vhw/experiment';
import { ROOT, vhw } from './support/vhw-cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'vhw-trace-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface TraceFile {
  traceEvents: TraceEvent[];
  displayTimeUnit: string;
  otherData: Record<string, unknown>;
}

/** The thread names of a trace, by tid. */
function tracks(t: TraceFile): Map<number, string> {
  return new Map(t.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => [e.tid!, String(e.args!.name)]));
}

describe('vhw run --trace FILE.json (the acceptance run)', () => {
  let trace: TraceFile;
  beforeAll(() => {
    const file = join(tmp, 't.json');
    const r = vhw('run', 'ppc64-nvme', '--patches', 'none', '--trace', file);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    trace = JSON.parse(readFileSync(file, 'utf8')) as TraceFile;
  }, 120_000);

  it('is trace-event JSON: an array of events of the kinds vhw writes, each well formed', () => {
    expect(Array.isArray(trace.traceEvents)).toBe(true);
    expect(trace.displayTimeUnit).toBe('ns');
    expect(trace.otherData).toEqual({ scenario: 'ppc64-nvme', variant: 'rfc-2015', patches: 'none' });
    for (const e of trace.traceEvents) {
      expect(['X', 'C', 'i', 'M']).toContain(e.ph);
      expect(typeof e.name).toBe('string');
      expect(e.pid).toBe(1);
      if (e.ph === 'M') continue;
      expect(Number.isFinite(e.ts)).toBe(true);
      expect(e.ts).toBeGreaterThanOrEqual(0);
      if (e.ph === 'X') {
        expect(Number.isInteger(e.tid)).toBe(true);
        expect(e.dur).toBeGreaterThan(0);
      }
      if (e.ph === 'C') expect(Object.values(e.args!).every((v) => typeof v === 'number')).toBe(true);
    }
    const names = trace.traceEvents.filter((e) => e.ph === 'M' && e.name === 'process_name').map((e) => e.args!.name);
    expect(names).toEqual(['vhw ppc64-nvme']);
  });

  it('has a track for the vCPU and one for nvme0, each trap a slice on both', () => {
    const byTid = tracks(trace);
    expect([...byTid.values()]).toEqual(['vCPU 0', 'nvme0']);
    const slices = trace.traceEvents.filter((e) => e.ph === 'X');
    const onCpu = slices.filter((e) => byTid.get(e.tid!) === 'vCPU 0');
    const onNvme = slices.filter((e) => byTid.get(e.tid!) === 'nvme0');
    // --patches none: the 16 KiB BAR shares its 64 KiB page, so every doorbell write traps.
    expect(onCpu.length).toBe(8000);
    expect(onNvme.map((e) => [e.name, e.ts, e.dur])).toEqual(onCpu.map((e) => [e.name, e.ts, e.dur]));
  });

  it('names each slice by device, BAR, register and reason: the trapped ones are nvme0 BAR0 doorbells', () => {
    const slices = trace.traceEvents.filter((e) => e.ph === 'X');
    const offsets = new Set<number>();
    for (const e of slices) {
      const a = e.args!;
      expect(a.device).toBe('nvme0');
      expect(a.bar).toBe(0);
      expect(a.reason).toBe('sub-page-bar');
      const offset = Number(a.offset);
      offsets.add(offset);
      // The doorbells start at BAR0 + 0x1000 (NVMe, CAP.DSTRD = 0: SQ y tail at 0x1000 + 8y, CQ y head 4 past it).
      expect(offset).toBeGreaterThanOrEqual(0x1000);
      expect(offset).toBeLessThan(0x1200);
      const register = a.register === undefined ? `+0x${offset.toString(16)}` : ` ${String(a.register)}`;
      expect(e.name).toBe(`nvme0 BAR0${register} (sub-page-bar)`);
    }
    // I/O queue 1's submission tail and completion head doorbells at least.
    expect(offsets).toContain(0x1008);
    expect(offsets).toContain(0x100c);
  });

  it('keeps every track in time order, slices never overlapping, counters never going back', () => {
    const lastEnd = new Map<string, number>();
    const counters = new Map<string, { ts: number; reads: number; writes: number }>();
    for (const e of trace.traceEvents) {
      if (e.ph === 'X') {
        const key = `${e.tid}`;
        expect(e.ts!).toBeGreaterThanOrEqual(lastEnd.get(key) ?? 0);
        lastEnd.set(key, e.ts! + e.dur!);
      } else if (e.ph === 'C') {
        const prev = counters.get(e.name);
        const now = { ts: e.ts!, reads: Number(e.args!.reads), writes: Number(e.args!.writes) };
        if (prev) {
          expect(now.ts).toBeGreaterThanOrEqual(prev.ts);
          expect(now.reads).toBeGreaterThanOrEqual(prev.reads);
          expect(now.writes).toBeGreaterThanOrEqual(prev.writes);
        }
        counters.set(e.name, now);
      }
    }
    // No direct access with every patch off; the guest's RAM accesses are counted.
    expect([...counters.keys()]).toEqual(['vCPU 0 RAM accesses']);
  });
});

describe('vhw run --trace with every patch', () => {
  it('counts nvme0 direct accesses as a counter and traps only what still must', () => {
    const file = join(tmp, 'all.json');
    expect(vhw('run', 'ppc64-nvme', '--patches', 'all', '--ops', '64', '--trace', file).code).toBe(0);
    const trace = JSON.parse(readFileSync(file, 'utf8')) as TraceFile;
    const direct = trace.traceEvents.filter((e) => e.ph === 'C' && e.name === 'nvme0 direct accesses');
    expect(direct.length).toBeGreaterThan(0);
    expect(Number(direct.at(-1)!.args!.writes)).toBeGreaterThan(0);
    expect(trace.traceEvents.filter((e) => e.ph === 'X' && Number(e.args?.offset) >= 0x1000 && Number(e.args?.offset) < 0x1200)).toEqual(
      [],
    );
  });
});

describe('vhw run --trace FILE.log', () => {
  it('writes one line per event in the documented format', () => {
    const file = join(tmp, 't.log');
    expect(vhw('run', 'ppc64-nvme', '--patches', 'none', '--ops', '16', '--trace', file).code).toBe(0);
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    const ram = /^\d+\.\d ram [RW][1248] 0x[0-9a-f]+ = 0x[0-9a-f]+$/;
    const trap = /^\d+\.\d trap [RW][1248] 0x[0-9a-f]+ = 0x[0-9a-f]+ nvme0 BAR0\+0x1[0-9a-f]{3}( reg=\S+)? reason=sub-page-bar ns=\d+\.\d$/;
    for (const l of lines) expect(l).toMatch(new RegExp(`${ram.source}|${trap.source}`));
    expect(lines.filter((l) => trap.test(l)).length).toBe(32);
    // A trap lasts from the exit to the guest's resumption, and the README's example is a real line.
    expect(lines.filter((l) => trap.test(l)).every((l) => Number(/ns=(\S+)$/.exec(l)![1]) > 0)).toBe(true);
    const example = /e\.g\. `(\d+\.\d trap [^`]+)`/.exec(readFileSync(join(ROOT, 'README.md'), 'utf8'))![1]!;
    expect(lines).toContain(example);
  });
});

describe('vhw run --trace refusals', () => {
  it('refuses an extension it does not write, naming the allowed ones, before running', () => {
    const file = join(tmp, 'trace.txt');
    const r = vhw('run', 'ppc64-nvme', '--ops', '4', '--trace', file);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/allowed: a file ending in \.json .* or \.log/);
    expect(readdirSync(tmp)).not.toContain('trace.txt');
  });

  it('leaves no partial trace when the run fails, and an earlier trace as it was', () => {
    const dir = mkdtempSync(join(tmp, 'fail-'));
    const file = join(dir, 't.json');
    writeFileSync(file, 'earlier');
    const r = vhw('run', 'ppc64-nvme', '--ops', '4', '--set', 'nvme0.layout=nope', '--trace', file);
    expect(r.code).toBe(2);
    expect(readdirSync(dir)).toEqual(['t.json']);
    expect(readFileSync(file, 'utf8')).toBe('earlier');
  });
});

describe('traceMachine', () => {
  it('names a register through the namer it is given, and the MSI-X table through PCI', () => {
    const run = preparePassthrough({ platform: 'ppc64', devices: [nvmeLite({ name: 'nvme0' })] });
    try {
      const records: TraceRecord[] = [];
      const namer = pciRegisterNamer(run.bridge);
      expect(namer('nvme0', 0, 0x2000, 4)).toBe('MSIX[0]');
      expect(namer('nvme0', 0, 0x2010 + 12, 4)).toBe('MSIX[1]');
      expect(namer('nvme0', 0, 0x3000, 8)).toBe('PBA');
      traceMachine(run, { record: (r) => records.push(r) }, (d, bar, offset) =>
        d === 'nvme0' && bar === 0 && offset === 0x1008 ? 'SQ1TDBL' : undefined,
      );
      run.drivers[0]!.run(4);
      const named = records.filter((r) => r.kind === 'trap' && r.target?.register === 'SQ1TDBL');
      expect(named.length).toBe(4);
      expect(traceLine(named[0]!)).toMatch(/ nvme0 BAR0\+0x1008 reg=SQ1TDBL reason=sub-page-bar ns=/);
      const chunks: string[] = [];
      const writer = new ChromeTraceWriter((c) => chunks.push(c));
      for (const r of records) writer.record(r);
      writer.end();
      const events = (JSON.parse(chunks.join('')) as TraceFile).traceEvents;
      expect(events.some((e) => e.name === 'nvme0 BAR0 SQ1TDBL (sub-page-bar)')).toBe(true);
      // A device model that names its registers (a `registers` map) is asked before PCI.
      Object.assign(run.bridge.functions[0]!.device, {
        registers: { nameAt: (bar: number, offset: number) => (bar === 0 && offset === 0x1008 ? 'SQ1TDBL' : undefined) },
      });
      expect(pciRegisterNamer(run.bridge)('nvme0', 0, 0x1008, 4)).toBe('SQ1TDBL');
      expect(pciRegisterNamer(run.bridge)('nvme0', 0, 0x2000, 4)).toBe('MSIX[0]');
    } finally {
      run.machine.dispose();
    }
  });
});
