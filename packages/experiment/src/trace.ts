/**
 * Tracing a run: what one guest access, trap or isolation change looks like as a record,
 * and how a prepared machine is made to produce them. The records go to a recorder (the
 * Chrome trace-event writer, the line writer, or a test's own); nothing here runs unless a
 * run asks for a trace, so an untraced machine pays nothing for it.
 */
import { type Machine, hex } from '@vhw/core';
import type { HostBridge, PciDevice } from '@vhw/pci';
import type { Vmm } from '@vhw/vmm';

/** Where a device access landed: the device, its BAR, the offset in it and, where known, the register's name. */
export interface TraceTarget {
  /** The device's name (`nvme0`). */
  device: string;
  /** The BAR's index. */
  bar: number;
  /** Bytes from the start of the BAR. */
  offset: number;
  /** The register's name where the device plugin names it (or the MSI-X table and PBA); absent otherwise. */
  register?: string;
}

/** One guest access to RAM (emitted while tracing, after the access completed). */
export interface RamAccessRecord {
  /** Which record this is. */
  kind: 'ram';
  /** When the access completed (simulated ns). */
  timeNs: number;
  /** The guest-physical address. */
  gpa: number;
  /** Bytes: 1, 2, 4 or 8. */
  size: number;
  /** A store (else a load). */
  isWrite: boolean;
  /** The value stored or loaded (the low 32 bits of an 8-byte access). */
  value: number;
}

/** One guest access that went to a device without an exit (a page mapped direct). */
export interface DirectAccessRecord {
  /** Which record this is. */
  kind: 'direct';
  /** When the access completed (simulated ns). */
  timeNs: number;
  /** The guest-physical address. */
  gpa: number;
  /** Bytes: 1, 2, 4 or 8. */
  size: number;
  /** A store (else a load). */
  isWrite: boolean;
  /** The value stored or loaded (the low 32 bits of an 8-byte access). */
  value: number;
  /** Undefined when the page maps no passed-through BAR. */
  target: TraceTarget | undefined;
}

/** One trapped access: the exit to the VMM, its dispatch and the region's work, from start to end. */
export interface TrapRecord {
  /** Which record this is. */
  kind: 'trap';
  /** When the exit began (simulated ns): the guest CPU stopped there. */
  startNs: number;
  /** When the guest resumed, the access completed (simulated ns). */
  timeNs: number;
  /** The guest-physical address. */
  gpa: number;
  /** Bytes: 1, 2, 4 or 8. */
  size: number;
  /** A store (else a load). */
  isWrite: boolean;
  /** The value stored or loaded (the low 32 bits of an 8-byte access). */
  value: number;
  /** Why the page traps (the MMU page's reason, e.g. `sub-page-bar`). */
  reason: string;
  /** Undefined when the address is in no passed-through BAR (an unassigned access). */
  target: TraceTarget | undefined;
}

/** An isolation group (on PPC64 a PE) changed state: frozen, recovering, reset, configured. */
export interface IsolationRecord {
  /** Which record this is. */
  kind: 'eeh';
  /** When the state changed (simulated ns). */
  timeNs: number;
  /** The group (`phb0:pe3`). */
  group: string;
  /** Its new state. */
  state: string;
  /** What made it change. */
  cause: string;
  /** The devices of the group. */
  devices: string[];
}

/** What a traced run produces, one record per event. */
export type TraceRecord = RamAccessRecord | DirectAccessRecord | TrapRecord | IsolationRecord;

/** The machine a trace is of, given to a recorder before the first record. */
export interface TraceInfo {
  /** The machine's (scenario's) name. */
  machine: string;
  /** Guest CPUs (a vhw machine has one). */
  cpus: number;
  /** Every passed-through device, in the host bridge's order: one track each. */
  devices: string[];
}

/** Receives a traced run's records. */
export interface TraceRecorder {
  /** Called once, before the first record. */
  begin?(info: TraceInfo): void;
  /** Called once per record, in the order they happened. */
  record(r: TraceRecord): void;
}

/** Receives a traced run's records as lines of the documented line format (`traceLine`). */
export type TraceLineListener = (line: string) => void;

/**
 * Names a register of a device: the hook traces take. Returns undefined where it has no name
 * (the trace then says `BAR0+0x1000`).
 */
export type RegisterNamer = (device: string, bar: number, offset: number, size?: number) => string | undefined;

const MSIX_ENTRY_BYTES = 16;

/**
 * The register names a machine's devices give: a device model's own first (the
 * `PciDeviceSpec.registers` its plugin names), then what PCI itself says of every device: the MSI-X table entries
 * (`MSIX[3]`) and the PBA.
 * @param bridge - the host bridge whose functions' devices are asked
 */
