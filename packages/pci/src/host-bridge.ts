import {
  type AddressSpace,
  type GuestMemory,
  type MachineEvents,
  type MmioHandler,
  type Platform,
  type SimClock,
  VhwError,
  allOnes,
  hex,
} from '@vhw/core';
import { type BarPlacement, type MmioWindowSpec, usedBytes } from './allocator.js';
import { mmioTarget, wholeSpaceHandler } from './bar-access.js';
import { bdfOf, mapFunctionBars, placeBars, restoreFunction } from './bar-placement.js';
import type { PciDevice } from './device.js';
import { dmaPort } from './dma-port.js';
import { type HostReservation, HostResources } from './host-resources.js';
import { type IrqHandler, type MsiMessage, MsiRouter } from './msi-router.js';
import { type HostBridgeCounters, type HostOwner, IsolationGroup, PciFunction, newHostBridgeCounters } from './pci-function.js';
import type { HostBridgePolicy } from './platform-policy.js';

/** What a host bridge is built from: the platform's facts and policy, its MMIO window and the machine's services. */
export interface HostBridgeOptions {
  name: string;
  /** The platform's facts (the object bound under core's `PlatformToken`): page size, unassigned policy, EEH... */
  platform: Platform;
  window: MmioWindowSpec;
  events: MachineEvents;
  clock: SimClock;
  memory: GuestMemory | undefined;
  /** Address of the interrupt controller's MSI doorbell. */
  msiAddress: number;
  /** What the platform decides (groups, placement, segments, error handling); default: a plain host. */
  policy?: HostBridgePolicy;
}

/**
 * A PCI host bridge as the host kernel sees it: enumerates devices into isolation groups
 * and hands the rest to its units: BAR placement (`bar-placement.ts`), host resources
 * and the isolation rule (`HostResources`), MSI routing (`MsiRouter`) and each function's
 * DMA port (`dmaPort`). The platform customises it through a `HostBridgePolicy`.
 */
export class HostBridge {
  readonly name: string;
  /** The platform's facts: what vfio-pci and the VMM read (page size, EEH, page-aligned BARs...). */
  readonly platform: Platform;
  readonly functions: PciFunction[] = [];
  readonly groups: IsolationGroup[] = [];
  readonly counters: HostBridgeCounters = newHostBridgeCounters();
  /** Who owns what in host MMIO, and the isolation rule. */
  readonly resources: HostResources;
  readonly msi: MsiRouter;
  private readonly window: MmioWindowSpec;
  private readonly memory: GuestMemory | undefined;
  private readonly policy: HostBridgePolicy;
  private placements: BarPlacement[] = [];
  private realized = false;

  constructor(o: HostBridgeOptions) {
    this.name = o.name;
    this.platform = o.platform;
    this.window = o.window;
    this.memory = o.memory;
    this.policy = o.policy ?? {};
    this.resources = new HostResources(
      o.name,
      o.platform.unassignedPolicy,
      this.policy,
      (n) => this.functions.find((f) => f.name === n)?.group.id,
    );
    this.msi = new MsiRouter({
      msiAddress: o.msiAddress,
      policy: this.policy,
      counters: this.counters,
      events: o.events,
      clock: o.clock,
      dmaFault: (fn, iova) => this.dmaFault(fn, iova),
    });
    this.mmioHandler = wholeSpaceHandler(this.resources.space);
  }

  /** The host page size (the platform's fact). */
  get pageSize(): number {
    return this.platform.pageSize;
  }
  /** Whether the platform has EEH (the platform's fact). */
  get eeh(): boolean {
    return this.platform.eeh;
  }
  /** Host MMIO: every mapped BAR. */
  get hostSpace(): AddressSpace {
    return this.resources.space;
  }
  get msiAddress(): number {
    return this.msi.msiAddress;
  }

  // ---- realize: enumeration ----
  /** Enumerates `devices`, assigns groups and BARs, maps the BARs. Called once. */
  realize(devices: readonly PciDevice[]): void {
    if (this.realized) throw new VhwError('E_STATE', `${this.name}: already realized`);
    const names = new Set<string>();
    devices.forEach((device, slot) => {
      if (names.has(device.name))
        throw new VhwError('E_CONFIG', `${this.name}: two devices are named "${device.name}"; names must be unique`);
      names.add(device.name);
      if (slot >= 256 * 32)
        throw new VhwError('E_ALLOCATION', `${this.name}: more than ${256 * 32} devices ("${device.name}" is one too many)`);
      const gid = this.policy.groupIdFor?.(device, slot) ?? `${this.name}:grp${slot}`;
      let group = this.groups.find((g) => g.id === gid);
      if (!group) {
        group = new IsolationGroup(gid, this.groups.length);
        this.groups.push(group);
      }
      const fn = new PciFunction(device, bdfOf(slot), group);
      group.functions.push(fn);
      this.functions.push(fn);
    });
    this.placements = placeBars(this.policy, this.groups, this.functions, this.window);
    const space = this.resources.space;
    space.transaction(() => {
      for (const fn of this.functions) mapFunctionBars(fn, this.placements, space, this.counters);
    });
    for (const fn of this.functions) {
      const msix = fn.device.msix;
      if (msix) msix.sink = (lo, hi, data) => this.msi.deliver(fn, lo, hi, data);
      fn.device.attach(dmaPort(fn, this.memory, this.counters, (f, iova) => this.dmaFault(f, iova)));
    }
    this.realized = true;
  }

