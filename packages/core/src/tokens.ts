import type { UnassignedPolicy } from './address-space.js';
import type { SimClock } from './clock.js';
import type { CostModel, CostParameter } from './cost-model.js';
import type { GuestCpu } from './cpu.js';
import type { GuestMemory } from './guest-memory.js';
import type { MachineEvents } from './events.js';
import type { Mmu } from './mmu.js';
import type { Stats } from './stats.js';

declare const serviceType: unique symbol;

/**
 * A typed service identifier: a symbol that carries the type of what is bound under it,
 * so `machine.get(token)`, `machine.getAll(point)` and `resolveToken(ctx, token)` infer it.
 * Every token of vhw, service or extension point, is a constant named with the `Token`
 * suffix (`PlatformToken`, `LifecycleToken`, `VmmToken`); the type keeps its plain name.
 */
export type Token<T> = symbol & { readonly [serviceType]: T };

/** The type a token stands for. */
export type TokenType<K> = K extends Token<infer T> ? T : never;

/**
 * Makes a token. `Symbol.for(key)` keeps it identical across copies of a package, so a
 * service bound by one copy resolves from another; the keys never change once published.
 */
export function token<T>(key: string): Token<T> {
  return Symbol.for(key) as Token<T>;
}

/*
 * Services and extension points. Plugins bind contributions in their ContainerModule;
 * consumers take them with `@inject` / `@multiInject`, or through the point's
 * `ContributionProvider` (see `bindContributionPoint`).
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
export const PlatformToken = token<Platform>('vhw.Platform');
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
export type CostParameters = readonly CostParameter[];
/** Where plugins contribute their cost parameters (multi-bound). */
export const CostParametersToken = token<CostParameters>('vhw.CostParameters');

/**
 * Where core's own lifecycles run. A plugin package that adds a layer exports its own
 * stage, placed relative to the stage of the layer it builds on (pci's `PCI_BUS_STAGE`,
 * vfio-pci's `VFIO_PCI_STAGE`, the VMM's `VMM_STAGE`); core only sorts the numbers.
 */
export const CoreStage = {
  /** The platform's own services. */
  Platform: 0,
  /** Guest RAM: mapped before anything that may place itself around it. */
  Memory: 10,
  /** Devices mapped straight into the MMU (no bus), after the buses a platform brings. */
  Device: 200,
} as const;

/**
 * Machine lifecycle hooks: configure → realize → (reset)* → dispose. Each phase runs
 * in `stage` order; equal stages keep the order the plugins were given.
 */
export interface Lifecycle {
  readonly name: string;
  readonly stage: number;
  configure?(): void;
  realize?(): void;
  reset?(): void;
  dispose?(): void;
}
/** Where plugins contribute lifecycles (multi-bound). */
export const LifecycleToken = token<Lifecycle>('vhw.Lifecycle');

/** Services every plugin may inject. */
export const ClockToken = token<SimClock>('vhw.Clock');
export const CostModelToken = token<CostModel>('vhw.CostModel');
export const StatsToken = token<Stats>('vhw.Stats');
export const EventsToken = token<MachineEvents>('vhw.Events');
export const MmuToken = token<Mmu>('vhw.Mmu');
export const GuestCpuToken = token<GuestCpu>('vhw.GuestCpu');
/** The machine description services may read: everything `Machine.create` takes but the plugins. */
export interface MachineDescription {
  /** Cost-model overrides by parameter name (`'vfio.fdRwCycles': 2000`). */
  costs?: Readonly<Record<string, number>>;
  /** Emit per-access events (`access`, `trap`, `interrupt`). Off by default: the hot path then neither emits nor allocates. */
  tracing?: boolean;
  /** A label for reports. */
  name?: string;
}
/** The scenario's machine description: `MachineOptions` minus plugins. */
export const MachineOptionsToken = token<MachineDescription>('vhw.MachineOptions');
/** Guest RAM as devices (DMA) and the VMM see it. */
export const GuestMemoryToken = token<GuestMemory>('vhw.GuestMemory');

export type { SimClock, CostModel, Stats, MachineEvents, Mmu, GuestCpu };
