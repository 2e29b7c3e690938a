import type { ContainerModuleLoadOptions } from 'inversify';
import {
  ClockToken,
  type CostModel,
  CostModelToken,
  EventsToken,
  type GuestMemory,
  GuestMemory as GuestMemoryClass,
  GuestMemoryToken,
  Lifecycle,
  type MachineEvents,
  Platform,
  type SimClock,
  Stage,
} from '@vhw/core';
import type { PciDevice } from './device.js';
import type { HostBridge } from './host-bridge.js';
import { PciDeviceToken, PciHostToken } from './tokens.js';

/** The machine services a platform's host bridge is built from. */
export interface HostBridgeServices {
  events: MachineEvents;
  clock: SimClock;
  memory: GuestMemory;
  costs: CostModel;
  /** The platform's facts, as bound under core's `Platform` token. */
  platform: Platform;
}

/**
 * Everything a platform plugin binds around its host bridge: the bridge itself as
 * PciHostToken, guest memory for DMA, and the lifecycle that realizes the bridge with
 * every contributed PciDevice at the Bus stage and resets them with the machine.
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
  bind(PciHostToken).toDynamicValue((ctx) =>
    create({
      events: ctx.get(EventsToken),
      clock: ctx.get(ClockToken),
      memory: ctx.get(GuestMemoryToken),
      costs: ctx.get(CostModelToken),
      platform: ctx.get(Platform),
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
