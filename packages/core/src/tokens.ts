import type { UnassignedPolicy } from './address-space.js';
import type { SimClock } from './clock.js';
import type { CostModel, CostParameter } from './cost-model.js';
import type { GuestCpu } from './cpu.js';
import type { MachineEvents } from './events.js';
import type { Mmu } from './mmu.js';
import type { Stats } from './stats.js';

/**
 * Extension points. Each is a Symbol plus an interface of the same name; plugins bind
 * contributions in their ContainerModule and consumers take them with `multiInject`
 * (or `container.getAll`). `Symbol.for` keeps them identical across package copies.
 */

/** How a guest programs a passed-through device's MSIs. */
export type GuestMsiSetup =
  /** The guest writes the MSI-X table entries itself (the VMM traps and emulates the table). */
  | 'msix-table'
  /** The guest asks firmware (pSeries RTAS `ibm,change-msi`); it never writes the table. */
  | 'rtas';

/**
 * The host platform's facts: exactly one per machine, bound by the platform plugin and
 * read by every layer that needs one (vfio-pci's mmap policy, the VMM, the host bridge,
 * results). One typed record: no second source, no string bag.
 */
export const Platform = Symbol.for('vhw.Platform');
export interface Platform {
  readonly name: string;
  /** Host (and stage-2) page size in bytes. */
  readonly pageSize: number;
  /** How accesses nothing decodes are answered on this platform's buses. */
  readonly unassignedPolicy: UnassignedPolicy;
  /** Cost-model defaults this platform raises or lowers (by parameter name). */
  readonly costDefaults: Readonly<Record<string, number>>;
  /** Patch 1 in effect: every memory BAR starts on a page and no other BAR shares its page. */
  readonly allMmioBarsPageAligned: boolean;
  /** EEH with per-PE MSI validation: a device can only raise its own PE's MSIs, and errors freeze its PE. */
  readonly eeh: boolean;
  /** Some interrupt isolation (EEH MSI validation or interrupt remapping). */
  readonly interruptIsolation: boolean;
  /** How the guest programs MSIs ('rtas' on a pSeries guest). */
  readonly guestMsiSetup: GuestMsiSetup;
  /**
   * The machine's `vfio-no-msix-emulation` property (pSeries): the VMM by default leaves the
   * MSI-X table unemulated, since an 'rtas' guest never writes it. False where `guestMsiSetup`
   * is 'msix-table'.
   */
  readonly vfioNoMsixEmulation: boolean;
}

/** The facts of a platform with no PCI isolation or paravirtual MSI setup (for bus-less and test platforms). */
export const PLAIN_PLATFORM_FACTS = {
  allMmioBarsPageAligned: false,
  eeh: false,
  interruptIsolation: false,
  guestMsiSetup: 'msix-table',
  vfioNoMsixEmulation: false,
} as const satisfies Partial<Platform>;

/** Cost parameters a plugin charges; each binding is one array of parameters. */
export const CostParameters = Symbol.for('vhw.CostParameters');
export type CostParameters = readonly CostParameter[];

/** The order in which lifecycle contributions run within each phase. */
export const Stage = {
  Platform: 0,
  Bus: 100,
  Device: 200,
  Host: 300,
  Vmm: 400,
  Guest: 500,
} as const;

/** Machine lifecycle hooks: configure → realize → (reset)* → dispose, each phase in `stage` order. */
export const Lifecycle = Symbol.for('vhw.Lifecycle');
export interface Lifecycle {
  readonly name: string;
  readonly stage: number;
  configure?(): void;
  realize?(): void;
  reset?(): void;
  dispose?(): void;
}

/** Services every plugin may inject. */
export const ClockToken = Symbol.for('vhw.Clock');
export const CostModelToken = Symbol.for('vhw.CostModel');
export const StatsToken = Symbol.for('vhw.Stats');
export const EventsToken = Symbol.for('vhw.Events');
export const MmuToken = Symbol.for('vhw.Mmu');
export const GuestCpuToken = Symbol.for('vhw.GuestCpu');
/** The scenario's machine description: `MachineOptions` minus plugins. */
export const MachineOptionsToken = Symbol.for('vhw.MachineOptions');
/** Guest RAM as devices (DMA) and the VMM see it. */
export const GuestMemoryToken = Symbol.for('vhw.GuestMemory');

export type { SimClock, CostModel, Stats, MachineEvents, Mmu, GuestCpu };
