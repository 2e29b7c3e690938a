import { WatchedFlag } from '@vhw/core';
import type { PciDevice } from './device.js';
import { Iommu } from './iommu.js';

/** A set of functions the platform isolates together (on PPC64, a Partitionable Endpoint). */
export class IsolationGroup {
  /** Whether the group's MMIO is frozen, with the watchers told when it changes (the BARs' gates re-route their mappings). */
  readonly mmioFrozenFlag = new WatchedFlag(false);
  dmaFrozen = false;
  /** Times this group was frozen. */
  freezes = 0;
  readonly functions: PciFunction[] = [];
  readonly iommu: Iommu;
  constructor(
    readonly id: string,
    readonly index: number,
  ) {
    this.iommu = new Iommu(`iommu:${id}`);
  }
  /** Whether the group's MMIO is frozen (accesses answer all-ones, writes are dropped). */
  get mmioFrozen(): boolean {
    return this.mmioFrozenFlag.on;
  }
  set mmioFrozen(on: boolean) {
    this.mmioFrozenFlag.set(on);
  }
  get frozen(): boolean {
    return this.mmioFrozen || this.dmaFrozen;
  }
}

/** A memory BAR as the host assigned it. */
export interface AssignedBar {
  index: number;
  address: number;
  size: number;
  label: string | undefined;
}

/** A device as enumerated on the host: its address, group and assigned BARs. */
export class PciFunction {
  readonly bars: AssignedBar[] = [];
  constructor(
    readonly device: PciDevice,
    readonly bdf: string,
    readonly group: IsolationGroup,
  ) {}
  get name(): string {
    return this.device.name;
  }
  bar(index: number): AssignedBar | undefined {
    return this.bars.find((b) => b.index === index);
  }
}

/** Counters of what the host bridge blocked or answered on a device's behalf. */
export interface HostBridgeCounters {
  frozenMmioReads: number;
  frozenMmioWrites: number;
  decodeDisabledAccesses: number;
  dmaFaults: number;
  dmaBlocked: number;
  msiDelivered: number;
  msiBlocked: number;
  msiCrossGroupDelivered: number;
  msiSpurious: number;
}

/** A fresh set of host bridge counters, all zero. */
export function newHostBridgeCounters(): HostBridgeCounters {
  return {
    frozenMmioReads: 0,
    frozenMmioWrites: 0,
    decodeDisabledAccesses: 0,
    dmaFaults: 0,
    dmaBlocked: 0,
    msiDelivered: 0,
    msiBlocked: 0,
    msiCrossGroupDelivered: 0,
    msiSpurious: 0,
  };
}

/** Who occupies host addresses: BARs, reservations and, where the platform has them, group segments. */
export interface HostOwner {
  kind: 'bar' | 'reservation' | 'segment';
  /** Function name for BARs and reservations, group id (or `unowned`) for segments. */
  owner: string;
  group: string | undefined;
  bar?: number;
  base: number;
  size: number;
}
