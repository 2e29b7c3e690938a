/**
 * @vhw/platform-arm64: an arm64 server host with 4, 16 or 64 KiB pages (default 64 KiB),
 * an SMMUv3 forming isolation groups, MSIs through a GICv3 ITS (isolated MSI), no EEH,
 * running a QEMU `virt` guest that programs the MSI-X table itself; patch 1 is the kernel's
 * resource alignment (`pci=resource_alignment`), the `alignBars` option.
 */
import { ContainerModule, type Platform, PlatformToken, definePlugin, z } from '@vhw/core';
import { HostBridge, type HostBridgePolicy, bindHostBridge } from '@vhw/pci';
import { itsAcceptsMsi } from './its.js';
import { type SmmuGrouping, smmuGroupId } from './smmu.js';

export { itsAcceptsMsi } from './its.js';
export { type SmmuGrouping, smmuGroupId } from './smmu.js';

/** The translation granules an arm64 kernel can be built with (CONFIG_ARM64_{4K,16K,64K}_PAGES). */
export const ARM64_PAGE_SIZES = [4096, 16384, 65536] as const;

/**
 * The address GICv3 ITS MSIs are written to: GITS_TRANSLATER, at offset 0x10040 of the ITS
 * frame, here the QEMU `virt` machine's ITS at 0x0808_0000 (hw/arm/virt.c, VIRT_GIC_ITS),
 * taken as a stand-in for a server's; outside the MMIO window.
 */
export const ITS_TRANSLATER = 0x0808_0000 + 0x1_0040;

/**
 * The arm64 host's answers to its host bridge: SMMU groups (per device with ACS, else one
 * per bus), memory BARs aligned to the page under patch 1 (`pci=resource_alignment`), and
 * the ITS's per-device MSI check (dropped and counted by the MSI router, no freeze).
 * Everything else is the plain host's: an access no BAR decodes reads all-ones, is counted
 * by the host address space, and freezes nothing.
 * @param o `alignBars` (patch 1), `smmuGrouping`, `isolatedMsi`, with the page size.
 */
export function arm64HostPolicy(o: {
  alignBars: boolean;
  smmuGrouping: SmmuGrouping;
  isolatedMsi: boolean;
  pageSize: number;
}): HostBridgePolicy {
  return {
    groupIdFor: (device, slot) => smmuGroupId('smmu0', o.smmuGrouping, device, slot),
    barAlignment: () => (o.alignBars ? o.pageSize : 0),
    validateMsi: (source, owner) => itsAcceptsMsi(o.isolatedMsi, source, owner),
  };
}

/** Options of the arm64 platform plugin; `alignBars` is patch 1's counterpart. */
export const arm64PlatformOptions = z.strictObject({
  pageSize: z
    .number()
    .int()
    .refine((n) => (ARM64_PAGE_SIZES as readonly number[]).includes(n), {
      message: `allowed: ${ARM64_PAGE_SIZES.join(', ')} (the arm64 translation granules)`,
    })
    .default(65536)
    .describe('host page size in bytes: 4, 16 or 64 KiB (default 64 KiB, as on many arm64 server kernels)'),
  alignBars: z
    .boolean()
    .default(false)
    .describe("patch 1's arm64 counterpart, pci=resource_alignment: every memory BAR aligned to the page size"),
  smmuGrouping: z
    .enum(['acs', 'bus'])
    .default('acs')
    .describe('SMMU isolation groups: "acs" one per device (ACS on the path), "bus" one for all devices of the bus'),
  isolatedMsi: z
    .boolean()
    .default(true)
    .describe('MSIs go through a GICv3 ITS that tags each device: a device can raise only its own vectors'),
  mmioBase: z.number().int().nonnegative().default(0x1000_0000).describe('host address of the PCIe MMIO window'),
  mmioSize: z.number().int().positive().default(0x2eff_0000).describe('size of the PCIe MMIO window'),
});

/** The arm64 (SMMUv3 + GICv3 ITS host, QEMU `virt` guest) platform plugin. */
export const arm64Platform = definePlugin({
  name: 'platform-arm64',
  kind: 'platform',
  description: 'arm64 host: 4/16/64 KiB pages, SMMU groups, GICv3 ITS isolated MSI, no EEH, QEMU virt guest; patch 1 = alignBars',
  schema: arm64PlatformOptions,
  module: (o) =>
    new ContainerModule((opts) => {
      // The platform's facts, stated once: vfio-pci, the VMM and the bridge read this record.
      opts.bind(PlatformToken).toConstantValue({
        name: 'arm64',
        pageSize: o.pageSize,
        // No EEH: a master abort reads all-ones and drops the write, nothing is isolated.
        unassignedPolicy: 'ignore',
        costDefaults: {},
        allMmioBarsPageAligned: o.alignBars,
        eeh: false,
        interruptIsolation: o.isolatedMsi,
        // The `virt` guest has no paravirtual MSI set-up (no RTAS): it writes the MSI-X
        // table, so the VMM must emulate it; QEMU's virt machine has no
        // vfio-no-msix-emulation property.
        guestMsiSetup: 'msix-table',
        vfioNoMsixEmulation: false,
      } satisfies Platform);
      bindHostBridge(
        opts,
        'arm64',
        ({ events, clock, memory, platform }) =>
          new HostBridge({
            name: 'pcie0',
            platform,
            window: { name: 'pcie0 MMIO', base: o.mmioBase, size: o.mmioSize },
            events,
            clock,
            memory,
            msiAddress: ITS_TRANSLATER,
            policy: arm64HostPolicy(o),
          }),
      );
    }),
});
