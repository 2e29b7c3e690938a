/**
 * @vhw/platform-generic: the experiment's control host. 4 KiB pages, one flat MMIO
 * window packed the Linux way, no EEH; optionally interrupt remapping (MSIs validated
 * against their source, blocked and counted without any freeze).
 */
import { ContainerModule, Platform, definePlugin, pageSizeSchema, patchDoc, z } from '@vhw/core';
import { HostBridge, type HostBridgeOptions, type PciFunction, bindHostBridge } from '@vhw/pci';

export interface GenericHostBridgeOptions extends HostBridgeOptions {
  alignBars: boolean;
  interruptRemapping: boolean;
}

/** A flat host bridge: one group per device, no freeze, optional MSI source validation. */
export class GenericHostBridge extends HostBridge {
  constructor(private readonly o: GenericHostBridgeOptions) {
    super(o);
  }
  override get allMmioBarsPageAligned(): boolean {
    return this.o.alignBars;
  }
  override get interruptIsolation(): boolean {
    return this.o.interruptRemapping;
  }
  protected override minBarAlignment(): number {
    return this.o.alignBars ? this.pageSize : 0;
  }
  protected override validateMsi(source: PciFunction, owner: PciFunction | undefined): boolean {
    // Interrupt remapping checks the requester against the remapping entry; without it any
    // device can hit any vector (that is the risk the RFC's patch 3 guards against).
    return !this.o.interruptRemapping || (owner !== undefined && owner.group === source.group);
  }
}

/** Options of the generic (control) platform plugin. */
export const genericPlatformOptions = z.strictObject({
  pageSize: pageSizeSchema.default(4096).describe('host page size in bytes'),
  alignBars: z.boolean().default(false).describe(patchDoc('alignBars')),
  interruptRemapping: z.boolean().default(false).describe('MSIs are validated against their source device'),
  mmioBase: z.number().int().nonnegative().default(0x8000_0000).describe('host address of the MMIO window'),
  mmioSize: z.number().int().positive().default(0x4000_0000).describe('size of the MMIO window'),
});

/** The generic 4 KiB-page control platform plugin. */
export const genericPlatform = definePlugin({
  name: 'platform-generic',
  kind: 'platform',
  description: '4 KiB-page control host: flat MMIO window, no EEH, optional interrupt remapping',
  schema: genericPlatformOptions,
  module: (o) =>
    new ContainerModule((opts) => {
      opts.bind(Platform).toConstantValue({
        name: 'generic',
        pageSize: o.pageSize,
        unassignedPolicy: 'ignore',
        costDefaults: {},
        machineProperties: { machineType: 'generic', vfioNoMsixEmulation: false, eeh: false },
      } satisfies Platform);
      bindHostBridge(
        opts,
        'generic',
        ({ events, clock, memory }) =>
          new GenericHostBridge({
            name: 'host0',
            pageSize: o.pageSize,
            window: { name: 'host0 MMIO', base: o.mmioBase, size: o.mmioSize },
            unassignedPolicy: 'ignore',
            events,
            clock,
            memory,
            msiAddress: 0xfee0_0000,
            alignBars: o.alignBars,
            interruptRemapping: o.interruptRemapping,
          }),
      );
    }),
});
