import { VhwError } from '@vhw/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectVhwError } from '@vhw/test-support';
import { type BarPlacement, type BarRequest, packBars, usedBytes } from './allocator.js';

const KiB = 1024;
const PAGE64K = 64 * KiB;
const win = (size = 0x1000_0000, base = 0x8000_0000) => ({ name: 'M32', base, size });
const at = (ps: BarPlacement[], key: string) => {
  const p = ps.find((x) => x.key === key);
  if (!p) throw new Error(`no placement for ${key}`);
  return p;
};

describe('packBars', () => {
  it('aligns each BAR to its size and places larger alignments first, densely from the bottom', () => {
    const reqs: BarRequest[] = [
      { key: 'a:BAR2', size: 4 * KiB },
      { key: 'a:BAR0', size: 16 * KiB },
      { key: 'b:BAR0', size: 64 * KiB },
      { key: 'b:BAR3', size: 16 * KiB },
    ];
    const ps = packBars(win(), reqs);
    expect(ps.map((p) => [p.key, p.address - 0x8000_0000, p.alignment])).toEqual([
      ['b:BAR0', 0, 64 * KiB],
      ['a:BAR0', 64 * KiB, 16 * KiB],
      ['b:BAR3', 80 * KiB, 16 * KiB],
      ['a:BAR2', 96 * KiB, 4 * KiB],
    ]);
    expect(usedBytes(win(), ps)).toBe(100 * KiB);
  });

  it('keeps declaration order among equal BARs (deterministic)', () => {
    const ps = packBars(win(), [
      { key: 'x', size: 0x1000 },
      { key: 'y', size: 0x1000 },
      { key: 'z', size: 0x1000 },
    ]);
    expect(ps.map((p) => p.key)).toEqual(['x', 'y', 'z']);
  });

  it('lets two 16 KiB BARs of different devices share a 64 KiB page without a minimum alignment', () => {
    const ps = packBars(win(), [
      { key: 'a:BAR0', size: 16 * KiB },
      { key: 'b:BAR0', size: 16 * KiB },
    ]);
    const a = at(ps, 'a:BAR0');
    const b = at(ps, 'b:BAR0');
    expect(Math.floor(a.address / PAGE64K)).toBe(Math.floor(b.address / PAGE64K));
    expect(b.address - a.address).toBe(16 * KiB);
  });

  it('never lets them share a page with minAlignment = 64 KiB', () => {
    const ps = packBars(
      win(),
      [
        { key: 'a:BAR0', size: 16 * KiB },
        { key: 'b:BAR0', size: 16 * KiB },
        { key: 'b:BAR3', size: 4 * KiB },
      ],
      PAGE64K,
    );
    const pages = ps.map((p) => Math.floor(p.address / PAGE64K));
    expect(new Set(pages).size).toBe(3);
    for (const p of ps) {
      expect(p.address % PAGE64K).toBe(0);
      expect(p.alignment).toBe(PAGE64K);
    }
    expect(usedBytes(win(), ps)).toBe(2 * PAGE64K + 4 * KiB);
  });

  it('honours a per-request minimum alignment', () => {
    const ps = packBars(win(), [
      { key: 'a', size: 0x1000 },
      { key: 'b', size: 0x1000, minAlignment: 0x10000 },
    ]);
    expect(at(ps, 'b').address % 0x10000).toBe(0);
    expect(at(ps, 'b').alignment).toBe(0x10000);
    expect(at(ps, 'b').address).toBe(0x8000_0000); // larger alignment first
    expect(at(ps, 'a').address).toBe(0x8000_1000); // right after b's 4 KiB
  });

  it('aligns to absolute addresses when the window base is not aligned', () => {
    const ps = packBars({ name: 'odd', base: 0x8000_1000, size: 0x100000 }, [{ key: 'a', size: 0x10000 }]);
    expect(ps[0]!.address).toBe(0x8001_0000);
  });

  it('throws E_ALLOCATION naming the window and listing only what did not fit', () => {
    const err = expectVhwError(
      () =>
        packBars({ name: 'tiny', base: 0x1000_0000, size: 0x8000 }, [
          { key: 'a:BAR0', size: 0x4000 },
          { key: 'b:BAR0', size: 0x4000 },
          { key: 'c:BAR0', size: 0x4000 },
          { key: 'd:BAR2', size: 0x10000 },
        ]),
      'E_ALLOCATION',
    );
    const m = err.message;
    expect(m).toContain('window tiny [0x10000000, 0x10008000) is too small');
    expect(m).toContain('d:BAR2 (0x10000 bytes');
    expect(m).toContain('c:BAR0 (0x4000 bytes');
    expect(m).not.toContain('a:BAR0');
    expect(m).not.toContain('b:BAR0');
    expect(m).toContain('has 0x8000');
  });

  it('places nothing and uses nothing for no requests', () => {
    expect(packBars(win(), [])).toEqual([]);
    expect(usedBytes(win(), [])).toBe(0);
  });
});

