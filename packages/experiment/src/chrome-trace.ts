/**
 * A traced run as Chrome trace-event JSON (the Trace Event Format), which Perfetto UI and
 * chrome://tracing open: one process for the machine, one track (thread) for the guest CPU
 * and one per device, each trap a complete event ('X') on both the CPU's track and its
 * device's, direct and RAM accesses as running counts ('C'), isolation changes as instant
 * events ('i'). Timestamps are simulated time in microseconds.
 */
import { hex } from '@vhw/core';
import { type TraceInfo, type TraceRecord, type TraceRecorder, targetPlace } from './trace.js';

/** One event of the Trace Event Format, as far as vhw writes them. */
export interface TraceEvent {
  /** What the viewer shows: the slice's, counter's or metadata's name. */
  name: string;
  /** Complete slice, counter, instant or metadata. */
  ph: 'X' | 'C' | 'i' | 'M';
  /** The process (the machine). */
  pid: number;
  /** The track (thread): the vCPU or a device; absent on counters and process metadata. */
  tid?: number;
  /** Microseconds. */
  ts?: number;
  /** Microseconds (complete events). */
  dur?: number;
  /** The category: `trap`, `access`, `isolation`. */
  cat?: string;
  /** Instant events: their scope (`t`: the thread's track). */
  s?: 't' | 'p';
  /** What the viewer lists under the event (a counter's values). */
  args?: Record<string, string | number>;
}

const PID = 1;
const CPU_TID = 1;

/** Running read/write counts of one counter track, written when they changed and time moved on. */
interface Counter {
  name: string;
  reads: number;
  writes: number;
  timeNs: number;
  dirty: boolean;
}

/**
 * Writes a traced run as trace-event JSON through `write`, in pieces, as the run goes (the
 * file never needs the whole trace in memory). Call `end` once after the run.
 */
export class ChromeTraceWriter implements TraceRecorder {
  private started = false;
  private first = true;
  private readonly tids = new Map<string, number>();
  private readonly counters = new Map<string, Counter>();
  private readonly lastEnd = new Map<number, number>();

  /**
   * @param write - receives the JSON text in order
   * @param otherData - what the file says of the run besides its events (scenario, patches)
   */
  constructor(
    private readonly write: (chunk: string) => void,
    private readonly otherData: Record<string, string | number | boolean> = {},
  ) {}

  /** Writes the process and its tracks: the vCPUs' and one per device. */
  begin(info: TraceInfo): void {
    this.start();
    this.emit({ name: 'process_name', ph: 'M', pid: PID, args: { name: `vhw ${info.machine}` } });
    for (let cpu = 0; cpu < info.cpus; cpu++) this.track(`vCPU ${cpu}`, CPU_TID + cpu);
    for (const d of info.devices) this.deviceTid(d);
  }

  /** Writes one record: a trap as slices, an access into its counter, an EEH change as instants. */
  record(r: TraceRecord): void {
    this.start();
    if (r.kind === 'ram') {
      this.count(`vCPU 0 RAM accesses`, r.isWrite, r.timeNs);
      return;
    }
    if (r.kind === 'direct') {
      this.count(`${r.target?.device ?? 'unassigned'} direct accesses`, r.isWrite, r.timeNs);
      return;
    }
    this.flushCounters();
    if (r.kind === 'eeh') {
      const args = { group: r.group, state: r.state, cause: r.cause };
      const name = `EEH ${r.group} ${r.state}`;
      if (r.devices.length === 0) this.emit({ name, ph: 'i', s: 'p', pid: PID, ts: us(r.timeNs), cat: 'isolation', args });
      for (const d of r.devices)
        this.emit({ name, ph: 'i', s: 't', pid: PID, tid: this.deviceTid(d), ts: us(r.timeNs), cat: 'isolation', args });
      return;
    }
    const t = r.target;
    const place =
      t === undefined ? `unassigned ${hex(r.gpa)}` : t.register === undefined ? targetPlace(t) : `${t.device} BAR${t.bar} ${t.register}`;
    const args: Record<string, string | number> = {
      access: `${r.isWrite ? 'write' : 'read'} ${r.size}`,
      gpa: hex(r.gpa),
      value: hex(r.value >>> 0),
      reason: r.reason,
      ...(t === undefined ? {} : { device: t.device, bar: t.bar, offset: hex(t.offset), ...(t.register ? { register: t.register } : {}) }),
    };
    const name = `${place} (${r.reason})`;
    this.slice(name, CPU_TID, r.startNs, r.timeNs, args);
    if (t !== undefined) this.slice(name, this.deviceTid(t.device), r.startNs, r.timeNs, args);
  }

  /** Writes the counters' last values and closes the JSON. */
  end(): void {
    this.start();
    this.flushCounters();
    this.write(`\n],\n"displayTimeUnit":"ns",\n"otherData":${JSON.stringify(this.otherData)}}\n`);
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.write('{"traceEvents":[\n');
  }

  private emit(e: TraceEvent): void {
    this.write(this.first ? JSON.stringify(e) : `,\n${JSON.stringify(e)}`);
    this.first = false;
  }

  private track(name: string, tid: number): void {
    this.emit({ name: 'thread_name', ph: 'M', pid: PID, tid, args: { name } });
    this.emit({ name: 'thread_sort_index', ph: 'M', pid: PID, tid, args: { sort_index: tid } });
  }

  private deviceTid(device: string): number {
    let tid = this.tids.get(device);
    if (tid === undefined) {
      tid = CPU_TID + 1 + this.tids.size;
      this.tids.set(device, tid);
      this.track(device, tid);
    }
    return tid;
  }

  private slice(name: string, tid: number, startNs: number, endNs: number, args: Record<string, string | number>): void {
    // Never before the track's previous slice ended: the clock sums charges in another
    // order than they were made, so a start can come out a rounding error early.
    const start = Math.max(startNs, this.lastEnd.get(tid) ?? 0);
    this.lastEnd.set(tid, endNs);
    this.emit({ name, cat: 'trap', ph: 'X', pid: PID, tid, ts: us(start), dur: us(Math.max(0, endNs - start)), args });
  }

  /** Counts an access; a run of them becomes one counter sample, written before the next other event. */
  private count(name: string, isWrite: boolean, timeNs: number): void {
    let c = this.counters.get(name);
    if (c === undefined) {
      c = { name, reads: 0, writes: 0, timeNs, dirty: false };
      this.counters.set(name, c);
    }
    if (isWrite) c.writes++;
    else c.reads++;
    c.timeNs = timeNs;
    c.dirty = true;
  }

  private flushCounters(): void {
    for (const c of this.counters.values()) {
      if (!c.dirty) continue;
      c.dirty = false;
      this.emit({ name: c.name, ph: 'C', pid: PID, ts: us(c.timeNs), cat: 'access', args: { reads: c.reads, writes: c.writes } });
    }
  }
}

/** Nanoseconds as trace-event microseconds (three decimals: the model's resolution). */
function us(ns: number): number {
  return Math.round(ns) / 1000;
}
