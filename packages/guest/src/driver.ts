/**
 * The guest driver contract: what a device plugin's driver receives when the guest probes
 * it, and what it must implement to be the workload of a run.
 */
import type { GuestCpu } from '@vhw/core';
import type { EehErrorHandler } from './eeh.js';
import type { GuestOs } from './os.js';
import type { WorkloadKind } from './mmio-loop.js';
import type { GuestPciBus } from './pci-bus.js';

/** The guest-side context a driver runs in. */
export interface GuestContext {
  /** The guest CPU: the driver's loads and stores (`mmioLoad`/`mmioStore` for registers). */
  readonly cpu: GuestCpu;
  /** The guest's PCI bus, where the driver finds its function. */
  readonly bus: GuestPciBus;
  /** The guest kernel's services: DMA-able RAM, interrupt vectors, MSI-X set-up, EEH. */
  readonly os: GuestOs;
}

/**
 * A guest driver: the workload that exercises one device. Device plugins contribute
 * one per device instance (`GuestDriverToken`).
 *
 * @example
 * ```ts
 * for (const d of machine.getAll(GuestDriverToken)) d.probe({ cpu, bus, os });
 * ```
 */
export interface GuestDriver extends EehErrorHandler {
  /** The device instance it drives. */
  readonly device: string;
  /** What one operation is ("command", "packet", "MMIO access"). */
  readonly opName: string;
  /**
   * `mmio` when each operation is one register access (the MMIO workload): a run then
   * charges no guest I/O stack per operation and reports MMIO accesses per second.
   * Absent or `io`: operations are I/O requests.
   */
  readonly workload?: WorkloadKind;
  /** Probes the device: finds its BARs, sets up rings in guest RAM and MSI-X. */
  probe(ctx: GuestContext): void;
  /** Runs `ops` operations (synchronously, in simulated time). */
  run(ops: number): { completed: number; failed: number };
  /** The device was reset under the driver (EEH recovery): re-initialise it and resubmit what was lost. */
  recover?(): void;
}
