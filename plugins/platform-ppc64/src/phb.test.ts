import { Machine, guestRam } from '@vhw/core';
import { PciHostToken } from '@vhw/pci';
import { describe, expect, it } from 'vitest';
import { expectVhwError, toyDevice } from '@vhw/test-support';
import { M32, PAGE, type PlatformOptions, big, build, igbvf, nvme, page } from '../test/phb-fixtures.js';
import { type Ppc64Phb, ppc64Platform } from './index.js';

describe('ppc64 platform defaults and facts', () => {
  it('uses 64 KiB pages, 256 PEs (the last reserved) and an M32 split into equal segments', () => {
    const { machine, phb } = build({}, nvme('a'));
    expect(machine.platform.pageSize).toBe(PAGE);
    expect(phb.pageSize).toBe(PAGE);
    expect(phb.segments).toHaveLength(256);
    expect(phb.segmentSize).toBe(0x8000_0000 / 256);
    expect(phb.segments[3]!.base).toBe(M32 + 3 * phb.segmentSize);
    expect(phb.reservedPe).toBe(255);
    expect(machine.platform).toMatchObject({ guestMsiSetup: 'rtas', vfioNoMsixEmulation: true, eeh: true });
  });

  it('sizes segments as m32Size / peCount', () => {
    const { phb } = build({ peCount: 8, m32Size: 0x80_0000, m32Base: 0xc000_0000 }, nvme('a'));
    expect(phb.segmentSize).toBe(0x10_0000);
    expect(phb.segments.map((s) => s.base)).toEqual(Array.from({ length: 8 }, (_, i) => 0xc000_0000 + i * 0x10_0000));
    expect(phb.segmentAt(0xc000_0000 + 0x18_0000)!.index).toBe(1);
    expect(phb.segmentAt(0xc080_0000)).toBeUndefined();
    expect(phb.segmentAt(0xbfff_ffff)).toBeUndefined();
  });

  it('states its facts from the options', () => {
    const off = build({}, nvme('a')).phb;
    expect([off.platform.allMmioBarsPageAligned, off.eeh, off.platform.interruptIsolation]).toEqual([false, true, true]);
    const on = build({ alignBars: true }, nvme('a')).phb;
    expect(on.platform.allMmioBarsPageAligned).toBe(true);
    const noEeh = build({ eeh: false }, nvme('a')).phb;
    expect([noEeh.eeh, noEeh.platform.interruptIsolation]).toEqual([false, false]);
  });

  it('honours a smaller page size', () => {
    const { machine, phb } = build({ pageSize: 4096, alignBars: true }, igbvf('a'));
    expect(machine.platform.pageSize).toBe(4096);
    expect(phb.findFunction('a').bars.map((b) => b.address - M32)).toEqual([0, 0x4000]);
  });
});

