import { ContainerModule } from 'inversify';
import { z } from 'zod';
import { UNASSIGNED_POLICIES } from './address-space.js';
import { VhwError } from './errors.js';
import { resolveToken } from './contribution.js';
import { GuestMemory } from './guest-memory.js';
import { definePlugin } from './plugin.js';
import { CoreStage, GuestMemoryToken, LifecycleToken, MmuToken, PLAIN_PLATFORM_FACTS, type Platform, PlatformToken } from './tokens.js';

/** A page size option: a power of two of at least 4 KiB. */
export const pageSizeSchema = z
  .number()
  .int()
  .refine((n) => n >= 4096 && (n & (n - 1)) === 0, { message: 'allowed: a power of two >= 4096 (4096, 16384, 65536, ...)' });

/**
 * A minimal platform with no buses: a page size, an unassigned policy and no cost
 * changes. Enough to compose a machine from RAM and hand-mapped devices (see the core
 * example); PCI experiments use platform-ppc64 or platform-generic.
 */
export const simplePlatform = definePlugin({
  name: 'simple-platform',
  kind: 'platform',
  description: 'a bus-less platform: page size and unassigned-access policy only',
  schema: z.strictObject({
    pageSize: pageSizeSchema.default(4096),
    unassignedPolicy: z.enum(UNASSIGNED_POLICIES as ['ignore', 'zero', 'fault']).default('ignore'),
  }),
  module: (o) =>
    new ContainerModule(({ bind }) => {
      bind(PlatformToken).toConstantValue({
        name: 'simple',
        pageSize: o.pageSize,
        unassignedPolicy: o.unassignedPolicy,
        costDefaults: {},
        ...PLAIN_PLATFORM_FACTS,
      } satisfies Platform);
    }),
});

/** Guest RAM: a block mapped into the MMU as RAM pages and reachable by device DMA. */
export const guestRam = definePlugin({
  name: 'ram',
  kind: 'memory',
  description: 'guest RAM at a guest-physical address',
  schema: z.strictObject({
    name: z.string().min(1).default('ram0'),
    base: z.number().int().nonnegative().multipleOf(4096, { message: 'allowed: a multiple of 4096 (whole pages)' }).default(0),
    size: z
      .number()
      .int()
      .positive()
      .max(2 ** 40)
      .multipleOf(4096, { message: 'allowed: a multiple of 4096 (whole pages)' })
      .default(64 * 1024 * 1024),
  }),
  instance: (o) => o.name,
  module: (o) =>
    new ContainerModule(({ bind, isBound }) => {
      if (!isBound(GuestMemoryToken)) bind(GuestMemoryToken).toConstantValue(new GuestMemory());
      // Each RAM block is its own plugin instance, so its options stay in this closure
      // rather than under one options token several instances would share.
      bind(LifecycleToken).toDynamicValue((ctx) => {
        const mmu = resolveToken(ctx, MmuToken);
        const memory = resolveToken(ctx, GuestMemoryToken);
        return {
          name: `ram:${o.name}`,
          stage: CoreStage.Memory,
          realize() {
            for (const [field, v] of [
              ['base', o.base],
              ['size', o.size],
            ] as const) {
              if (v % mmu.pageSize !== 0) {
                throw new VhwError(
                  'E_CONFIG',
                  `ram: option "${field}" is ${v}; allowed: a multiple of the platform page size (${mmu.pageSize})`,
                );
              }
            }
            const block = memory.add(o.name, o.base, o.size);
            mmu.mapRam(o.name, o.base, o.size, block.buffer);
          },
        };
      });
    }),
});
