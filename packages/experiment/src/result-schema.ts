/**
 * The result contract (`RunResult`) as a schema, to check results read back from a file
 * (`vhw merge`) before anything uses them: a row that is not a run result is refused with
 * the file, the row and the field, never met later as an internal error.
 */
import { VARIANTS, VhwError, z } from '@vhw/core';
import type { RunResult } from './result.js';

const count = z.number().int().min(0);
const finite = z.number().refine(Number.isFinite, 'expected a finite number');

const barArea = z.looseObject({
  offset: count,
  size: count,
  path: z.enum(['direct', 'trap']),
  reason: z.string(),
  traps: count.optional(),
});

const barResult = z.looseObject({
  device: z.string(),
  bar: count,
  address: z.string(),
  guestAddress: z.string(),
  size: count,
  mmap: z.enum(['full', 'partial', 'none']),
  reason: z.string(),
  areas: z.array(barArea),
});

const varyPoint = z.looseObject({ field: z.string().min(1), value: z.union([finite, z.string()]) });

/**
 * One run result. Objects are loose: fields added later (extensions) pass, the fields
 * the contract names are checked.
 */
export const runResultSchema = z.looseObject({
  scenario: z.string().min(1),
  platform: z.looseObject({ name: z.string().min(1), pageSize: z.number().int().min(1), eeh: z.boolean(), barSpanBytes: count.optional() }),
  variant: z.enum(VARIANTS),
  patches: z.looseObject({ alignBars: z.boolean(), subPageMmap: z.boolean(), msixMmap: z.boolean() }),
  seed: z.number().int().min(1).optional(),
  workload: z.looseObject({
    ops: z.number().int().min(1),
    simulatedNs: finite.min(0),
    opsPerSecond: finite.min(0),
    completed: count.optional(),
    failed: count.optional(),
    eehRecoveries: count.optional(),
  }),
  mmio: z.looseObject({ direct: count, trapped: count, trapsByReason: z.record(z.string(), count) }),
  bars: z.array(barResult),
  isolation: z.looseObject({ violations: count }),
  costs: z.record(z.string(), finite).optional(),
  vary: z.array(varyPoint).optional(),
});

/**
 * Checks that `rows`, read from `file`, are run results.
 * @param file - the file they came from, for the message
 * @param rows - the parsed JSON
 * @returns the rows, typed
 * @throws VhwError E_CONFIG naming the file, the first bad row and its field, and what is allowed
 */
export function parseResultRows(file: string, rows: unknown): RunResult[] {
  if (!Array.isArray(rows)) {
    throw new VhwError('E_CONFIG', `merge: ${file} holds no array of results; allowed: the JSON of vhw sweep --format json`);
  }
  rows.forEach((row, i) => {
    // vhw before grids wrote one vary point as an object; it is the 1-D grid's one-element array.
    if (
      row !== null &&
      typeof row === 'object' &&
      'vary' in row &&
      row.vary !== null &&
      typeof row.vary === 'object' &&
      !Array.isArray(row.vary)
    )
      row.vary = [row.vary];
    const r = runResultSchema.safeParse(row);
    if (r.success) return;
    const issue = r.error.issues[0]!;
    const field = issue.path.length > 0 ? issue.path.map(String).join('.') : '(the row)';
    throw new VhwError(
      'E_CONFIG',
      `merge: ${file}: row ${i}: ${field}: ${issue.message}; allowed: run results as vhw sweep --format json writes them`,
    );
  });
  return rows as RunResult[];
}