describe('ppc64 BAR placement in PE segments', () => {
  it("places each device's BARs in its own PE's segment(s)", () => {
    const { phb } = build({ peCount: 16, m32Size: 16 * PAGE }, nvme('a'), igbvf('b'), big('c', 4 * PAGE), nvme('d'));
    expect(phb.groups.map((g) => g.id)).toEqual(['phb0:pe0', 'phb0:pe1', 'phb0:pe2', 'phb0:pe3']);
    for (const f of phb.functions) {
      expect(f.group.functions).toEqual([f]);
      for (const b of f.bars) {
        expect(phb.segmentAt(b.address)!.pe).toBe(f.group);
        expect(phb.segmentAt(b.address + b.size - 1)!.pe).toBe(f.group);
        for (const o of phb.ownersOf(b.address, b.size)) expect(o.group).toBe(f.group.id);
      }
    }
    // The 256 KiB BAR takes four 64 KiB segments, all owned by its PE.
    const c = phb.findFunction('c');
    const segs = phb.segmentsIn(c.bar(0)!.address, 4 * PAGE);
    expect(segs).toHaveLength(4);
    for (const s of segs) expect(s).toMatchObject({ kind: 'segment', group: c.group.id, size: PAGE });
    expect(c.bar(0)!.address % (4 * PAGE)).toBe(0);
  });

  it('lists the segment among the owners of an address', () => {
    const { phb, fn } = build({}, nvme('a'));
    const a = fn('a').bar(0)!;
    expect(phb.ownersOf(a.address, PAGE)).toEqual([
      { kind: 'bar', owner: 'a', group: 'phb0:pe0', bar: 0, base: a.address, size: 0x4000 },
      { kind: 'segment', owner: 'phb0:pe0', group: 'phb0:pe0', base: M32, size: phb.segmentSize },
    ]);
    const unowned = phb.segments[10]!.base;
    expect(phb.ownersOf(unowned, 4)).toEqual([
      { kind: 'segment', owner: 'unowned', group: undefined, base: unowned, size: phb.segmentSize },
    ]);
  });

  it("without alignBars packs a device's 16 KiB BAR0 and BAR3 into one 64 KiB page", () => {
    const { phb } = build({ peCount: 8, m32Size: 8 * PAGE }, igbvf('a'));
    const [b0, b3] = phb.findFunction('a').bars;
    expect(page(b0!.address)).toBe(page(b3!.address));
    expect(phb.windowUsage.used).toBe(0x8000);
    expect(phb.segmentsUsed).toBe(1);
  });

  it('with alignBars starts every BAR on a page of its own and uses more of M32', () => {
    const { phb } = build({ peCount: 8, m32Size: 8 * PAGE, alignBars: true }, igbvf('a'));
    const bars = phb.findFunction('a').bars;
    for (const b of bars) expect(b.address % PAGE).toBe(0);
    expect(new Set(bars.map((b) => page(b.address))).size).toBe(2);
    expect(phb.windowUsage.used).toBe(PAGE + 0x4000);
    expect(phb.segmentsUsed).toBe(2);
    for (const b of bars) expect(phb.ownersOf(page(b.address) * PAGE, PAGE).filter((o) => o.kind === 'bar')).toHaveLength(1);
  });

  it("with peGranularity 'bus' puts every device in one PE, where two devices' sub-page BARs share a page without patch 1", () => {
    const { phb, fn } = build({ peGranularity: 'bus' }, nvme('a'), nvme('b'));
    expect(phb.groups.map((g) => g.id)).toEqual(['phb0:pe0']);
    expect(fn('a').group).toBe(fn('b').group);
    expect(page(fn('a').bar(0)!.address)).toBe(page(fn('b').bar(0)!.address));
    const owners = phb.ownersOf(page(fn('a').bar(0)!.address) * PAGE, PAGE).filter((o) => o.kind === 'bar');
    expect(owners.map((o) => o.owner)).toEqual(['a', 'b']);

    const aligned = build({ peGranularity: 'bus', alignBars: true }, nvme('a'), nvme('b'));
    expect(page(aligned.fn('a').bar(0)!.address)).not.toBe(page(aligned.fn('b').bar(0)!.address));
  });

  it('refuses more devices than usable PEs (peCount - 1) with E_ALLOCATION', () => {
    expect(() => build({ peCount: 4 }, nvme('d0'), nvme('d1'), nvme('d2'))).not.toThrow();
    const e = expectVhwError(() => build({ peCount: 4 }, nvme('d0'), nvme('d1'), nvme('d2'), nvme('d3')), 'E_ALLOCATION');
    expect(e.message).toContain('no PE left for "d3"');
    expect(e.message).toContain('PE#3 is reserved');
    // One PE for all: no limit from the PE count.
    expect(() => build({ peCount: 4, peGranularity: 'bus' }, nvme('d0'), nvme('d1'), nvme('d2'), nvme('d3'))).not.toThrow();
  });

  it('reports a too-small M32 as E_ALLOCATION naming the PE and the BARs that did not fit', () => {
    const e = expectVhwError(() => build({ peCount: 4, m32Size: 4 * PAGE }, big('huge', 4 * PAGE)), 'E_ALLOCATION');
    expect(e.message).toContain('3 usable segments of 0x10000');
    expect(e.message).toContain('phb0:pe0 (huge:BAR0 0x40000)');
  });

  it('shows patch 1 exhausting a small M32 that fits without it', () => {
    const opts = { peCount: 4, m32Size: 4 * PAGE };
    const packed = build(opts, igbvf('a'), igbvf('b'));
    expect(packed.phb.segmentsUsed).toBe(2);
    const e = expectVhwError(() => build({ ...opts, alignBars: true }, igbvf('a'), igbvf('b')), 'E_ALLOCATION');
    expect(e.message).toContain('phb0:pe1 (b:BAR0 0x4000, b:BAR3 0x4000)');
    expect(e.message).not.toContain('phb0:pe0');
  });
});

