import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectVhwError } from '@vhw/test-support';
import { VhwError } from './errors.js';
import { FlatView, type Ranged } from './flat-view.js';

const r = (name: string, base: number, size: number): Ranged => ({ name, base, size });

/** Disjoint ranges in random order: gaps and sizes drawn, then laid out and shuffled. */
const disjointRanges = fc
  .array(fc.record({ gap: fc.integer({ min: 0, max: 64 }), size: fc.integer({ min: 1, max: 64 }) }), { maxLength: 40 })
  .chain((parts) => {
    let at = 0;
    const ranges = parts.map((p, i) => {
      const range = r(`r${i}`, at + p.gap, p.size);
      at += p.gap + p.size;
      return range;
    });
    return fc.shuffledSubarray(ranges, { minLength: ranges.length, maxLength: ranges.length });
  });

/** Disjoint ranges with gaps that are sometimes huge (clusters far apart, as RAM at 0 and BARs at 2^45). */
const sparseRanges = fc
  .array(
    fc.record({
      gap: fc.oneof(fc.integer({ min: 0, max: 16 }), fc.integer({ min: 0, max: 2 ** 45 })),
      size: fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 2 ** 32 })),
    }),
    { maxLength: 60 },
  )
  .map((parts) => {
    let at = 0;
    return parts.map((p, i) => {
      const range = r(`s${i}`, at + p.gap, p.size);
      at += p.gap + p.size;
      return range;
    });
  });

/** Probe addresses at and around every range boundary, plus random ones. */
const probesFor = (ranges: readonly Ranged[], extra: readonly number[]): number[] => [
  ...ranges.flatMap((x) => [x.base - 1, x.base, x.base + 1, x.base + Math.floor(x.size / 2), x.base + x.size - 1, x.base + x.size]),
  ...extra,
];

const naiveIndex = (ranges: readonly Ranged[], addr: number): Ranged | undefined =>
  ranges.find((x) => addr >= x.base && addr < x.base + x.size);

/** `v.find(a)`, checked to leave the found entry's exact bounds in foundBase/foundEnd (what AddressSpace caches). */
const findChecked = (v: FlatView<Ranged>, a: number): Ranged | undefined => {
  const e = v.find(a);
  if (e !== undefined) expect([v.foundBase, v.foundEnd]).toEqual([e.base, e.base + e.size]);
  return e;
};

const naiveIntersecting = (ranges: readonly Ranged[], base: number, size: number): Ranged[] =>
  ranges.filter((x) => x.base < base + size && base < x.base + x.size).sort((a, b) => a.base - b.base);

