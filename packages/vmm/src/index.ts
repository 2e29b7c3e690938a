/**
 * @vhw/vmm: the QEMU role. Builds the guest's view of every BAR vfio-pci exposes,
 * handles every trapped access, emulates the MSI-X table and presents the guest PCI bus.
 */
import {
  ClockToken,
  ContainerModule,
  CostModelToken,
  type CostParameter,
  CostParameters,
  EventsToken,
  GuestCpuToken,
  GuestMemoryToken,
  Lifecycle,
  MmuToken,
  Platform,
  Stage,
  StatsToken,
  VhwError,
  definePlugin,
  z,
} from '@vhw/core';
import { GuestPciBusToken } from '@vhw/guest';
import { PciHostToken } from '@vhw/pci';
import { VfioToken } from '@vhw/vfio-pci';
import { Vmm } from './vmm.js';

export * from './plan.js';
export * from './reasons.js';
export * from './msix-emulation.js';
export * from './guest-bar-placement.js';
export * from './passthrough-bar.js';
export * from './passthrough-function.js';
export * from './trap-regions.js';
export * from './trap-pages.js';
export * from './vmm.js';

/** The VMM service (also bound as the guest PCI bus). */
export const VmmToken = Symbol.for('vhw.Vmm');

/** Cost parameters the VMM charges, with their sources. */
export const VMM_COST_PARAMETERS: readonly CostParameter[] = [
  {
    name: 'qemu.mmioDispatchCycles',
    default: 1000,
    unit: 'cycles',
    description: 'QEMU memory-API dispatch of one trapped access (flat view lookup, region ops)',
    source: 'estimate (not measured)',
    confidence: 'low',
  },
  {
    name: 'qemu.msixTableWriteCycles',
    default: 3000,
    unit: 'cycles',
    description: 'one emulated MSI-X table write (may add a SET_IRQS ioctl when a vector changes)',
    source: 'estimate (not measured)',
    confidence: 'low',
  },
];

/** Options of the VMM plugin. */
export const vmmOptions = z.strictObject({
  guestBarPlacement: z
    .enum(['page-aligned', 'natural'])
    .default('page-aligned')
    .describe('guest firmware BAR placement: host-page aligned, or packed by natural alignment [unconfirmed what SLOF does]'),
  // Both windows default below 2^31: guest addresses then stay small integers in V8, so a
  // trapped access crossing calls never boxes its address on the heap.
  guestMmioBase: z.number().int().nonnegative().default(0x4000_0000).describe('guest window for 64-bit BARs: base'),
  guestMmioSize: z.number().int().positive().default(0x2000_0000).describe('guest window for 64-bit BARs: size'),
  guestMmio32Base: z
    .number()
    .int()
    .nonnegative()
    .max(0xffff_ffff)
    .default(0x6000_0000)
    .describe('guest window below 4 GiB for 32-bit BARs: base'),
  guestMmio32Size: z
    .number()
    .int()
    .positive()
    .max(0x1_0000_0000)
    .default(0x1000_0000)
    .describe('guest window below 4 GiB for 32-bit BARs: size'),
  noMsixEmulation: z
    .union([z.literal('machine'), z.boolean()], { message: 'allowed: "machine", true or false' })
    .default('machine')
    .describe('vfio-no-msix-emulation: "machine" takes the machine property (pSeries: true)'),
  guestMsiAddress: z.number().int().nonnegative().default(0xfee0_0000).describe('guest MSI doorbell address'),
});

/** The VMM plugin (the QEMU role): builds the guest view of the devices bound to vfio-pci. */
export const vmm = definePlugin({
  name: 'vmm',
  kind: 'vmm',
  description: 'the VMM (QEMU role): guest BAR view from vfio region info, sub-page growth, MSI-X emulation, trap dispatch',
  schema: vmmOptions,
  module: (o) =>
    new ContainerModule(({ bind }) => {
      bind(CostParameters).toConstantValue(VMM_COST_PARAMETERS);
      bind(VmmToken).toDynamicValue((ctx) => {
        const bridge = ctx.get(PciHostToken, { optional: true });
        const vfio = ctx.get(VfioToken, { optional: true });
        if (!bridge || !vfio) {
          throw new VhwError('E_CONFIG', 'vmm: needs a PCI platform (platform-ppc64 or platform-generic) and the vfio-pci plugin');
        }
        return new Vmm(o, {
          cpu: ctx.get(GuestCpuToken),
          mmu: ctx.get(MmuToken),
          stats: ctx.get(StatsToken),
          clock: ctx.get(ClockToken),
          costs: ctx.get(CostModelToken),
          events: ctx.get(EventsToken),
          vfio: vfio as never,
          bridge: bridge as never,
          memory: ctx.get(GuestMemoryToken),
          platform: ctx.get(Platform),
        });
      });
      bind(GuestPciBusToken).toDynamicValue((ctx) => ctx.get(VmmToken));
      bind<Lifecycle>(Lifecycle).toDynamicValue((ctx) => {
        const v = ctx.get<Vmm>(VmmToken);
        return { name: 'vmm', stage: Stage.Vmm, realize: () => v.realize(), reset: () => v.reset() };
      });
    }),
});
