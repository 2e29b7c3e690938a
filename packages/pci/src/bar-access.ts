import {
  type AddressSpace,
  type CompiledConstraints,
  type MmioHandler,
  type Region,
  accessIsValid,
  adaptedRead,
  adaptedWrite,
  allOnes,
  takesAsIs,
} from '@vhw/core';
import type { PciDevice } from './device.js';
import type { HostBridgeCounters, IsolationGroup } from './pci-function.js';

/** Decode and freeze gating in front of a BAR's register handler: what the host space maps for a BAR. */
export class BarGate implements MmioHandler {
  constructor(
    readonly group: IsolationGroup,
    readonly dev: PciDevice,
    private readonly counters: HostBridgeCounters,
    readonly inner: MmioHandler,
  ) {}

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
 * BAR, that BAR's gated handler (offsets from `base`) and access rules; otherwise
 * `whole` (offsets are host addresses), so bytes outside any BAR are answered by the
 * space's unassigned policy (and may freeze a PE).
 */
export function mmioTarget(space: AddressSpace, whole: MmioHandler, hpa: number, size: number): { handler: MmioHandler; base: number } {
  const r = space.find(hpa);
  if (r === undefined) return { handler: whole, base: 0 };
  if (hpa + size <= r.base + r.size) return { handler: new BoundBar(r, space), base: r.base };
  if (space.intersecting(hpa, size).length === 1) {
    // One BAR and nothing else (a sub-page BAR's page): the BAR directly, the rest of
    // the range through the space, where nothing decodes it.
    const bar = new BoundBar(r, space);
    const end = r.size;
    const base = r.base;
    return {
      base,
      handler: {
        read: (off, sz) => (off + sz <= end ? bar.read(off, sz) : space.read(base + off, sz)),
        write: (off, sz, value) => (off + sz <= end ? bar.write(off, sz, value) : space.write(base + off, sz, value)),
      },
    };
  }
  return { handler: whole, base: 0 };
}

/**
 * One mapped BAR reached without the host space's lookup (what an mmap of it, or the
 * vfio fd path, reaches), with the space's access rules: an aligned access of a size the
 * BAR takes as it is goes to it (straight to the device's handler while the BAR decodes,
 * one call fewer on both passthrough paths); anything else is checked, then adapted or
 * answered by the space's policy, as through the space.
 */
class BoundBar implements MmioHandler {
  private readonly handler: MmioHandler;
  // The gate's state and the device's handler behind it. A region that is not a gated
  // BAR gets a group that reads as frozen, so every access goes to its own handler.
  private readonly group: { readonly mmioFrozen: boolean };
  private readonly dev: { readonly memoryEnabled: boolean };
  private readonly inner: MmioHandler;
  private readonly constraints: CompiledConstraints;
  private readonly passSizes: number;
  private readonly base: number;

  constructor(
    r: Region,
    private readonly space: AddressSpace,
  ) {
    const gate = r.handler instanceof BarGate ? r.handler : undefined;
    this.handler = r.handler;
    this.group = gate?.group ?? NOT_GATED;
    this.dev = gate?.dev ?? NOT_GATED;
    this.inner = gate?.inner ?? r.handler;
    this.constraints = r.constraints;
    this.passSizes = r.passSizes;
    this.base = r.base;
  }

  read(off: number, size: 1 | 2 | 4): number {
    if (takesAsIs(this.passSizes, off, size)) {
      return this.group.mmioFrozen || !this.dev.memoryEnabled ? this.handler.read(off, size) : this.inner.read(off, size);
    }
    return accessIsValid(this.constraints, off, size)
      ? adaptedRead(this.handler, this.constraints, off, size)
      : this.space.rejectRead(this.base + off, size, 'invalid-size');
  }

  write(off: number, size: 1 | 2 | 4, value: number): void {
    if (takesAsIs(this.passSizes, off, size)) {
      if (this.group.mmioFrozen || !this.dev.memoryEnabled) this.handler.write(off, size, value);
      else this.inner.write(off, size, value);
    } else if (accessIsValid(this.constraints, off, size)) adaptedWrite(this.handler, this.constraints, off, size, value);
    else this.space.rejectWrite(this.base + off, size, 'invalid-size');
  }
}

const NOT_GATED = { mmioFrozen: true, memoryEnabled: false } as const;
