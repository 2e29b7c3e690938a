import { VhwError, hex } from '@vhw/core';

export interface BarRequest {
  /** A stable key, e.g. "nvme0:BAR0". */
  key: string;
  size: number;
  /** Alignment the caller requires beyond the natural one (0 for none). */
  minAlignment?: number;
}

export interface BarPlacement {
  key: string;
  address: number;
  size: number;
  alignment: number;
}

export interface MmioWindowSpec {
  name: string;
  base: number;
  size: number;
}

function alignUp(x: number, a: number): number {
  return Math.ceil(x / a) * a;
}

/**
 * Places BARs into a window the way Linux's resource assignment does: each BAR aligned
 * to its size (natural alignment) or to `minAlignment` if that is larger (the platform
 * hook patch 1 raises to the page size), larger alignments first, packed densely from
 * the bottom. Without a raised alignment two small BARs can therefore share a page.
 * @throws VhwError E_ALLOCATION listing every BAR that did not fit and the space needed.
 */
export function packBars(window: MmioWindowSpec, requests: readonly BarRequest[], minAlignment = 0): BarPlacement[] {
  const items = requests.map((r, i) => ({ r, i, align: Math.max(r.size, r.minAlignment ?? 0, minAlignment) }));
  // Largest alignment first, then largest size, then declaration order: deterministic.
  items.sort((a, b) => b.align - a.align || b.r.size - a.r.size || a.i - b.i);
  const out: BarPlacement[] = [];
  const failed: string[] = [];
  let cursor = window.base;
  const end = window.base + window.size;
  for (const { r, align } of items) {
    const addr = alignUp(cursor, align);
    if (addr + r.size > end) {
      failed.push(`${r.key} (${hex(r.size)} bytes, alignment ${hex(align)})`);
      continue;
    }
    out.push({ key: r.key, address: addr, size: r.size, alignment: align });
    cursor = addr + r.size;
  }
  if (failed.length > 0) {
    const need = items.reduce((acc, { r, align }) => alignUp(acc, align) + r.size, window.base) - window.base;
    throw new VhwError(
      'E_ALLOCATION',
      `window ${window.name} [${hex(window.base)}, ${hex(end)}) is too small: did not fit ${failed.join(', ')}; needs about ${hex(need)} bytes, has ${hex(window.size)}`,
    );
  }
  return out;
}

/** Bytes from the window base to the end of the last placement (window usage). */
export function usedBytes(window: MmioWindowSpec, placements: readonly BarPlacement[]): number {
  let top = window.base;
  for (const p of placements) top = Math.max(top, p.address + p.size);
  return top - window.base;
}