describe('ppc64 options', () => {
  const configError = (o: unknown) => {
    const e = expectVhwError(() => ppc64Platform(o as PlatformOptions), 'E_CONFIG');
    expect(e.message).toContain('platform-ppc64');
    return e.message;
  };

  it('refuses a page size that is not a power of two >= 4096', () => {
    const m = configError({ pageSize: 12345 });
    expect(m).toContain('"pageSize"');
    expect(m).toContain('12345');
  });

  it('refuses unknown keys, listing the allowed ones', () => {
    const m = configError({ pageAlignedBar: true });
    expect(m).toContain('"pageAlignedBar"');
    expect(m).toContain('alignBars');
  });

  it('refuses peCount 1 and an unknown PE granularity', () => {
    expect(configError({ peCount: 1 })).toContain('"peCount"');
    expect(configError({ peGranularity: 'slot' })).toContain('"peGranularity"');
  });

  it('refuses an M32 whose segments would be smaller than a page', () => {
    expectVhwError(() => build({ peCount: 4, m32Size: 0x10000 }, nvme('a')), 'E_CONFIG', 'segments of 16384 bytes');
  });

  it('refuses null options (wrong type)', () => {
    expectVhwError(() => ppc64Platform(null as never), 'E_CONFIG');
  });
});

describe('ppc64 segments are whole pages (no page may straddle two PEs)', () => {
  it('refuses an M32 window that does not split into whole pages per PE, naming itself and the fields', () => {
    expectVhwError(
      () => Machine.create({ plugins: [ppc64Platform({ m32Size: 0xff_0000 }), guestRam()] }),
      'E_CONFIG',
      /^platform-ppc64: .*"m32Size"/,
    );
  });

  it('refuses an M32 base off a page boundary', () => {
    expect(() =>
      Machine.create({ plugins: [ppc64Platform({ m32Base: 0x8000_8000 }), toyDevice({ name: 'a', bars: [{ index: 0, size: 0x4000 }] })] }),
    ).toThrow(/platform-ppc64: option "m32Base" is 2147516416: allowed: a multiple of the page size \(65536\)/);
  });

  it('refuses segments that are not a whole number of pages', () => {
    expect(() =>
      Machine.create({
        plugins: [
          ppc64Platform({ peCount: 4, m32Size: 0x60000 - 0x4000 * 4 }),
          toyDevice({ name: 'a', bars: [{ index: 0, size: 0x4000 }] }),
        ],
      }),
    ).toThrow(/allowed: a whole number of 65536-byte pages per segment/);
  });

  it('a reservation for a device never extends into another PE segment', () => {
    const m = Machine.create({
      plugins: [
        ppc64Platform({ peCount: 4, m32Size: 0x40000 }),
        toyDevice({ name: 'a', bars: [{ index: 0, size: 0x4000 }] }),
        toyDevice({ name: 'b', bars: [{ index: 0, size: 0x4000 }] }),
      ],
    });
    const phb = m.get(PciHostToken) as Ppc64Phb;
    const a = phb.findFunction('a').bar(0)!.address;
    const b = phb.findFunction('b').bar(0)!.address;
    expect(phb.claim('x', 'a', b + 0x4000, 0x1000)).toBe(false);
    expect(phb.claim('x', 'a', a + 0x4000, 0x1000)).toBe(true);
  });
});
