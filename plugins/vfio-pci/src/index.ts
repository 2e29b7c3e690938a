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
  CostParameters,
  Lifecycle,
  patchDoc,
  type SimClock,
  Stage,
  VARIANTS,
  VhwError,
  definePlugin,
  z,
} from '@vhw/core';
import { type HostBridge, PciHostToken } from '@vhw/pci';
import { VfioPciDevice } from './device.js';
import { SubPageMmapPolicy, type VfioPatches } from './policy.js';

export * from './uapi.js';
export * from './reasons.js';
export * from './policy.js';
export * from './device.js';

/** The vfio-pci service: the devices bound to it. */
export const VfioToken = Symbol.for('vhw.Vfio');

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
export class VfioPciDriver {
  readonly devices: VfioPciDevice[] = [];
  constructor(
    readonly patches: VfioPatches,
    readonly bound: readonly string[] | undefined,
  ) {}

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

/** The vfio-pci plugin: binds the host bridge's devices to vfio-pci when the machine is realized. */
export const vfioPci = definePlugin({
  name: 'vfio-pci',
  kind: 'passthrough',
  description: 'vfio-pci passthrough (kernel side): region info, fd read/write, mmap policy with patches 2 and 3',
  schema: vfioPciOptions,
  module: (o) =>
    new ContainerModule(({ bind }) => {
      bind(CostParameters).toConstantValue(VFIO_COST_PARAMETERS);
      // One driver per machine: plugin objects may be reused to build several machines.
      bind(VfioToken).toDynamicValue(
        () => new VfioPciDriver({ variant: o.variant, subPageMmap: o.subPageMmap, msixMmap: o.msixMmap }, o.devices),
      );
      bind<Lifecycle>(Lifecycle).toDynamicValue((ctx) => {
        const driver = ctx.get<VfioPciDriver>(VfioToken);
        const bridge = ctx.get<HostBridge>(PciHostToken, { optional: true });
        const clock = ctx.get<SimClock>(ClockToken);
        const costs = ctx.get<CostModel>(CostModelToken);
        return {
          name: 'vfio-pci',
          stage: Stage.Host,
          realize() {
            if (!bridge)
              throw new VhwError('E_CONFIG', 'vfio-pci: the platform has no PCI host bridge; use platform-ppc64 or platform-generic');
            driver.bind(bridge, clock, costs);
          },
          dispose: () => driver.close(),
        };
      });
    }),
});
