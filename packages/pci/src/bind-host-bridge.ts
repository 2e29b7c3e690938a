import type { ContainerModuleLoadOptions } from 'inversify';
import {
  ClockToken,
  type CostModel,
  CostModelToken,
  EventsToken,
  type GuestMemory,
  GuestMemory as GuestMemoryClass,
  GuestMemoryToken,
  LifecycleToken,
  type MachineEvents,
  type Platform,
  PlatformToken,
  type SimClock,
  bindContributionPoint,
  contributionProvider,
  resolveToken,
} from '@vhw/core';
import type { HostBridge } from './host-bridge.js';
import { PCI_BUS_STAGE, PciDeviceToken, PciHostToken } from './tokens.js';

/** The machine services a platform's host bridge is built from. */
export interface HostBridgeServices {
  events: MachineEvents;
  clock: SimClock;
  memory: GuestMemory;
  costs: CostModel;
  /** The platform's facts, as bound under core's `PlatformToken`. */
  platform: Platform;
}

/**
 * Everything a platform plugin binds around its host bridge: the bridge itself as
 * PciHostToken, guest memory for DMA, the PciDevice contribution point, and the lifecycle
 * that realizes the bridge with every contributed PciDevice at `PCI_BUS_STAGE` and resets
 * them with the machine.
 * @param options The platform's ContainerModule load options.
 * @param name The lifecycle's name prefix (`<name>:host-bridge`).
 * @param create Builds the bridge from the machine's services.
 */
export function bindHostBridge(
  options: ContainerModuleLoadOptions,
  name: string,
  create: (services: HostBridgeServices) => HostBridge,
): void {
  const { bind, isBound } = options;
  if (!isBound(GuestMemoryToken)) bind(GuestMemoryToken).toConstantValue(new GuestMemoryClass());
  bindContributionPoint(options, PciDeviceToken);
  bind(PciHostToken).toDynamicValue((ctx) =>
    create({
      events: resolveToken(ctx, EventsToken),
      clock: resolveToken(ctx, ClockToken),
      memory: resolveToken(ctx, GuestMemoryToken),
      costs: resolveToken(ctx, CostModelToken),
      platform: resolveToken(ctx, PlatformToken),
    }),
  );
  bind(LifecycleToken).toDynamicValue((ctx) => {
    const bridge = resolveToken(ctx, PciHostToken);
    const devices = contributionProvider(ctx, PciDeviceToken);
    return {
      name: `${name}:host-bridge`,
      stage: PCI_BUS_STAGE,
      realize: () => bridge.realize(devices.getContributions()),
      // A machine reset resets every slot: each group comes back unfrozen and configured.
      reset: () => {
        for (const g of bridge.groups) bridge.recover(g.id);
      },
    };
  });
}
