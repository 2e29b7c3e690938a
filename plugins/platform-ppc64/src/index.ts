/**
 * @vhw/platform-ppc64: a PowerNV-like host with 64 KiB pages, one PHB (PEs, M32
 * segments, EEH, MSI validation, TCE tables) and patch 1 as the `alignBars` option.
 */
import {
  ContainerModule,
  type CostParameter,
  CostParametersToken,
  type Platform,
  PlatformToken,
  definePlugin,
  pageSizeSchema,
  patchDoc,
  z,
} from '@vhw/core';
import { bindHostBridge } from '@vhw/pci';
import { Ppc64Phb } from './phb.js';

export { Ppc64Phb, type Ppc64PhbOptions } from './phb.js';
export { PhbEeh, type EehState, type FreezeScope, type PhbEehOptions } from './eeh.js';
export { M32Segments, type Segment } from './m32-segments.js';

/** Cost parameters this platform charges, with their sources. */
export const PPC64_COST_PARAMETERS: readonly CostParameter[] = [
  {
    name: 'eeh.slotResetHoldMs',
    default: 125,
    unit: 'ms',
    description: 'time the slot is held in reset during EEH recovery',
    source: 'Documentation/arch/powerpc/eeh-pci-error-recovery.rst: #RST held for 1/8 s by rtas_set_slot_reset()',
    confidence: 'medium',
  },
];

/** Options of the PPC64 platform plugin; `alignBars` is patch 1. */
const ppc64Shape = z.strictObject({
  pageSize: pageSizeSchema.default(65536).describe('host page size in bytes (PPC64 default 64 KiB)'),
  alignBars: z.boolean().default(false).describe(patchDoc('alignBars')),
  eeh: z.boolean().default(true).describe('EEH with per-PE MSI validation'),
  freezeBlocksMsi: z.boolean().default(true).describe('a frozen PE cannot raise MSIs [unconfirmed]'),
  peCount: z.number().int().min(2).max(4096).default(256).describe('PEs of the PHB (PHB3: 256, the last reserved)'),
  peGranularity: z.enum(['device', 'bus']).default('device').describe('one PE per device, or all devices in one PE'),
  m32Base: z.number().int().nonnegative().default(0x8000_0000).describe('host address of the M32 window'),
  m32Size: z.number().int().positive().default(0x8000_0000).describe('size of the M32 window (split into peCount segments)'),
  vfioNoMsixEmulation: z
    .boolean()
    .default(true)
    .describe('the pSeries machine property: the guest sets up MSIs via RTAS, so the VMM need not emulate the MSI-X table'),
});

/** Options of platform-ppc64; the M32 window must split into whole pages per PE. */
export const ppc64PlatformOptions = ppc64Shape.superRefine((o, ctx) => {
  const seg = o.m32Size / o.peCount;
  if (!Number.isInteger(seg) || seg % o.pageSize !== 0) {
    ctx.addIssue({
      code: 'custom',
      path: ['m32Size'],
      message: `m32Size / peCount (${o.peCount}) gives segments of ${seg} bytes; allowed: a whole number of ${o.pageSize}-byte pages per segment`,
    });
  }
  if (o.m32Base % o.pageSize !== 0) {
    ctx.addIssue({ code: 'custom', path: ['m32Base'], message: `allowed: a multiple of the page size (${o.pageSize})` });
  }
});

/** The PPC64 (PowerNV host, pSeries guest) platform plugin. */
export const ppc64Platform = definePlugin({
  name: 'platform-ppc64',
  kind: 'platform',
  description: 'PowerNV-like PPC64 host: 64 KiB pages, PHB with PEs and M32 segments, EEH, MSI validation, TCE; patch 1 = alignBars',
  schema: ppc64PlatformOptions,
  module: (o) =>
    new ContainerModule((opts) => {
      // The platform's facts, stated once: vfio-pci, the VMM and the PHB read this record.
      opts.bind(PlatformToken).toConstantValue({
        name: 'ppc64',
        pageSize: o.pageSize,
        unassignedPolicy: 'ignore',
        costDefaults: {},
        allMmioBarsPageAligned: o.alignBars,
        eeh: o.eeh,
        // Per-PE MSI validation is part of EEH on this PHB.
        interruptIsolation: o.eeh,
        // A pSeries guest sets up MSIs through RTAS ibm,change-msi.
        guestMsiSetup: 'rtas',
        vfioNoMsixEmulation: o.vfioNoMsixEmulation,
      } satisfies Platform);
      opts.bind(CostParametersToken).toConstantValue(PPC64_COST_PARAMETERS);
      bindHostBridge(
        opts,
        'ppc64',
        ({ events, clock, memory, costs, platform }) =>
          new Ppc64Phb({
            name: 'phb0',
            platform,
            window: { name: 'phb0 M32', base: o.m32Base, size: o.m32Size },
            events,
            clock,
            memory,
            // The interrupt controller's MSI doorbell, outside M32.
            msiAddress: 0x3_fff0_0000,
            alignBars: o.alignBars,
            peCount: o.peCount,
            peGranularity: o.peGranularity,
            freezeBlocksMsi: o.freezeBlocksMsi,
            costs,
          }),
      );
    }),
});
