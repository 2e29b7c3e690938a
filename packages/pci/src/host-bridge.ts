import type { ContainerModuleLoadOptions } from 'inversify';
import {
  AddressSpace,
  ClockToken,
  type CostModel,
  CostModelToken,
  EventsToken,
  GuestMemory as GuestMemoryClass,
  GuestMemoryToken,
  Lifecycle,
  Stage,
  type GuestMemory,
  type Region,
  type CompiledConstraints,
  accessIsValid,
  adaptedRead,
  adaptedWrite,
  type MachineEvents,
  type MmioHandler,
  type SimClock,
  type UnassignedPolicy,
  type UnassignedReason,
  VhwError,
  allOnes,
  hex,
} from '@vhw/core';
import { type BarPlacement, type MmioWindowSpec, packBars, usedBytes } from './allocator.js';
import { Cfg, Command } from './config-space.js';
import type { PciDevice, PciDeviceBus } from './device.js';
import { Iommu } from './iommu.js';
import { PciDeviceToken, PciHostToken } from './tokens.js';

/**
 * What the platform states about itself: the facts vfio-pci tests before allowing an
 * mmap (patches 2 and 3). vfio-pci reads these and nothing else of the platform.
 */
export interface PlatformFacts {
  readonly name: string;
  readonly pageSize: number;
  /** Patch 1 in effect: every memory BAR starts on a page and no other BAR shares it. */
  readonly allMmioBarsPageAligned: boolean;
  /** EEH with per-PE MSI validation: a device can only raise its own PE's MSIs. */
  readonly eeh: boolean;
  /** Some interrupt isolation (EEH MSI validation or interrupt remapping). */
  readonly interruptIsolation: boolean;
}

/** A set of functions the platform isolates together (on PPC64, a Partitionable Endpoint). */
export class IsolationGroup {
  mmioFrozen = false;
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
  get frozen(): boolean {
    return this.mmioFrozen || this.dmaFrozen;
  }
}

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

/** An MSI the host set up for a function: the message and the host IRQ number. */
export interface MsiMessage {
  addressLo: number;
  addressHi: number;
  data: number;
  irq: number;
}

export type IrqHandler = (irq: number) => void;

/** Who occupies host addresses: BARs, reservations and, where the platform has them, group segments. */
export interface HostOwner {
  kind: 'bar' | 'reservation' | 'segment';
  /** Function name for BARs, owner name for reservations. */
  owner: string;
  group: string | undefined;
  bar?: number;
  base: number;
  size: number;
}

