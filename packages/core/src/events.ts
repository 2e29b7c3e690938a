import { EventEmitter } from 'eventemitter3';

export interface MapChangeEvent {
  action: 'map' | 'unmap';
  kind: 'ram' | 'direct' | 'trap';
  name: string;
  gpa: number;
  size: number;
}
export interface AccessEvent {
  path: 'ram' | 'direct' | 'trap';
  gpa: number;
  size: number;
  isWrite: boolean;
  value: number;
  timeNs: number;
}
export interface TrapEvent {
  gpa: number;
  size: number;
  isWrite: boolean;
  reason: string;
  /** When the exit began (simulated ns): the guest stopped here. */
  startNs: number;
  /** When the guest resumed, the access done (simulated ns). */
  timeNs: number;
}
export interface InterruptEvent {
  source: string;
  vector: number;
  delivered: boolean;
  reason?: string;
  timeNs: number;
}
export interface UnassignedEvent {
  space: string;
  addr: number;
  size: number;
  isWrite: boolean;
  reason: string;
}
export interface IsolationEvent {
  /** The isolation group (on PPC64 a PE), e.g. "phb0:pe3". */
  group: string;
  state: string;
  cause: string;
  timeNs: number;
}
export interface ErrorEvent {
  source: string;
  error: Error;
}

/**
 * The machine's typed events. `map`, `isolation` and `error` are emitted whenever they
 * happen (they are rare), and so is an `interrupt` that was blocked or dropped; `access`,
 * `trap`, delivered `interrupt`s and `unassigned` only while tracing is on, so an access
 * with tracing off neither emits nor allocates.
 */
export interface MachineEventMap {
  map: (e: MapChangeEvent) => void;
  access: (e: AccessEvent) => void;
  trap: (e: TrapEvent) => void;
  interrupt: (e: InterruptEvent) => void;
  unassigned: (e: UnassignedEvent) => void;
  isolation: (e: IsolationEvent) => void;
  error: (e: ErrorEvent) => void;
}

export class MachineEvents extends EventEmitter<MachineEventMap> {
  private tracingOn = false;
  private readonly tracingWatchers: Array<(on: boolean) => void> = [];

  /** Per-access events are emitted only when this is true. */
  get tracing(): boolean {
    return this.tracingOn;
  }

  set tracing(on: boolean) {
    this.tracingOn = on;
    for (const watch of this.tracingWatchers) watch(on);
  }

  /** Calls `watch` whenever tracing is switched (a guest CPU leaves its untraced fast path). */
  watchTracing(watch: (on: boolean) => void): void {
    this.tracingWatchers.push(watch);
  }
}
