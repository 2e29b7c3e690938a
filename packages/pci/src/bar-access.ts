import {
  type AddressSpace,
  type CompiledConstraints,
  type MmioHandler,
  type Region,
  accessIsValid,
  adaptedRead,
  adaptedWrite,
  type RoutedMmioHandler,
  StateWatchers,
  allOnes,
  takesAsIs,
} from '@vhw/core';
import type { PciDevice } from './device.js';
import type { HostBridgeCounters, IsolationGroup } from './pci-function.js';

/**
 * Decode and freeze gating in front of a BAR's register handler: what the host space maps
 * for a BAR. The gate is a state, not a test made by every access on the fast paths: its
 * `route` is the device's handler while the BAR decodes and its PE is not frozen, and the
 * gate itself (which answers as the blocked BAR does) otherwise; the group's freeze and the
 * device's decode bit re-point it when they change, and the mappings that follow it (see
 * `mmioTarget`) are told. Called itself, the gate tests the state (the host's own accesses).
 */
export class BarGate implements MmioHandler {
  /** What an access the BAR takes as it is reaches now (see the class). */
  route: MmioHandler;
  private readonly watchers = new StateWatchers();

  constructor(
    readonly group: IsolationGroup,
    readonly dev: PciDevice,
    private readonly counters: HostBridgeCounters,
    readonly inner: MmioHandler,
  ) {
    this.route = this.currentRoute();
    // The gate lives as long as its group and device (it is their BAR's host mapping).
    group.mmioFrozenFlag.add(() => this.reroute());
    dev.memoryEnabledFlag.add(() => this.reroute());
  }

  read(off: number, size: 1 | 2 | 4): number {
    if (this.group.mmioFrozen) {
      this.counters.frozenMmioReads++;
      return allOnes(size);
    }
    if (!this.dev.memoryEnabled) {
      this.counters.decodeDisabledAccesses++;
      return allOnes(size);
    }
    return this.inner.read(off, size);
  }

  write(off: number, size: 1 | 2 | 4, value: number): void {
    if (this.group.mmioFrozen) {
      this.counters.frozenMmioWrites++;
      return;
    }
    if (!this.dev.memoryEnabled) {
      this.counters.decodeDisabledAccesses++;
      return;
    }
    this.inner.write(off, size, value);
  }

  /** Calls `onChange` after every change of `route`; returns the function that stops it. */
  watchRoute(onChange: () => void): () => void {
    return this.watchers.add(onChange);
  }

  private currentRoute(): MmioHandler {
    return !this.group.mmioFrozen && this.dev.memoryEnabled ? this.inner : this;
  }

  private reroute(): void {
    const next = this.currentRoute();
    if (next === this.route) return;
    this.route = next;
    this.watchers.notify();
  }
}

/** A handler over host MMIO at absolute host addresses (offset = host address). */
export function wholeSpaceHandler(space: AddressSpace): MmioHandler {
  return {
    read: (hpa, size) => space.read(hpa, size),
    write: (hpa, size, value) => space.write(hpa, size, value),
  };
}

/**
 * What an mmap of `[hpa, hpa + size)` of `space` reaches: when the range lies inside one
 * BAR, that BAR (offsets from `base`) with its access rules; otherwise `whole` (offsets are
 * host addresses), so bytes outside any BAR are answered by the space's unassigned policy
 * (and may freeze a PE). A BAR's handler offers its gate's route (`RoutedMmioHandler`), so
 * a direct mapping of it reaches the device's handler with no test of the gate's state.
 */
export function mmioTarget(space: AddressSpace, whole: MmioHandler, hpa: number, size: number): { handler: MmioHandler; base: number } {
  const r = space.find(hpa);
  if (r === undefined) return { handler: whole, base: 0 };
  if (hpa + size <= r.base + r.size) return { handler: new BoundBar(r, space), base: r.base };
  // One BAR and nothing else (a sub-page BAR's page): the BAR directly, the rest of the
  // range through the space, where nothing decodes it.
  if (space.intersecting(hpa, size).length === 1)
    return { handler: new BarPage(new BoundBar(r, space), space, r.base, r.size), base: r.base };
  return { handler: whole, base: 0 };
}

/** Where a region that is not a gated BAR routes to: its own handler, for good. */
class FixedRoute {
  constructor(readonly route: MmioHandler) {}
  watchRoute(): () => void {
    return () => {};
  }
}

/**
 * One mapped BAR reached without the host space's lookup (what an mmap of it, or the
 * vfio fd path, reaches), with the space's access rules: an aligned access of a size the
 * BAR takes as it is goes to its gate's route (the device's handler while the BAR decodes,
 * one call fewer on both passthrough paths; no test of the gate's state); anything else is
 * checked, then adapted or answered by the space's policy, as through the space.
 */
class BoundBar implements RoutedMmioHandler {
  private readonly handler: MmioHandler;
  private readonly gate: BarGate | FixedRoute;
  private readonly constraints: CompiledConstraints;
  readonly routeSizes: number;
  readonly routeEnd: number;
  private readonly base: number;

  constructor(
    r: Region,
    private readonly space: AddressSpace,
  ) {
    this.handler = r.handler;
    this.gate = r.handler instanceof BarGate ? r.handler : new FixedRoute(r.handler);
    this.constraints = r.constraints;
    this.routeSizes = r.passSizes;
    this.routeEnd = r.size;
    this.base = r.base;
  }

  get route(): MmioHandler {
    return this.gate.route;
  }

  watchRoute(onChange: () => void): () => void {
    return this.gate.watchRoute(onChange);
  }

  read(off: number, size: 1 | 2 | 4): number {
    if (takesAsIs(this.routeSizes, off, size)) return this.gate.route.read(off, size);
    return accessIsValid(this.constraints, off, size)
      ? adaptedRead(this.handler, this.constraints, off, size)
      : this.space.rejectRead(this.base + off, size, 'invalid-size');
  }

  write(off: number, size: 1 | 2 | 4, value: number): void {
    if (takesAsIs(this.routeSizes, off, size)) this.gate.route.write(off, size, value);
    else if (accessIsValid(this.constraints, off, size)) adaptedWrite(this.handler, this.constraints, off, size, value);
    else this.space.rejectWrite(this.base + off, size, 'invalid-size');
  }
}

/**
 * The host page of a sub-page BAR (offsets from the BAR's start): the BAR up to its end,
 * the rest of the page through the space, where nothing decodes it. Its route is the BAR's,
 * up to the BAR's end.
 */
class BarPage implements RoutedMmioHandler {
  constructor(
    private readonly bar: BoundBar,
    private readonly space: AddressSpace,
    private readonly base: number,
    readonly routeEnd: number,
  ) {}

  get route(): MmioHandler {
    return this.bar.route;
  }

  get routeSizes(): number {
    return this.bar.routeSizes;
  }

  watchRoute(onChange: () => void): () => void {
    return this.bar.watchRoute(onChange);
  }

  read(off: number, size: 1 | 2 | 4): number {
    return off + size <= this.routeEnd ? this.bar.read(off, size) : this.space.read(this.base + off, size);
  }

  write(off: number, size: 1 | 2 | 4, value: number): void {
    if (off + size <= this.routeEnd) this.bar.write(off, size, value);
    else this.space.write(this.base + off, size, value);
  }
}