export interface HostBridgeOptions {
  name: string;
  pageSize: number;
  window: MmioWindowSpec;
  unassignedPolicy: UnassignedPolicy;
  events: MachineEvents;
  clock: SimClock;
  memory: GuestMemory | undefined;
  /** Address of the interrupt controller's MSI doorbell. */
  msiAddress: number;
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

/**
 * A PCI host bridge: enumerates devices, assigns them to isolation groups, places their
 * BARs (Linux-like packing, alignment raised by the platform), maps them into the host
 * MMIO address space behind decode and freeze gating, routes MSIs and DMA. Platforms
 * subclass it and override the protected hooks (groups, windows, alignment, freeze).
 */
export class HostBridge implements PlatformFacts {
  readonly name: string;
  readonly pageSize: number;
  readonly hostSpace: AddressSpace;
  readonly functions: PciFunction[] = [];
  readonly groups: IsolationGroup[] = [];
  readonly counters: HostBridgeCounters = {
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
  protected readonly window: MmioWindowSpec;
  protected readonly events: MachineEvents;
  protected readonly clock: SimClock;
  protected readonly memory: GuestMemory | undefined;
  readonly msiAddress: number;
  private readonly reservations: Array<{ name: string; owner: string; base: number; size: number }> = [];
  private readonly irqOwner = new Map<number, PciFunction>();
  private readonly irqHandlers = new Map<number, IrqHandler>();
  private nextIrq = 0x20;
  private placements: BarPlacement[] = [];
  private realized = false;

  constructor(o: HostBridgeOptions) {
    this.name = o.name;
    this.pageSize = o.pageSize;
    this.window = o.window;
    this.events = o.events;
    this.clock = o.clock;
    this.memory = o.memory;
    this.msiAddress = o.msiAddress;
    this.hostSpace = new AddressSpace(`${o.name}:mmio`, o.unassignedPolicy);
    this.hostSpace.onUnassigned = (_space, addr, size, isWrite, reason) => this.onUnassignedAccess(addr, size, isWrite, reason);
  }

  // ---- platform facts (overridden by platforms) ----
  get allMmioBarsPageAligned(): boolean {
    return false;
  }
  get eeh(): boolean {
    return false;
  }
  get interruptIsolation(): boolean {
    return false;
  }

  // ---- hooks ----
  /** The alignment every memory BAR gets at least (patch 1 raises it to the page size). */
  protected minBarAlignment(): number {
    return 0;
  }
  /** Group id for the n-th device; default: one group per device. */
  protected groupIdFor(_device: PciDevice, slot: number): string {
    return `${this.name}:grp${slot}`;
  }
  /** Places every memory BAR of every function. Default: one window, packed. */
  protected placeBars(functions: readonly PciFunction[]): BarPlacement[] {
    return packBars(this.window, barRequests(functions), this.minBarAlignment());
  }
  /** An access in the window no BAR decodes, or one a BAR does not accept. Default: nothing beyond the policy's answer. */
  protected onUnassignedAccess(_addr: number, _size: number, _isWrite: boolean, _reason: UnassignedReason): void {}
  /** Whether an MSI from `source` for an IRQ owned by `owner` may pass. Default: no validation. */
  protected validateMsi(_source: PciFunction, _owner: PciFunction | undefined): boolean {
    return true;
  }
  /** Called when a device's DMA faults in the IOMMU. */
  protected onDmaFault(_fn: PciFunction, _iova: number): void {}
  /** Segments of the window owned by groups, for isolation checks; default none. */
  segmentsIn(_base: number, _size: number): HostOwner[] {
    return [];
  }

  // ---- realize ----
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
      const gid = this.groupIdFor(device, slot);
      let group = this.groups.find((g) => g.id === gid);
      if (!group) {
        group = new IsolationGroup(gid, this.groups.length);
        this.groups.push(group);
      }
      // 32 devices per bus, buses numbered from 0 (devices beyond 32 sit behind further bridges).
      const bdf = `0000:${Math.floor(slot / 32)
        .toString(16)
        .padStart(2, '0')}:${(slot % 32).toString(16).padStart(2, '0')}.0`;
      const fn = new PciFunction(device, bdf, group);
      group.functions.push(fn);
      this.functions.push(fn);
    });
    this.placements = this.placeBars(this.functions);
    this.hostSpace.transaction(() => {
      for (const fn of this.functions) this.programFunction(fn);
    });
    for (const fn of this.functions) fn.device.attach(this.deviceBus(fn));
    this.realized = true;
  }

  private programFunction(fn: PciFunction): void {
    const dev = fn.device;
    for (const decl of dev.spec.bars) {
      if ((decl.kind ?? 'mem32') === 'io') continue; // I/O BARs are not mapped into MMIO
      const p = this.placements.find((x) => x.key === barKey(fn, decl.index));
      if (!p) continue;
      dev.setBarAddress(decl.index, p.address);
      fn.bars.push({ index: decl.index, address: p.address, size: decl.size, label: decl.label });
      this.hostSpace.mapMmio({
        name: barKey(fn, decl.index),
        base: p.address,
        size: decl.size,
        handler: this.gate(fn, dev.barHandler(decl.index)),
        constraints: dev.barConstraints(decl.index),
        owner: fn.name,
        tag: decl.index,
      });
    }
    dev.config.write(Cfg.Command, 2, Command.Memory | Command.BusMaster);
  }

  /**
   * Resets every function of a group and restores its configuration; platforms with
   * isolation also unfreeze the group (ppc64 overrides this with the EEH sequence).
   */
  recover(groupId: string): void {
    const g = this.groups.find((x) => x.id === groupId);
    if (!g) throw new VhwError('E_NOT_FOUND', `${this.name}: no group "${groupId}"; groups: ${this.groups.map((x) => x.id).join(', ')}`);
    for (const fn of g.functions) fn.device.reset();
    g.mmioFrozen = false;
    g.dmaFrozen = false;
    for (const fn of g.functions) this.restoreFunction(fn);
  }

  /** Re-programs a function after a reset (what firmware or the host kernel restores). */
  restoreFunction(fn: PciFunction): void {
    for (const b of fn.bars) fn.device.setBarAddress(b.index, b.address);
    fn.device.config.write(Cfg.Command, 2, Command.Memory | Command.BusMaster);
  }

  /** Decode and freeze gating in front of a BAR's register handler. */
  private gate(fn: PciFunction, inner: MmioHandler): MmioHandler {
    return new BarGate(fn.group, fn.device, this.counters, inner);
  }

  // ---- lookups ----
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

  /** Everything that occupies `[base, base + size)` of host MMIO. */
  ownersOf(base: number, size: number): HostOwner[] {
    const out: HostOwner[] = [];
    for (const r of this.hostSpace.intersecting(base, size)) {
      const fn = this.functions.find((f) => f.name === r.owner);
      out.push({ kind: 'bar', owner: r.owner ?? r.name, group: fn?.group.id, bar: r.tag, base: r.base, size: r.size });
    }
    for (const r of this.reservations) {
      if (r.base < base + size && base < r.base + r.size) {
        const fn = this.functions.find((f) => f.name === r.owner);
        out.push({ kind: 'reservation', owner: r.owner, group: fn?.group.id, base: r.base, size: r.size });
      }
    }
    out.push(...this.segmentsIn(base, size));
    return out;
  }

  /** Window usage in bytes (patch 1 increases it). */
  get windowUsage(): { window: string; size: number; used: number } {
    return { window: this.window.name, size: this.window.size, used: usedBytes(this.window, this.placements) };
  }

  // ---- resource reservations (upstream patch 2's dummy resource) ----
  /**
   * Claims `[base, base + size)` for `owner` if nothing (no BAR, no other reservation)
   * occupies any of it, as request_resource() on the parent resource does.
   */
  claim(name: string, owner: string, base: number, size: number): boolean {
    if (size <= 0) return false;
    if (this.hostSpace.intersecting(base, size).length > 0) return false;
    const ownerGroup = this.functions.find((f) => f.name === owner)?.group.id;
    if (this.segmentsIn(base, size).some((s) => s.group !== ownerGroup)) return false;
    if (this.reservations.some((r) => r.base < base + size && base < r.base + r.size)) return false;
    this.reservations.push({ name, owner, base, size });
    return true;
  }

  release(name: string): void {
    const i = this.reservations.findIndex((r) => r.name === name);
    if (i >= 0) this.reservations.splice(i, 1);
  }

  get reservationList(): ReadonlyArray<{ name: string; owner: string; base: number; size: number }> {
    return this.reservations;
  }

  // ---- host MMIO and config access (the host kernel's view) ----
  read(hpa: number, size: number): number {
    return this.hostSpace.read(hpa, size);
  }
  write(hpa: number, size: number, value: number, high = 0): void {
    this.hostSpace.write(hpa, size, value, high);
  }

  /**
   * What an mmap of `[hpa, hpa + size)` reaches: when the range lies inside one BAR, that
   * BAR's gated handler (offsets from `base`) and access rules; otherwise the whole-window
   * handler (offsets are host addresses), so bytes outside any BAR are answered by the
   * window's unassigned policy (and may freeze a PE).
   */
  mmioTarget(hpa: number, size: number): { handler: MmioHandler; base: number } {
    const r = this.hostSpace.find(hpa);
    if (r === undefined) return { handler: this.mmioHandler, base: 0 };
    if (hpa + size <= r.base + r.size) return { handler: this.boundRegionHandler(r), base: r.base };
    if (this.hostSpace.intersecting(hpa, size).length === 1) {
      // One BAR and nothing else (a sub-page BAR's page): the BAR directly, the rest of
      // the range through the space, where nothing decodes it.
      const bar = this.boundRegionHandler(r);
      const space = this.hostSpace;
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
    return { handler: this.mmioHandler, base: 0 };
  }

  /**
   * One BAR's handler with the host space's rules applied, minus the lookup: an access
   * the BAR does not accept is answered by the space's policy (so the platform still
   * sees it, e.g. a PE freeze), exactly as through `hostSpace`.
   */
  private boundRegionHandler(r: Region): MmioHandler {
    return new BoundBar(r, this.hostSpace);
  }

  /** A handler over host MMIO at absolute host addresses (offset = host address): what an mmap reaches. */
  readonly mmioHandler: MmioHandler = {
    read: (hpa, size) => this.hostSpace.read(hpa, size),
    write: (hpa, size, value) => this.hostSpace.write(hpa, size, value),
  };

  configRead(fn: PciFunction, offset: number, size: 1 | 2 | 4): number {
    if (fn.group.mmioFrozen) return allOnes(size);
    return fn.device.config.read(offset, size);
  }

  configWrite(fn: PciFunction, offset: number, size: 1 | 2 | 4, value: number): void {
    if (fn.group.mmioFrozen) return;
    fn.device.config.write(offset, size, value);
  }

  // ---- interrupts ----
  /** Sets up `count` MSIs owned by `fn`'s group and returns their messages. */
  allocateMsi(fn: PciFunction, count: number): MsiMessage[] {
    const out: MsiMessage[] = [];
    for (let i = 0; i < count; i++) {
      const irq = this.nextIrq++;
      this.irqOwner.set(irq, fn);
      out.push({ addressLo: this.msiAddress % 2 ** 32, addressHi: Math.floor(this.msiAddress / 2 ** 32), data: irq, irq });
    }
    return out;
  }

  freeMsi(irqs: readonly number[]): void {
    for (const irq of irqs) {
      this.irqOwner.delete(irq);
      this.irqHandlers.delete(irq);
    }
  }

  setIrqHandler(irq: number, handler: IrqHandler | undefined): void {
    if (handler) this.irqHandlers.set(irq, handler);
    else this.irqHandlers.delete(irq);
  }

  /** The owner of a host IRQ, if allocated. */
  irqOwnerOf(irq: number): PciFunction | undefined {
    return this.irqOwner.get(irq);
  }

  /** An MSI memory write from `source`. Validated by the platform, then handed to the IRQ's handler. */
  protected deliverMsi(source: PciFunction, addressLo: number, addressHi: number, data: number): void {
    const address = addressHi * 2 ** 32 + addressLo;
    if (this.msiBlockedByFreeze(source)) {
      this.counters.msiBlocked++;
      this.noteInterrupt(source, data, false, 'pe-frozen');
      return;
    }
    if (address !== this.msiAddress) {
      // Not an MSI: a DMA write somewhere else, which the IOMMU must translate.
      this.counters.msiSpurious++;
      this.dmaFault(source, address);
      return;
    }
    const owner = this.irqOwner.get(data);
    if (!this.validateMsi(source, owner)) {
      this.counters.msiBlocked++;
      this.noteInterrupt(source, data, false, 'msi-validation');
      return;
    }
    if (owner === undefined) {
      this.counters.msiSpurious++;
      this.noteInterrupt(source, data, false, 'no-such-irq');
      return;
    }
    if (owner.group !== source.group) this.counters.msiCrossGroupDelivered++;
    this.counters.msiDelivered++;
    const h = this.irqHandlers.get(data);
    if (h) h(data);
    else this.noteInterrupt(source, data, false, 'no-handler');
  }

  /** Whether a frozen group's MSIs are dropped; platforms decide. */
  protected msiBlockedByFreeze(_source: PciFunction): boolean {
    return false;
  }

  /** Undelivered interrupts are rare and what a security experiment watches: always reported. */
  private noteInterrupt(source: PciFunction, vector: number, delivered: boolean, reason: string): void {
    if (this.events.tracing || !delivered) {
      this.events.emit('interrupt', { source: source.name, vector, delivered, reason, timeNs: this.clock.now });
    }
  }

  // ---- DMA ----
  private dmaFault(fn: PciFunction, iova: number): void {
    this.counters.dmaFaults++;
    this.onDmaFault(fn, iova);
  }

  private deviceBus(fn: PciFunction): PciDeviceBus {
    const group = fn.group;
    const iommu = group.iommu;
    const mem = this.memory;
    const counters = this.counters;
    const msix = fn.device.msix;
    if (msix) msix.sink = (lo, hi, data) => this.deliverMsi(fn, lo, hi, data);
    const translate = (iova: number, size: number): number => {
      if (group.dmaFrozen || !fn.device.busMasterEnabled) {
        counters.dmaBlocked++;
        return -1;
      }
      const gpa = iommu.translate(iova, size);
      if (gpa < 0 || mem === undefined || !mem.contains(gpa, size)) {
        this.dmaFault(fn, iova);
        return -1;
      }
      return gpa;
    };
    return {
      dmaRead32: (iova) => {
        const gpa = translate(iova, 4);
        return gpa < 0 ? 0xffffffff : mem!.read32(gpa);
      },
      dmaWrite32: (iova, value) => {
        const gpa = translate(iova, 4);
        if (gpa < 0) return false;
        mem!.write32(gpa, value);
        return true;
      },
      dmaRead: (iova, out) => {
        const gpa = translate(iova, out.length);
        if (gpa < 0) {
          out.fill(0xff);
          return false;
        }
        mem!.readBytes(gpa, out);
        return true;
      },
      dmaWrite: (iova, data) => {
        const gpa = translate(iova, data.length);
        if (gpa < 0) return false;
        mem!.writeBytes(gpa, data);
        return true;
      },
    };
  }

  /** Describes the placement for messages. */
  describe(): string {
    return this.functions
      .map((f) => `${f.name} (${f.group.id}): ${f.bars.map((b) => `BAR${b.index}@${hex(b.address)}+${hex(b.size)}`).join(' ')}`)
      .join('\n');
  }
}

