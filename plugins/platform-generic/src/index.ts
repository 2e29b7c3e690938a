/**
 * @vhw/platform-generic: the experiment's control host. 4 KiB pages, one flat MMIO
 * window packed the Linux way, no EEH; optionally interrupt remapping (MSIs validated
 * against their source, blocked and counted without any freeze).
 */
import { ContainerModule, type Platform, PlatformToken, definePlugin, pageSizeSchema, patchDoc, z } from '@vhw/core';
import { HostBridge, type HostBridgePolicy, bindHostBridge } from '@vhw/pci';

/**
 * The generic host's answers to its host bridge: one group per device (the default),
 * memory BARs aligned to the page under patch 1, and, with interrupt remapping, an MSI
 * passes only for a vector of the source's own group (blocked and counted, no freeze).
 * @param o `alignBars` (patch 1) and `interruptRemapping`, with the page size.
 */
export function genericHostPolicy(o: { alignBars: boolean; interruptRemapping: boolean; pageSize: number }): HostBridgePolicy {
  return {
    barAlignment: () => (o.alignBars ? o.pageSize : 0),
    // Interrupt remapping checks the requester against the remapping entry; without it any
    // device can hit any vector (that is the risk the RFC's patch 3 guards against).
    validateMsi: (source, owner) => !o.interruptRemapping || (owner !== undefined && owner.group === source.group),
  };
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
      // The platform's facts, stated once: vfio-pci, the VMM and the bridge read this record.
      opts.bind(PlatformToken).toConstantValue({
        name: 'generic',
        pageSize: o.pageSize,
        unassignedPolicy: 'ignore',
        costDefaults: {},
        allMmioBarsPageAligned: o.alignBars,
        eeh: false,
        interruptIsolation: o.interruptRemapping,
        guestMsiSetup: 'msix-table',
        vfioNoMsixEmulation: false,
      } satisfies Platform);
      bindHostBridge(
        opts,
        'generic',
        ({ events, clock, memory, platform }) =>
          new HostBridge({
            name: 'host0',
            platform,
            window: { name: 'host0 MMIO', base: o.mmioBase, size: o.mmioSize },
            events,
            clock,
            memory,
            msiAddress: 0xfee0_0000,
            policy: genericHostPolicy(o),
          }),
      );
    }),
});
