import { describe, expect, it } from 'vitest';
import { expectVhwError } from '@vhw/test-support';
import { Iommu } from './iommu.js';

describe('Iommu', () => {
  it('translates addresses inside a mapping and refuses anything not entirely mapped', () => {
    const io = new Iommu('pe0');
    io.map(0x1000_0000, 0x10000, 0x20_0000);
    expect(io.translate(0x1000_0000, 4)).toBe(0x20_0000);
    expect(io.translate(0x1000_fffc, 4)).toBe(0x20_fffc);
    expect(io.translate(0x1000_fffe, 4)).toBe(-1); // runs off the end
    expect(io.translate(0x0fff_fffc, 4)).toBe(-1);
    expect(io.translate(0x1001_0000, 1)).toBe(-1);
  });

  it('does not let one access span two mappings, even adjacent ones', () => {
    const io = new Iommu('pe0');
    io.map(0, 0x1000, 0x10_0000);
    io.map(0x1000, 0x1000, 0x10_1000);
    expect(io.translate(0xffc, 4)).toBe(0x10_0ffc);
    expect(io.translate(0xffe, 4)).toBe(-1);
    expect(io.translate(0x1000, 4)).toBe(0x10_1000);
  });

  it('refuses overlapping mappings with E_OVERLAP and keeps the table as it was', () => {
    const io = new Iommu('pe1');
    io.map(0x2000, 0x2000, 0x8000);
    expectVhwError(() => io.map(0x3000, 0x2000, 0x9000), 'E_OVERLAP');
    expectVhwError(() => io.map(0x1000, 0x1001, 0x9000), 'E_OVERLAP');
    expect(io.mappings).toEqual([{ iova: 0x2000, size: 0x2000, gpa: 0x8000 }]);
    expect(io.translate(0x3000, 4)).toBe(0x9000);
    io.map(0x4000, 0x1000, 0); // touching is fine
    io.map(0x1000, 0x1000, 0x100);
    expect(io.mappings.map((m) => m.iova)).toEqual([0x1000, 0x2000, 0x4000]);
  });

  it('refuses malformed mappings with E_RANGE', () => {
    const io = new Iommu('pe2');
    expectVhwError(() => io.map(0, 0, 0), 'E_RANGE');
    expectVhwError(() => io.map(0, -1, 0), 'E_RANGE');
    expectVhwError(() => io.map(0.5, 16, 0), 'E_RANGE');
    expectVhwError(() => io.map(0, 16, Number.NaN), 'E_RANGE');
    expect(io.mappings).toEqual([]);
  });

  it('forgets every mapping on unmapAll', () => {
    const io = new Iommu('pe3');
    io.map(0, 0x1000, 0);
    io.unmapAll();
    expect(io.translate(0, 4)).toBe(-1);
    expect(io.mappings).toEqual([]);
    io.map(0, 0x1000, 0x5000);
    expect(io.translate(8, 4)).toBe(0x5008);
  });
});
