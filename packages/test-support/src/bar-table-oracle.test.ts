import { Cfg } from '@vhw/pci';
import { describe, expect, it } from 'vitest';
import { type BarSource, BarTableOracle, type BarTableEntry, directMappingViolations, readBarTable } from './bar-table-oracle.js';

const P = 0x10000;
const bar = (device: string, group: string, index: number, address: number, size: number): BarTableEntry => ({
  device,
  group,
  index,
  address,
  size,
});
// a: a 16 KiB BAR alone in its page; b and c (one group) share the next page; d another group's 64 KiB BAR.
const TABLE = [
  bar('a', 'pe1', 0, 0x8000_0000, 0x4000),
  bar('b', 'pe2', 0, 0x8001_0000, 0x1000),
  bar('c', 'pe2', 2, 0x8001_8000, 0x1000),
  bar('d', 'pe3', 0, 0x8002_0000, P),
];

describe('readBarTable', () => {
  it('reads 32- and 64-bit BAR registers, masking the flag bits', () => {
    const regs = new Map<number, number>([
      [Cfg.Bar0, 0x8000_000c], // 64-bit prefetchable, low half
      [Cfg.Bar0 + 4, 0x2],
      [Cfg.Bar0 + 8, 0x9000_0000],
    ]);
    const src: BarSource = {
      device: 'x',
      group: 'g',
      bars: [
        { index: 0, size: 0x4000 },
        { index: 2, size: 0x1000 },
      ],
      configRead: (off) => regs.get(off) ?? 0,
    };
    expect(readBarTable([src])).toEqual([bar('x', 'g', 0, 0x2_8000_0000, 0x4000), bar('x', 'g', 2, 0x9000_0000, 0x1000)]);
  });
});

describe('BarTableOracle', () => {
  const oracle = new BarTableOracle(TABLE, { base: 0x8000_0000, size: 0x1_0000, count: 4 });

  it('names the BAR decoding a byte, and none in the gaps', () => {
    expect(oracle.barAt(0x8000_3fff)?.device).toBe('a');
    expect(oracle.barAt(0x8000_4000)).toBeUndefined();
    expect(oracle.barAt(0x8001_8800)?.device).toBe('c');
  });

  it("lets a device's own page through and names what else a page exposes", () => {
    expect(oracle.exposes(0x8000_0000, P, { device: 'a', group: 'pe1' })).toEqual([]);
    // b's page holds c's BAR: another device, even in the same group.
    expect(oracle.exposes(0x8001_0000, P, { device: 'b', group: 'pe2' })).toEqual(['host 0x80010000+0x10000 holds c BAR2 at 0x80018000']);
    // Two pages from a's: d's BAR and segment 2 (b and c's group).
    expect(oracle.exposes(0x8000_0000, 2 * P, { device: 'a', group: 'pe1' })).toEqual([
      'host 0x80000000+0x20000 holds b BAR0 at 0x80010000',
      'host 0x80000000+0x20000 holds c BAR2 at 0x80018000',
      'host 0x80000000+0x20000 touches segment 1 of pe2',
    ]);
    expect(oracle.exposes(0x8003_0000, 2 * P, { device: 'a', group: 'pe1' })).toEqual([
      'host 0x80030000+0x20000 reaches outside the segmented window',
    ]);
  });

  it('lists the host pages holding bytes of another group', () => {
    expect(oracle.foreignGroupPages('pe2', P)).toEqual([0x8000_0000, 0x8002_0000]);
    expect(oracle.foreignGroupPages('pe1', 0x8000)).toEqual([0x8001_0000, 0x8001_8000, 0x8002_0000, 0x8002_8000]);
  });
});

describe('directMappingViolations', () => {
  const host = new BarTableOracle(TABLE);
  const guest = new BarTableOracle([
    bar('a', '', 0, 0x4000_0000, 0x4000),
    bar('b', '', 0, 0x4001_0000, 0x1000),
    bar('c', '', 2, 0x4001_2000, 0x1000),
  ]);

  it("accepts a's grown page mapped onto its host page", () => {
    expect(directMappingViolations({ name: 'm', gpa: 0x4000_0000, hostPa: 0x8000_0000, size: P, owner: 'a' }, host, guest, P)).toEqual([]);
  });

  it('reports a page shared with another guest BAR, a foreign host page, and a shifted mapping', () => {
    expect(directMappingViolations({ name: 'm', gpa: 0x4001_0000, hostPa: 0x8001_0000, size: P, owner: 'b' }, host, guest, P)).toEqual([
      'm: host 0x80010000+0x10000 holds c BAR2 at 0x80018000',
      'm: guest pages hold 2 guest BARs (b BAR0, c BAR2), not one',
    ]);
    expect(directMappingViolations({ name: 'm', gpa: 0x4000_0000, hostPa: 0x8002_0000, size: P, owner: 'a' }, host, guest, P)).toEqual([
      'm: host 0x80020000+0x10000 holds d BAR0 at 0x80020000',
      'm: guest offset 0x0 in a BAR0 maps host offset 0x20000',
    ]);
    expect(directMappingViolations({ name: 'm', gpa: 0x4000_0000, hostPa: 0x8000_0000, size: P, owner: 'zz' }, host, guest, P)).toEqual([
      'm: owner zz has no BAR in the host table',
    ]);
  });
});
