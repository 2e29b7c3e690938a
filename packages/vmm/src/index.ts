/**
 * @vhw/vmm: the QEMU role. Builds the guest's view of every BAR vfio-pci exposes,
 * handles every trapped access, emulates the MSI-X table and presents the guest PCI bus.
 */
import {
  ClockToken,
  ContainerModule,
  type CostModel,
  CostModelToken,
  type CostParameter,
  CostParametersToken,
  EventsToken,
  type GuestCpu,
  GuestCpuToken,
  type GuestMemory,
  GuestMemoryToken,
  type Lifecycle,
  LifecycleToken,
  type MachineEvents,
  type Mmu,
  MmuToken,
  type Platform,
  PlatformToken,
  type SimClock,
  type Stats,
  StatsToken,
  VhwError,
  definePlugin,
  inject,
  injectable,
  optional,
  z,
} from '@vhw/core';
import { GuestPciBusToken } from '@vhw/guest';
import { type HostBridge, PciHostToken } from '@vhw/pci';
import { type VfioPciDriver, VfioToken } from '@vhw/vfio-pci';
import { MSIX_RELOCATION_MODES } from './msix-relocation.js';
import { VMM_STAGE, VmmToken } from './tokens.js';
import { Vmm, type VmmDeps, VmmDepsToken, VmmOptionsToken } from './vmm.js';

export * from './plan.js';
export * from './reasons.js';
export * from './msix-emulation.js';
export * from './msix-relocation.js';
export * from './guest-bar-placement.js';
export * from './passthrough-bar.js';
export * from './passthrough-function.js';
export * from './trap-regions.js';
export * from './trap-pages.js';
export * from './vmm.js';
export * from './tokens.js';
export * from './policy.js';
export * from './policies.js';
export * from './qemu-policy.js';
export * from './cloud-hypervisor-policy.js';
export * from './crosvm-policy.js';
export * from './kvmtool-policy.js';
export * from './firecracker-policy.js';
export * from './policy-plan.js';

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
  msixRelocation: z
    .enum(MSIX_RELOCATION_MODES, { message: `allowed: ${MSIX_RELOCATION_MODES.join(', ')}` })
    .default('off')
    .describe("QEMU's x-msix-relocation: move the emulated MSI-X table and PBA to a new BAR or the upper half of a doubled one"),
  policy: z
    .string()
    .default('qemu')
    .describe('which VMM the guest view follows: qemu, cloud-hypervisor, crosvm, kvmtool, firecracker (or a registered policy)'),
});

/**
 * The machine services the VMM works with. It needs a PCI platform's host bridge and the
 * vfio-pci driver; without either the machine is not a passthrough machine.
 */
@injectable()
export class VmmMachineServices implements VmmDeps {
  readonly vfio: VfioPciDriver;
  readonly bridge: HostBridge;
  constructor(
    @inject(GuestCpuToken) readonly cpu: GuestCpu,
    @inject(MmuToken) readonly mmu: Mmu,
    @inject(StatsToken) readonly stats: Stats,
    @inject(ClockToken) readonly clock: SimClock,
    @inject(CostModelToken) readonly costs: CostModel,
    @inject(EventsToken) readonly events: MachineEvents,
    @inject(GuestMemoryToken) readonly memory: GuestMemory,
    @inject(PlatformToken) readonly platform: Platform,
    @inject(VfioToken) @optional() vfio: VfioPciDriver | undefined,
    @inject(PciHostToken) @optional() bridge: HostBridge | undefined,
  ) {
    if (!bridge || !vfio) {
      throw new VhwError('E_CONFIG', 'vmm: needs a PCI platform (platform-ppc64 or platform-generic) and the vfio-pci plugin');
    }
    this.vfio = vfio;
    this.bridge = bridge;
  }
}

/** Realizes the guest view once vfio-pci has bound the devices; resets it with the machine. */
@injectable()
export class VmmLifecycle implements Lifecycle {
  readonly name = 'vmm';
  readonly stage = VMM_STAGE;
  constructor(@inject(VmmToken) private readonly vmm: Vmm) {}
  realize(): void {
    this.vmm.realize();
  }
  reset(): void {
    this.vmm.reset();
  }
}

/** The VMM plugin (the QEMU role): builds the guest view of the devices bound to vfio-pci. */
export const vmm = definePlugin({
  name: 'vmm',
  kind: 'vmm',
  description: 'the VMM (QEMU role): guest BAR view from vfio region info, sub-page growth, MSI-X emulation, trap dispatch',
  schema: vmmOptions,
  module: (o) =>
    new ContainerModule(({ bind }) => {
      bind(CostParametersToken).toConstantValue(VMM_COST_PARAMETERS);
      bind(VmmOptionsToken).toConstantValue(o);
      bind(VmmDepsToken).to(VmmMachineServices).inSingletonScope();
      bind(VmmToken).to(Vmm).inSingletonScope();
      bind(GuestPciBusToken).toService(VmmToken);
      bind(LifecycleToken).to(VmmLifecycle).inSingletonScope();
    }),
});
