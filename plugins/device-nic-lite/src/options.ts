import { optionsError, z } from '@vhw/core';
import { mmioWorkloadFields } from '@vhw/guest';

/** The plugin name: `vhw list` shows it and every option error starts with it. */
export const NIC_LITE_PLUGIN = 'nic-lite';

/** Largest packet the model carries (the RX buffer size, SRRCTL default 2 KiB). */
export const NIC_MAX_PACKET_BYTES = 2048;

/** Options of the `nic-lite` plugin (zod; unknown keys are refused). */
export const nicLiteSchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'allowed: letters, digits, "_", "." and "-", starting with a letter or digit')
      .default('nic0')
      .describe('instance name: the PCI function name the guest driver looks for'),
    ringSize: z
      .number()
      .int()
      .min(8)
      .max(4096)
      .refine((n) => n % 8 === 0, 'allowed: a multiple of 8 (TDLEN/RDLEN are multiples of 128 bytes)')
      .default(256)
      .describe('descriptors per TX and per RX ring'),
    interruptBatch: z.number().int().min(1).max(4095).default(8).describe('packets per interrupt (moderation), at most ringSize - 1'),
    packetBytes: z
      .number()
      .int()
      .min(8)
      .max(NIC_MAX_PACKET_BYTES)
      .refine((n) => n % 4 === 0, 'allowed: a multiple of 4')
      .default(64)
      .describe('bytes per packet (the first 8 carry the sequence number)'),
    vectors: z.number().int().min(1).max(64).default(3).describe('MSI-X vectors (igbvf has 3: RX/TX queue, TX, mailbox)'),
    ...mmioWorkloadFields,
  })
  .superRefine((o, ctx) => {
    if (o.interruptBatch > o.ringSize - 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['interruptBatch'],
        message: `allowed: at most ringSize - 1 (${o.ringSize - 1}); a batch must fit the RX ring`,
      });
    }
  });

/** Validated options with defaults filled in. */
export type NicLiteOptions = z.output<typeof nicLiteSchema>;
/** Options as a user writes them (every field optional). */
export type NicLiteInput = z.input<typeof nicLiteSchema>;

/**
 * Validates `input` and fills defaults.
 * @param input - options as written by the user
 * @returns the validated options
 * @throws VhwError E_CONFIG naming the plugin, the field, the value and what is allowed
 * @example
 * resolveNicLiteOptions({ ringSize: 64 }).interruptBatch; // 8
 */
export function resolveNicLiteOptions(input: NicLiteInput = {}): NicLiteOptions {
  const parsed = nicLiteSchema.safeParse(input);
  if (!parsed.success) throw optionsError(NIC_LITE_PLUGIN, parsed.error, input, nicLiteSchema);
  return parsed.data;
}