describe('FlatView', () => {
  it('sorts entries by base', () => {
    const v = new FlatView([r('c', 0x3000, 0x100), r('a', 0x1000, 0x100), r('b', 0x2000, 0x100)]);
    expect(v.entries.map((e) => e.name)).toEqual(['a', 'b', 'c']);
    expect(v.length).toBe(3);
  });

  it('refuses overlapping entries with E_OVERLAP naming both', () => {
    const err = expectVhwError(() => new FlatView([r('a', 0x1000, 0x100), r('b', 0x10ff, 0x10)]), 'E_OVERLAP');
    expect(err.message).toContain('"a"');
    expect(err.message).toContain('"b"');
  });

  it('detects an overlap with an earlier, longer entry that is not the direct neighbour', () => {
    expect(() => new FlatView([r('big', 0, 0x1000), r('x', 0x100, 0x10), r('y', 0x800, 0x10)])).toThrow(/overlaps/);
  });

  it('accepts touching entries and finds both sides of the boundary', () => {
    const v = new FlatView([r('a', 0, 0x10), r('b', 0x10, 0x10)]);
    expect(v.find(0xf)?.name).toBe('a');
    expect(v.find(0x10)?.name).toBe('b');
    expect(v.find(0x20)).toBeUndefined();
  });

  it('finds nothing in an empty view', () => {
    const v = new FlatView<Ranged>([]);
    expect(v.indexOf(0)).toBe(-1);
    expect(v.intersecting(0, 100)).toEqual([]);
  });

  it('does not report a hit for NaN, even after a cached hit', () => {
    const v = new FlatView([r('a', 0, 0x10), r('b', 0x10, 0x10), r('c', 0x20, 0x10)]);
    expect(v.indexOf(0x15)).toBe(1);
    expect(v.indexOf(Number.NaN)).toBe(-1);
  });

  it('does not answer from the last-hit cache when the address moved elsewhere', () => {
    const v = new FlatView([r('a', 0, 0x10), r('b', 0x100, 0x10)]);
    expect(v.find(0x5)?.name).toBe('a');
    expect(v.find(0x50)).toBeUndefined();
    expect(v.find(0x105)?.name).toBe('b');
    expect(v.find(0x5)?.name).toBe('a');
  });

  it('lists intersecting entries in address order, excluding ones that only touch', () => {
    const v = new FlatView([r('c', 0x40, 0x10), r('a', 0, 0x10), r('b', 0x20, 0x10)]);
    expect(v.intersecting(0x10, 0x10).map((e) => e.name)).toEqual([]);
    expect(v.intersecting(0x0f, 0x12).map((e) => e.name)).toEqual(['a', 'b']);
    expect(v.intersecting(0, 0x100).map((e) => e.name)).toEqual(['a', 'b', 'c']);
  });

  it("property: indexOf and find agree with a naive linear scan; find leaves the entry's bounds", () => {
    fc.assert(
      fc.property(disjointRanges, fc.array(fc.integer({ min: -8, max: 40 * 130 }), { maxLength: 60 }), (ranges, addrs) => {
        const v = new FlatView(ranges);
        for (const a of addrs) {
          const i = v.indexOf(a);
          const want = naiveIndex(ranges, a);
          expect(i < 0 ? undefined : v.entries[i]).toBe(want);
          expect(findChecked(v, a)).toBe(want);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('property: indexOf agrees with a naive scan on sparse layouts, at every boundary', () => {
    fc.assert(
      fc.property(sparseRanges, fc.array(fc.integer({ min: 0, max: 2 ** 52 }), { maxLength: 20 }), (ranges, extra) => {
        const v = new FlatView(ranges);
        for (const a of probesFor(ranges, extra)) expect(findChecked(v, a)).toBe(naiveIndex(ranges, a));
      }),
      { numRuns: 300 },
    );
  });

  it('property: indexOf agrees with a naive scan for ranges that are not non-negative integers', () => {
    const oddRanges = fc
      .array(fc.record({ gap: fc.double({ min: 0, max: 100, noNaN: true }), size: fc.double({ min: 0.25, max: 100, noNaN: true }) }), {
        maxLength: 20,
      })
      .map((parts) => {
        let at = -500;
        return parts.map((p, i) => {
          const range = r(`o${i}`, at + p.gap, p.size);
          at = range.base + range.size;
          return range;
        });
      });
    fc.assert(
      fc.property(oddRanges, fc.array(fc.double({ min: -600, max: 2000, noNaN: true }), { maxLength: 30 }), (ranges, extra) => {
        const v = new FlatView(ranges);
        for (const a of probesFor(ranges, extra)) expect(findChecked(v, a)).toBe(naiveIndex(ranges, a));
      }),
    );
  });

  it('answers lookups in a large dense view and misses in its holes', () => {
    const ranges = Array.from({ length: 5000 }, (_, i) => r(`r${i}`, 0x1_0000_0000 + i * 0x2000, 0x1000));
    const v = new FlatView(ranges);
    for (let i = 0; i < 5000; i += 7) {
      expect(findChecked(v, 0x1_0000_0000 + i * 0x2000 + 0xfff)?.name).toBe(`r${i}`);
      expect(v.find(0x1_0000_0000 + i * 0x2000 + 0x1000)).toBeUndefined();
    }
    expect(v.find(0)).toBeUndefined();
    expect(v.find(0x1_0000_0000 + 5000 * 0x2000)).toBeUndefined();
  });

  it('property: entries are sorted and disjoint', () => {
    fc.assert(
      fc.property(disjointRanges, (ranges) => {
        const v = new FlatView(ranges);
        for (let i = 1; i < v.entries.length; i++) {
          expect(v.entries[i]!.base).toBeGreaterThanOrEqual(v.entries[i - 1]!.base + v.entries[i - 1]!.size);
        }
        expect(v.length).toBe(ranges.length);
      }),
    );
  });

  it('property: intersecting agrees with a naive filter', () => {
    fc.assert(
      fc.property(disjointRanges, fc.integer({ min: -16, max: 40 * 130 }), fc.integer({ min: 1, max: 600 }), (ranges, base, size) => {
        const v = new FlatView(ranges);
        expect(v.intersecting(base, size)).toEqual(naiveIntersecting(ranges, base, size));
      }),
      { numRuns: 300 },
    );
  });

  it('property: any overlapping pair is refused', () => {
    fc.assert(
      fc.property(
        disjointRanges.filter((x) => x.length > 0),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 1, max: 64 }),
        (ranges, pick, offset, size) => {
          const target = ranges[pick % ranges.length]!;
          const intruder = r('intruder', target.base + (offset % target.size), size);
          expect(() => new FlatView([...ranges, intruder])).toThrow(VhwError);
        },
      ),
    );
  });
});