describe('packBars properties', () => {
  const request = fc.record({
    log2: fc.integer({ min: 4, max: 22 }),
    minLog2: fc.option(fc.integer({ min: 12, max: 20 }), { nil: undefined }),
  });
  const scenario = fc.record({
    reqs: fc.array(request, { minLength: 1, maxLength: 24 }),
    globalMin: fc.constantFrom(0, 4096, 65536),
    baseLog2: fc.integer({ min: 4, max: 31 }),
    // window size as a fraction of a size that always fits
    fill: fc.double({ min: 0.05, max: 1.5, noNaN: true }),
  });

  it('never overlaps, respects every alignment, stays in the window, or fails with E_ALLOCATION', () => {
    fc.assert(
      fc.property(scenario, ({ reqs, globalMin, baseLog2, fill }) => {
        const requests: BarRequest[] = reqs.map((r, i) => ({
          key: `d${i}:BAR0`,
          size: 2 ** r.log2,
          minAlignment: r.minLog2 === undefined ? undefined : 2 ** r.minLog2,
        }));
        const alignOf = (r: BarRequest) => Math.max(r.size, r.minAlignment ?? 0, globalMin);
        const enough = requests.reduce((s, r) => s + 2 * alignOf(r), 0) + Math.max(...requests.map(alignOf));
        const base = 0x1_0000_0000 + 2 ** baseLog2;
        const window = { name: 'w', base, size: Math.max(16, Math.floor((enough * fill) / 16) * 16) };
        let ps: BarPlacement[];
        try {
          ps = packBars(window, requests, globalMin);
        } catch (e) {
          expect(VhwError.is(e, 'E_ALLOCATION')).toBe(true);
          expect(window.size).toBeLessThan(enough);
          return;
        }
        expect(ps.map((p) => p.key).sort()).toEqual(requests.map((r) => r.key).sort());
        for (const p of ps) {
          const r = requests.find((x) => x.key === p.key)!;
          expect(p.size).toBe(r.size);
          expect(p.alignment).toBe(alignOf(r));
          expect(p.address % alignOf(r)).toBe(0);
          expect(p.address).toBeGreaterThanOrEqual(window.base);
          expect(p.address + p.size).toBeLessThanOrEqual(window.base + window.size);
        }
        const sorted = [...ps].sort((a, b) => a.address - b.address);
        for (let i = 1; i < sorted.length; i++)
          expect(sorted[i]!.address).toBeGreaterThanOrEqual(sorted[i - 1]!.address + sorted[i - 1]!.size);
        expect(usedBytes(window, ps)).toBe(sorted[sorted.length - 1]!.address + sorted[sorted.length - 1]!.size - window.base);
      }),
      { numRuns: 400 },
    );
  });

  it('always fits when the window is large enough', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 4, max: 20 }), { minLength: 1, maxLength: 30 }), fc.constantFrom(0, 65536), (logs, min) => {
        const requests = logs.map((l, i) => ({ key: `k${i}`, size: 2 ** l }));
        const total = requests.reduce((s, r) => s + 2 * Math.max(r.size, min), 0);
        expect(() => packBars({ name: 'big', base: 0x4000_0000, size: total }, requests, min)).not.toThrow();
      }),
      { numRuns: 200 },
    );
  });
});