export function pciRegisterNamer(bridge: HostBridge): RegisterNamer {
  const devices = new Map<string, PciDevice>(bridge.functions.map((f) => [f.device.name, f.device]));
  return (name, bar, offset) => {
    const d = devices.get(name);
    if (d === undefined) return undefined;
    const own = d.registers.nameAt(bar, offset);
    if (own !== undefined) return own;
    const m = d.spec.msix;
    if (m === undefined) return undefined;
    if (bar === m.tableBar && offset >= m.tableOffset && offset < m.tableOffset + m.vectors * MSIX_ENTRY_BYTES) {
      return `MSIX[${Math.floor((offset - m.tableOffset) / MSIX_ENTRY_BYTES)}]`;
    }
    if (bar === m.pbaBar && offset >= m.pbaOffset && offset < m.pbaOffset + 8 * Math.ceil(m.vectors / 64)) return 'PBA';
    return undefined;
  };
}

/** What `traceMachine` takes: the parts of a prepared run a trace reads. */
export interface TracedMachine {
  /** The machine: its events, clock and guest CPU. */
  machine: Machine;
  /** The VMM: where an address lands (device, BAR, offset). */
  vmm: Vmm;
  /** The host bridge: the devices and their isolation groups. */
  bridge: HostBridge;
}

/**
 * Switches tracing on for `run` and sends its records to `to` from now on: a recorder gets
 * the records, a line listener their lines (`traceLine`).
 * @param registerName - names registers (default: `pciRegisterNamer(run.bridge)`)
 */
export function traceMachine(
  run: TracedMachine,
  to: TraceRecorder | TraceLineListener,
  registerName: RegisterNamer = pciRegisterNamer(run.bridge),
): void {
  const { machine, vmm, bridge } = run;
  const recorder: TraceRecorder = typeof to === 'function' ? { record: (r) => to(traceLine(r)) } : to;
  recorder.begin?.({ machine: machine.name, cpus: 1, devices: bridge.functions.map((f) => f.device.name) });
  const targetOf = (gpa: number, size: number): TraceTarget | undefined => {
    const at = vmm.explain(gpa);
    if (at === undefined) return undefined;
    const { device, index: bar } = at.bar;
    const register = registerName(device, bar, at.offset, size);
    return register === undefined ? { device, bar, offset: at.offset } : { device, bar, offset: at.offset, register };
  };
  let trapValue = 0;
  machine.trace(true);
  machine.events.on('access', (e) => {
    if (e.path === 'trap') trapValue = e.value;
    else if (e.path === 'ram')
      recorder.record({ kind: 'ram', timeNs: e.timeNs, gpa: e.gpa, size: e.size, isWrite: e.isWrite, value: e.value });
    else {
      const target = targetOf(e.gpa, e.size);
      recorder.record({ kind: 'direct', timeNs: e.timeNs, gpa: e.gpa, size: e.size, isWrite: e.isWrite, value: e.value, target });
    }
  });
  machine.events.on('trap', (e) => {
    recorder.record({
      kind: 'trap',
      startNs: e.startNs,
      timeNs: e.timeNs,
      gpa: e.gpa,
      size: e.size,
      isWrite: e.isWrite,
      value: trapValue,
      reason: e.reason,
      target: targetOf(e.gpa, e.size),
    });
  });
  machine.events.on('isolation', (e) => {
    const devices = bridge.groups.find((g) => g.id === e.group)?.functions.map((f) => f.device.name) ?? [];
    recorder.record({ kind: 'eeh', timeNs: e.timeNs, group: e.group, state: e.state, cause: e.cause, devices });
  });
}

/** `nvme0 BAR0+0x1008`: where an access landed, by offset (always there, for grep). */
export function targetPlace(t: TraceTarget): string {
  return `${t.device} BAR${t.bar}+${hex(t.offset)}`;
}

/**
 * One record as a line of the trace line format (`--trace FILE.log`), fields separated by
 * one space, times in simulated nanoseconds with one decimal:
 *
 *     <end-ns> ram    <R|W><size> <gpa> = <value>
 *     <end-ns> direct <R|W><size> <gpa> = <value> [<device> BAR<n>+<offset> [reg=<name>]]
 *     <end-ns> trap   <R|W><size> <gpa> = <value> [<device> BAR<n>+<offset> [reg=<name>]] reason=<reason> ns=<duration>
 *     <ns>     eeh    <group> <state> cause=<cause> devices=<a,b>
 */
export function traceLine(r: TraceRecord): string {
  const t = r.timeNs.toFixed(1);
  if (r.kind === 'eeh') return `${t} eeh ${r.group} ${r.state} cause=${r.cause.replaceAll(' ', '_')} devices=${r.devices.join(',')}`;
  const access = `${t} ${r.kind} ${r.isWrite ? 'W' : 'R'}${r.size} ${hex(r.gpa)} = ${hex(r.value >>> 0)}`;
  if (r.kind === 'ram') return access;
  const where =
    r.target === undefined ? '' : ` ${targetPlace(r.target)}${r.target.register === undefined ? '' : ` reg=${r.target.register}`}`;
  if (r.kind === 'direct') return `${access}${where}`;
  return `${access}${where} reason=${r.reason} ns=${(r.timeNs - r.startNs).toFixed(1)}`;
}