export function barKey(fn: PciFunction | { name: string }, index: number): string {
  return `${fn.name}:BAR${index}`;
}

/** The memory BARs of `functions` as allocation requests. */
export function barRequests(functions: readonly PciFunction[]): Array<{ key: string; size: number }> {
  const out: Array<{ key: string; size: number }> = [];
  for (const fn of functions) {
    for (const b of fn.device.spec.bars) {
      if ((b.kind ?? 'mem32') !== 'io') out.push({ key: barKey(fn, b.index), size: b.size });
    }
  }
  return out;
}

/**
 * Everything a platform plugin binds around its host bridge: the bridge itself as
 * PciHostToken, guest memory for DMA, and the lifecycle that realizes the bridge with
 * every contributed PciDevice at the Bus stage and resets them with the machine.
 */
export function bindHostBridge(
  options: ContainerModuleLoadOptions,
  name: string,
  create: (services: { events: MachineEvents; clock: SimClock; memory: GuestMemory; costs: CostModel }) => HostBridge,
): void {
  const { bind, isBound } = options;
  if (!isBound(GuestMemoryToken)) bind(GuestMemoryToken).toConstantValue(new GuestMemoryClass());
  bind(PciHostToken).toDynamicValue((ctx) =>
    create({
      events: ctx.get(EventsToken),
      clock: ctx.get(ClockToken),
      memory: ctx.get(GuestMemoryToken),
      costs: ctx.get(CostModelToken),
    }),
  );
  bind<Lifecycle>(Lifecycle).toDynamicValue((ctx) => {
    const bridge = ctx.get<HostBridge>(PciHostToken);
    const devices = ctx.getAll<PciDevice>(PciDeviceToken, { optional: true }) ?? [];
    return {
      name: `${name}:host-bridge`,
      stage: Stage.Bus,
      realize: () => bridge.realize(devices),
      // A machine reset resets every slot: each group comes back unfrozen and configured.
      reset: () => {
        for (const g of bridge.groups) bridge.recover(g.id);
      },
    };
  });
}

