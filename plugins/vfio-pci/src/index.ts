/**
 * @vhw/vfio-pci: the kernel's vfio-pci as userspace sees it. Patches 2 and 3 of the
 * series are the `subPageMmap` and `msixMmap` options; `variant` picks the
 * RFC's 2015 semantics or what was merged upstream later. Patch 1 is the platform's.
 */
import {
  ClockToken,
  ContainerModule,
  type CostModel,
  CostModelToken,
  type CostParameter,
  CostParametersToken,
  CoreStage,
  type Lifecycle,
  LifecycleToken,
  patchDoc,
  type SimClock,
  VARIANTS,
  VhwError,
  definePlugin,
  inject,
  injectable,
  optional,
  token,
  z,
} from '@vhw/core';
import { type HostBridge, PCI_BUS_STAGE, PciHostToken } from '@vhw/pci';
import { VfioPciDevice } from './device.js';
import { SubPageMmapPolicy, type VfioPatches } from './policy.js';

export * from './uapi.js';
export * from './reasons.js';
export * from './policy.js';
export * from './device.js';
export { deviceSparseAreas } from './device-areas.js';

/** The vfio-pci service: the devices bound to it. */
export const VfioToken = token<VfioPciDriver>('vhw.Vfio');

/** The vfio-pci plugin's validated options, bound by its module for the driver to inject. */
export const VfioPciOptionsToken = token<VfioPciOptions>('vhw.VfioPciOptions');

/** When vfio-pci binds devices: after the host bridge has realized them and after bus-less devices. */
export const VFIO_PCI_STAGE = Math.max(PCI_BUS_STAGE, CoreStage.Device) + 100;

/** Cost parameters vfio-pci charges, with their sources. */
export const VFIO_COST_PARAMETERS: readonly CostParameter[] = [
  {
    name: 'vfio.fdRwCycles',
    default: 1500,
    unit: 'cycles',
    description: 'one pread/pwrite on the vfio device fd: syscall entry/exit, vfio_pci_bar_rw() dispatch and locking',
    source: 'estimate (not measured)',
    confidence: 'low',
  },
];

/** The vfio-pci driver of one machine: the devices bound to it and the patch toggles their mmap policy uses. */
@injectable()
export class VfioPciDriver {
  readonly devices: VfioPciDevice[] = [];
  /** The patch toggles every bound device's mmap policy reads. */
  readonly patches: VfioPatches;
  /** The devices to bind by name (undefined: every function of the host bridge). */
  readonly bound: readonly string[] | undefined;

  constructor(@inject(VfioPciOptionsToken) options: VfioPciOptions) {
    this.patches = { variant: options.variant, subPageMmap: options.subPageMmap, msixMmap: options.msixMmap };
    this.bound = options.devices;
  }

  device(name: string): VfioPciDevice {
    const d = this.devices.find((x) => x.name === name);
    if (!d)
      throw new VhwError('E_NOT_FOUND', `vfio-pci: "${name}" is not bound; bound: ${this.devices.map((x) => x.name).join(', ') || 'none'}`);
    return d;
  }

  /** Binds the selected functions of `bridge` (all by default); refuses groups that are not viable. */
  bind(bridge: HostBridge, clock: SimClock, costs: CostModel): void {
    const policy = new SubPageMmapPolicy(this.patches, bridge.platform);
    const names = this.bound ?? bridge.functions.map((f) => f.name);
    const known = bridge.functions.map((f) => f.name);
    const unknown = names.filter((n) => !known.includes(n));
    if (unknown.length > 0) {
      throw new VhwError(
        'E_CONFIG',
        `vfio-pci: option "devices" names ${unknown.map((n) => `"${n}"`).join(', ')}, not a device of this machine; allowed: ${known.join(', ') || 'none'}`,
      );
    }
    const selected = new Set(names);
    for (const name of names) {
      const fn = bridge.findFunction(name);
      const others = fn.group.functions.filter((f) => !selected.has(f.name));
      if (others.length > 0) {
        throw new VhwError(
          'E_ISOLATION',
          `vfio-pci: cannot pass through "${name}": its isolation group ${fn.group.id} also holds ${others.map((f) => `"${f.name}"`).join(', ')}, which is not bound to vfio-pci (the group is not viable); bind every device of the group`,
        );
      }
      this.devices.push(new VfioPciDevice(fn, bridge, policy, clock, costs));
    }
  }

  close(): void {
    for (const d of this.devices) d.close();
  }
}

/** Options of the vfio-pci plugin: the variant and patches 2 and 3. */
export const vfioPciOptions = z.strictObject({
  variant: z.enum(VARIANTS).default('rfc-2015').describe('rfc-2015 (the series as posted) or upstream (as merged later)'),
  subPageMmap: z.boolean().default(false).describe(patchDoc('subPageMmap')),
  msixMmap: z.boolean().default(false).describe(patchDoc('msixMmap')),
  devices: z
    .array(z.string().min(1))
    .refine((d) => new Set(d).size === d.length, { message: 'allowed: each device name once' })
    .optional()
    .describe('devices to bind (default: all)'),
});

/** The vfio-pci plugin's validated options. */
export type VfioPciOptions = z.output<typeof vfioPciOptions>;

/** Binds the host bridge's devices to the driver when the machine is realized; closes them on dispose. */
@injectable()
export class VfioPciLifecycle implements Lifecycle {
  readonly name = 'vfio-pci';
  readonly stage = VFIO_PCI_STAGE;
  constructor(
    @inject(VfioToken) private readonly driver: VfioPciDriver,
    @inject(PciHostToken) @optional() private readonly bridge: HostBridge | undefined,
    @inject(ClockToken) private readonly clock: SimClock,
    @inject(CostModelToken) private readonly costs: CostModel,
  ) {}

  realize(): void {
    if (!this.bridge)
      throw new VhwError('E_CONFIG', 'vfio-pci: the platform has no PCI host bridge; use platform-ppc64 or platform-generic');
    this.driver.bind(this.bridge, this.clock, this.costs);
  }

  dispose(): void {
    this.driver.close();
  }
}

/** The vfio-pci plugin: binds the host bridge's devices to vfio-pci when the machine is realized. */
export const vfioPci = definePlugin({
  name: 'vfio-pci',
  kind: 'passthrough',
  description: 'vfio-pci passthrough (kernel side): region info, fd read/write, mmap policy with patches 2 and 3',
  schema: vfioPciOptions,
  module: (o) =>
    new ContainerModule(({ bind }) => {
      bind(CostParametersToken).toConstantValue(VFIO_COST_PARAMETERS);
      bind(VfioPciOptionsToken).toConstantValue(o);
      // One driver per machine (the container is): plugin objects may be reused to build several machines.
      bind(VfioToken).to(VfioPciDriver).inSingletonScope();
      bind(LifecycleToken).to(VfioPciLifecycle).inSingletonScope();
    }),
});
