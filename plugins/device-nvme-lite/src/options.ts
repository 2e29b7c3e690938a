import { optionsError, z } from '@vhw/core';
import { mmioWorkloadFields } from '@vhw/guest';

/** The plugin name: `vhw list` shows it and every option error starts with it. */
export const NVME_LITE_PLUGIN = 'nvme-lite';

/**
 * BAR0 layouts. Register file at 0, doorbells from 0x1000 in both; they differ in the
 * BAR size and where the MSI-X table and PBA sit.
 */
export const NVME_LAYOUTS = {
  /** The common NVMe shape: MLBAR default size 16 KiB, table and PBA in the upper half. */
  'bar0-16k': { barSize: 0x4000, tableOffset: 0x2000, pbaOffset: 0x3000 },
  /** The KIOXIA CD8P shape (lspci in cloud-hypervisor PR #7904): 64 KiB, table 0x5200, PBA 0xd600. */
  'bar0-64k': { barSize: 0x10000, tableOffset: 0x5200, pbaOffset: 0xd600 },
} as const;
export type NvmeLayout = keyof typeof NVME_LAYOUTS;

/** Largest queue size the controller supports (CAP.MQES + 1); a queue of depth d needs d + 1 entries. */
export const NVME_MAX_QUEUE_ENTRIES = 1024;
/** Largest number of I/O queue pairs the model offers (doorbells 0x1008..0x1200). */
export const NVME_MAX_IO_QUEUES = 63;

/** Options of the `nvme-lite` plugin (zod; unknown keys are refused). */
export const nvmeLiteSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'allowed: letters, digits, "_", "." and "-", starting with a letter or digit')
    .default('nvme0')
    .describe('instance name: the PCI function name the guest driver looks for'),
  layout: z.enum(['bar0-16k', 'bar0-64k']).default('bar0-16k').describe('BAR0 layout: 16 KiB NVMe shape or 64 KiB KIOXIA CD8P shape'),
  vectors: z.number().int().min(1).max(64).default(8).describe('MSI-X vectors (table size)'),
  queueDepth: z
    .number()
    .int()
    .min(1)
    .max(NVME_MAX_QUEUE_ENTRIES - 1)
    .default(32)
    .describe('commands the driver keeps outstanding per I/O queue (queue size is depth + 1)'),
  ioQueues: z.number().int().min(1).max(NVME_MAX_IO_QUEUES).default(1).describe('I/O submission/completion queue pairs'),
  interruptCoalescing: z
    .number()
    .int()
    .min(1)
    .max(256)
    .default(1)
    .describe('completions per interrupt on I/O completion queues (aggregation threshold)'),
  deviceLatencyNs: z
    .number()
    .nonnegative()
    .max(1e9)
    .default(0)
    .describe('guest-visible service time per command, charged by the driver as waiting'),
  ...mmioWorkloadFields,
  mmioAccessSize: z
    .union([z.literal(4), z.literal(8)])
    .default(4)
    .describe('mmio workload: bytes per access (8: CSTS with the dword below it, an SQ tail doorbell with its CQ head)'),
  sparseAreas: z
    .array(z.strictObject({ offset: z.number().int().nonnegative(), size: z.number().int().positive() }))
    .optional()
    .describe(
      'BAR0 areas the device lets userspace mmap, as a vfio variant driver or vfio-user server reports them (default: vfio-pci decides)',
    ),
});

/** Validated options with defaults filled in. */
export type NvmeLiteOptions = z.output<typeof nvmeLiteSchema>;
/** Options as a user writes them (every field optional). */
export type NvmeLiteInput = z.input<typeof nvmeLiteSchema>;

/**
 * Validates `input` and fills defaults.
 * @param input - options as written by the user
 * @returns the validated options
 * @throws VhwError E_CONFIG naming the plugin, the field, the value and what is allowed
 * @example
 * resolveNvmeLiteOptions({ layout: 'bar0-64k' }).vectors; // 8
 */
export function resolveNvmeLiteOptions(input: NvmeLiteInput = {}): NvmeLiteOptions {
  const parsed = nvmeLiteSchema.safeParse(input);
  if (!parsed.success) throw optionsError(NVME_LITE_PLUGIN, parsed.error, input, nvmeLiteSchema);
  return parsed.data;
}