  /**
   * Resets every function of a group and brings it back unfrozen and configured, by the
   * platform's sequence if it has one (PPC64: EEH's slot reset).
   * @throws VhwError E_NOT_FOUND for an unknown group.
   */
  recover(groupId: string): void {
    const g = this.groups.find((x) => x.id === groupId);
    if (!g) throw new VhwError('E_NOT_FOUND', `${this.name}: no group "${groupId}"; groups: ${this.groups.map((x) => x.id).join(', ')}`);
    if (this.policy.resetGroup) {
      this.policy.resetGroup(g, (fn) => this.restoreFunction(fn));
      return;
    }
    for (const fn of g.functions) fn.device.reset();
    g.mmioFrozen = false;
    g.dmaFrozen = false;
    for (const fn of g.functions) this.restoreFunction(fn);
  }

  /** Re-programs a function after a reset (what firmware or the host kernel restores). */
  restoreFunction(fn: PciFunction): void {
    restoreFunction(fn);
  }

  // ---- lookups and host resources ----
  findFunction(name: string): PciFunction {
    const fn = this.functions.find((f) => f.name === name);
    if (!fn) {
      throw new VhwError(
        'E_NOT_FOUND',
        `${this.name}: no device "${name}"; devices: ${this.functions.map((f) => f.name).join(', ') || 'none'}`,
      );
    }
    return fn;
  }

  /** Everything that occupies `[base, base + size)` of host MMIO (see `HostResources.ownersOf`). */
  ownersOf(base: number, size: number): HostOwner[] {
    return this.resources.ownersOf(base, size);
  }

  /** Window segments owned by groups in `[base, base + size)`, if the platform has them. */
  segmentsIn(base: number, size: number): HostOwner[] {
    return this.resources.segmentsIn(base, size);
  }

  /** Claims a host range for `owner` (upstream patch 2's dummy resource; see `HostResources.claim`). */
  claim(name: string, owner: string, base: number, size: number): boolean {
    return this.resources.claim(name, owner, base, size);
  }

  release(name: string): void {
    this.resources.release(name);
  }

  get reservationList(): readonly HostReservation[] {
    return this.resources.reservationList;
  }

  /** Window usage in bytes (patch 1 increases it). */
  get windowUsage(): { window: string; size: number; used: number } {
    return { window: this.window.name, size: this.window.size, used: usedBytes(this.window, this.placements) };
  }

  // ---- host MMIO and config access (the host kernel's view) ----
  read(hpa: number, size: number): number {
    return this.resources.space.read(hpa, size);
  }
  write(hpa: number, size: number, value: number, high = 0): void {
    this.resources.space.write(hpa, size, value, high);
  }

  /** What an mmap of `[hpa, hpa + size)` reaches (see `mmioTarget`). */
  mmioTarget(hpa: number, size: number): { handler: MmioHandler; base: number } {
    return mmioTarget(this.resources.space, this.mmioHandler, hpa, size);
  }

  /** A handler over host MMIO at absolute host addresses (offset = host address): what an mmap reaches. */
  readonly mmioHandler: MmioHandler;

  configRead(fn: PciFunction, offset: number, size: 1 | 2 | 4): number {
    if (fn.group.mmioFrozen) return allOnes(size);
    return fn.device.config.read(offset, size);
  }

  configWrite(fn: PciFunction, offset: number, size: 1 | 2 | 4, value: number): void {
    if (fn.group.mmioFrozen) return;
    fn.device.config.write(offset, size, value);
  }

  // ---- interrupts (see MsiRouter) ----
  /** Sets up `count` MSIs owned by `fn`'s group and returns their messages. */
  allocateMsi(fn: PciFunction, count: number): MsiMessage[] {
    return this.msi.allocate(fn, count);
  }
  freeMsi(irqs: readonly number[]): void {
    this.msi.free(irqs);
  }
  setIrqHandler(irq: number, handler: IrqHandler | undefined): void {
    this.msi.setHandler(irq, handler);
  }
  /** The owner of a host IRQ, if allocated. */
  irqOwnerOf(irq: number): PciFunction | undefined {
    return this.msi.ownerOf(irq);
  }

  // ---- DMA ----
  private dmaFault(fn: PciFunction, iova: number): void {
    this.counters.dmaFaults++;
    this.policy.dmaFault?.(fn, iova);
  }

  /** Describes the placement for messages. */
  describe(): string {
    return this.functions
      .map((f) => `${f.name} (${f.group.id}): ${f.bars.map((b) => `BAR${b.index}@${hex(b.address)}+${hex(b.size)}`).join(' ')}`)
      .join('\n');
  }
}