/** Decode and freeze gating in front of a BAR's register handler: what the host space maps for a BAR. */
class BarGate implements MmioHandler {
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

/**
 * One mapped BAR reached without the host space's lookup (what an mmap of it, or the
 * vfio fd path, reaches), with the space's access rules: an aligned access of a size the
 * BAR takes as it is goes to it (straight to the device's handler while the BAR decodes,
 * one call fewer on both passthrough paths); anything else is checked, then adapted or
 * answered by the space's policy, as through `hostSpace`.
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
    if ((size === 4 || size === 1 || size === 2) && (this.passSizes & size) !== 0 && (off & -size) === off) {
      return this.group.mmioFrozen || !this.dev.memoryEnabled ? this.handler.read(off, size) : this.inner.read(off, size);
    }
    return accessIsValid(this.constraints, off, size)
      ? adaptedRead(this.handler, this.constraints, off, size)
      : this.space.rejectRead(this.base + off, size, 'invalid-size');
  }

  write(off: number, size: 1 | 2 | 4, value: number): void {
    if ((size === 4 || size === 1 || size === 2) && (this.passSizes & size) !== 0 && (off & -size) === off) {
      if (this.group.mmioFrozen || !this.dev.memoryEnabled) this.handler.write(off, size, value);
      else this.inner.write(off, size, value);
    } else if (accessIsValid(this.constraints, off, size)) adaptedWrite(this.handler, this.constraints, off, size, value);
    else this.space.rejectWrite(this.base + off, size, 'invalid-size');
  }
}

const NOT_GATED = { mmioFrozen: true, memoryEnabled: false } as const;
