import { PLAIN_PLATFORM_FACTS, VhwError } from '@vhw/core';
import { describe, expect, it } from 'vitest';
import { coveredByAreas, deviceSparseAreas, withoutRange } from './device-areas.js';
import { type BarFacts, SubPageMmapPolicy, type VfioPatches } from './policy.js';
import { Reason } from './reasons.js';

const P = 0x1000;

describe('deviceSparseAreas (the host-page check at bind)', () => {
  it('accepts whole pages and sorts the list, keeping touching areas apart', () => {
    const bar = {
      index: 2,
      size: 0x10000,
      sparseAreas: [
        { offset: 0x8000, size: 0x1000 },
        { offset: 0, size: 0x2000 },
        { offset: 0x2000, size: 0x1000 },
      ],
    };
    expect(deviceSparseAreas('d', bar, P)).toEqual([
      { offset: 0, size: 0x2000 },
      { offset: 0x2000, size: 0x1000 },
      { offset: 0x8000, size: 0x1000 },
    ]);
  });

  it("accepts a sub-page BAR's one whole area, and nothing else of it", () => {
    expect(deviceSparseAreas('d', { index: 0, size: 0x100, sparseAreas: [{ offset: 0, size: 0x100 }] }, P)).toEqual([
      { offset: 0, size: 0x100 },
    ]);
    expect(() => deviceSparseAreas('d', { index: 0, size: 0x100, sparseAreas: [{ offset: 0, size: 0x80 }] }, P)).toThrow(
      /BAR0 sparseAreas\[0\] \[0x0, 0x80\) is not whole host pages/,
    );
  });

  it('refuses an area off a page, naming the device, the area and the page size', () => {
    try {
      deviceSparseAreas(
        'gpu0',
        {
          index: 1,
          size: 0x10000,
          sparseAreas: [
            { offset: 0, size: 0x1000 },
            { offset: 0x1800, size: 0x800 },
          ],
        },
        P,
      );
      expect.unreachable();
    } catch (e) {
      expect(VhwError.is(e, 'E_CONFIG')).toBe(true);
      expect((e as Error).message).toMatch(/"gpu0": BAR1 sparseAreas\[1\] \[0x1800, 0x2000\).*multiple of 0x1000 \(the host page size\)/);
    }
  });
});

describe('withoutRange and coveredByAreas', () => {
  it('cuts a range out of areas that span, start, end or lie inside it', () => {
    const areas = [
      { offset: 0, size: 0x4000 },
      { offset: 0x5000, size: 0x1000 },
      { offset: 0x7000, size: 0x3000 },
    ];
    expect(withoutRange(areas, 0x2000, 0x8000)).toEqual([
      { offset: 0, size: 0x2000 },
      { offset: 0x8000, size: 0x2000 },
    ]);
    expect(withoutRange(areas, 0x1000, 0x2000)).toEqual([
      { offset: 0, size: 0x1000 },
      { offset: 0x2000, size: 0x2000 },
      { offset: 0x5000, size: 0x1000 },
      { offset: 0x7000, size: 0x3000 },
    ]);
  });

  it('covers an mmap only inside the areas, an area ending a sub-page BAR up to its page end', () => {
    const areas = [
      { offset: 0, size: 0x2000 },
      { offset: 0x2000, size: 0x1000 },
    ];
    expect(coveredByAreas(areas, 0, 0x3000, P)).toBe(true);
    expect(coveredByAreas(areas, 0x2000, 0x2000, P)).toBe(false);
    expect(coveredByAreas([{ offset: 0, size: 0x100 }], 0, P, P)).toBe(true);
  });
});

describe('the policy with a device list', () => {
  const facts = { ...PLAIN_PLATFORM_FACTS, pageSize: P, allMmioBarsPageAligned: true, eeh: true };
  const bar = (deviceAreas: BarFacts['deviceAreas'], table = true): BarFacts => ({
    index: 0,
    size: 0x10000,
    address: 0x1000_0000,
    isIo: false,
    msixTable: table ? { offset: 0x5200, size: 0x80 } : undefined,
    claimPageRemainder: () => true,
    deviceAreas,
  });
  const policy = (p: Partial<VfioPatches>) =>
    new SubPageMmapPolicy({ variant: 'rfc-2015', subPageMmap: false, msixMmap: false, ...p }, facts);
  const list = [
    { offset: 0, size: 0x2000 },
    { offset: 0x4000, size: 0x4000 },
  ];

  it('replaces the computed list; the table pages are cut out where the table may not be mapped', () => {
    const d = policy({}).decide(bar(list));
    expect(d.mmap).toBe(true);
    expect(d.sparseAreas).toEqual([
      { offset: 0, size: 0x2000 },
      { offset: 0x4000, size: 0x1000 },
      { offset: 0x6000, size: 0x2000 },
    ]);
    expect(d.excluded).toEqual({ offset: 0x5000, size: 0x1000, reason: Reason.MsixTablePage });
    expect(d.deviceAreas).toEqual(list);
  });

  it('is reported as given where the table may be mapped (upstream also attaches MSIX_MAPPABLE)', () => {
    expect(policy({ msixMmap: true }).decide(bar(list))).toMatchObject({ sparseAreas: list, msixMappable: false });
    expect(policy({ msixMmap: true, variant: 'upstream' }).decide(bar(list))).toMatchObject({ sparseAreas: list, msixMappable: true });
    const noTable = policy({}).decide(bar(list, false));
    expect(noTable.sparseAreas).toEqual(list);
    expect(noTable.excluded).toBeUndefined();
  });

  it('leaves whether the BAR may be mapped at all to core (a sub-page BAR without patch 2)', () => {
    const small = { ...bar([{ offset: 0, size: 0x100 }], false), size: 0x100 };
    const refused = policy({}).decide(small);
    expect(refused).toMatchObject({ mmap: false, reason: Reason.SubPageBar });
    expect(refused.sparseAreas).toBeUndefined();
    expect(policy({ subPageMmap: true }).decide(small)).toMatchObject({ mmap: true, sparseAreas: [{ offset: 0, size: 0x100 }] });
  });
});
