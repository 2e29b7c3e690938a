import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { expectVhwError } from '@vhw/test-support';
import type { MmioHandler } from './access.js';
import { AddressSpace, RamHandler, type Region, type UnassignedPolicy } from './address-space.js';
import { VhwError } from './errors.js';

/** A register file that answers every read with `tag * 0x10000 + offset` and logs writes. */
function probeHandler(tag: number): MmioHandler & { writes: Array<[number, number, number]>; reads: Array<[number, number]> } {
  const writes: Array<[number, number, number]> = [];
  const reads: Array<[number, number]> = [];
  return {
    writes,
    reads,
    read(offset, size) {
      reads.push([offset, size]);
      return tag * 0x10000 + offset;
    },
    write(offset, size, value) {
      writes.push([offset, size, value]);
    },
  };
}

describe('AddressSpace: mapping', () => {
  it('refuses an unknown unassigned policy, listing the allowed ones', () => {
    expectVhwError(() => new AddressSpace('bus', 'drop' as UnassignedPolicy), 'E_CONFIG', /"drop".*allowed: ignore, zero, fault/);
  });

  it.each([
    [{ name: '', base: 0, size: 4 }, 'E_CONFIG', /name must be a non-empty string/],
    [{ name: 'r', base: -1, size: 4 }, 'E_RANGE', /base -1 must be a non-negative safe integer/],
    [{ name: 'r', base: 0.5, size: 4 }, 'E_RANGE', /base 0.5/],
    [{ name: 'r', base: 0, size: 0 }, 'E_RANGE', /size 0 must be a positive safe integer/],
    [{ name: 'r', base: 2 ** 53 - 2, size: 4 }, 'E_RANGE', /exceeds 2\^53/],
  ] as const)('refuses a bad range %o', (spec, code, message) => {
    const as = new AddressSpace('bus');
    expectVhwError(() => as.mapMmio({ ...spec, handler: probeHandler(1) }), code, message);
    expect(as.entries).toHaveLength(0);
  });

  it('refuses an MMIO region without a handler', () => {
    const as = new AddressSpace('bus');
    expectVhwError(
      () => as.mapMmio({ name: 'r', base: 0, size: 4, handler: {} as MmioHandler }),
      'E_CONFIG',
      'handler must have read and write',
    );
  });

  it('refuses invalid constraints, naming the region', () => {
    const as = new AddressSpace('bus');
    expectVhwError(
      () => as.mapMmio({ name: 'regs', base: 0, size: 4, handler: probeHandler(1), constraints: { valid: { sizes: [3 as never] } } }),
      'E_CONFIG',
      'bus region "regs"',
    );
  });

  it('refuses a RAM buffer smaller than the region', () => {
    const as = new AddressSpace('bus');
    expect(() => as.mapRam({ name: 'ram', base: 0, size: 16, buffer: new ArrayBuffer(8) })).toThrow(/smaller than size 16/);
  });

  it('refuses overlaps with E_OVERLAP and duplicate names with E_CONFIG, leaving the map unchanged', () => {
    const as = new AddressSpace('bus');
    as.mapMmio({ name: 'a', base: 0x1000, size: 0x100, handler: probeHandler(1) });
    expectVhwError(() => as.mapMmio({ name: 'b', base: 0x10f0, size: 0x100, handler: probeHandler(2) }), 'E_OVERLAP');
    expectVhwError(() => as.mapRam({ name: 'a', base: 0x4000, size: 0x100 }), 'E_CONFIG', '"a" is already mapped');
    expect(as.entries.map((r) => r.name)).toEqual(['a']);
    expect(as.find(0x10f8)?.name).toBe('a');
    expect(as.find(0x1100)).toBeUndefined();
  });

  it('unmaps by name or by region and refuses an unknown one with E_NOT_FOUND', () => {
    const as = new AddressSpace('bus');
    const a = as.mapMmio({ name: 'a', base: 0, size: 0x10, handler: probeHandler(1) });
    as.mapMmio({ name: 'b', base: 0x10, size: 0x10, handler: probeHandler(2) });
    as.unmap(a);
    expect(as.find(0)).toBeUndefined();
    as.unmap('b');
    expect(as.entries).toHaveLength(0);
    expectVhwError(() => as.unmap('b'), 'E_NOT_FOUND');
    // the freed range can be mapped again
    as.mapMmio({ name: 'c', base: 0, size: 0x20, handler: probeHandler(3) });
    expect(as.find(0x1f)?.name).toBe('c');
  });

  it('notifies listeners once per commit and batches a transaction into one commit', () => {
    const as = new AddressSpace('bus');
    const onChange = vi.fn();
    as.onChange(onChange);
    as.mapMmio({ name: 'a', base: 0, size: 0x10, handler: probeHandler(1) });
    expect(onChange).toHaveBeenCalledTimes(1);
    as.transaction(() => {
      as.mapMmio({ name: 'b', base: 0x10, size: 0x10, handler: probeHandler(2) });
      as.mapMmio({ name: 'c', base: 0x20, size: 0x10, handler: probeHandler(3) });
      as.unmap('a');
      // the view is not rebuilt before the transaction ends
      expect(as.find(0x15)).toBeUndefined();
      expect(as.find(0x5)?.name).toBe('a');
    });
    expect(onChange).toHaveBeenCalledTimes(2);
    expect(as.entries.map((r) => r.name)).toEqual(['b', 'c']);
  });

  it('refuses an overlap with a region added earlier in the same transaction', () => {
    const as = new AddressSpace('bus');
    expectVhwError(
      () =>
        as.transaction(() => {
          as.mapMmio({ name: 'a', base: 0, size: 0x10, handler: probeHandler(1) });
          as.mapMmio({ name: 'b', base: 0x8, size: 0x10, handler: probeHandler(2) });
        }),
      'E_OVERLAP',
    );
    // what was mapped before the error is committed when the transaction unwinds
    expect(as.entries.map((r) => r.name)).toEqual(['a']);
  });

  it('commits nested transactions once, at the outermost end', () => {
    const as = new AddressSpace('bus');
    const onChange = vi.fn();
    as.onChange(onChange);
    as.transaction(() => {
      as.transaction(() => as.mapMmio({ name: 'a', base: 0, size: 0x10, handler: probeHandler(1) }));
      expect(onChange).not.toHaveBeenCalled();
    });
    expect(onChange).toHaveBeenCalledTimes(1);
  });

  it('lists intersecting regions', () => {
    const as = new AddressSpace('bus');
    as.mapRam({ name: 'lo', base: 0, size: 0x100 });
    as.mapRam({ name: 'hi', base: 0x200, size: 0x100 });
    expect(as.intersecting(0xff, 0x102).map((r) => r.name)).toEqual(['lo', 'hi']);
    expect(as.intersecting(0x100, 0x100)).toEqual([]);
  });
});

describe('AddressSpace: accesses', () => {
  it('reads and writes RAM little-endian at every size', () => {
    const buffer = new ArrayBuffer(0x100);
    const as = new AddressSpace('bus');
    as.mapRam({ name: 'ram', base: 0x1000, size: 0x100, buffer });
    as.write(0x1010, 4, 0x11223344);
    expect(new Uint8Array(buffer, 0x10, 4)).toEqual(Uint8Array.of(0x44, 0x33, 0x22, 0x11));
    expect(as.read(0x1010, 1)).toBe(0x44);
    expect(as.read(0x1011, 2)).toBe(0x2233);
    expect(as.read(0x1010, 4)).toBe(0x11223344);
    as.write(0x1013, 2, 0xaabb); // RAM accepts unaligned accesses
    expect(as.read(0x1010, 4)).toBe(0xbb223344);
  });

  it('splits an 8-byte read low half first and leaves the upper half in `high`', () => {
    const as = new AddressSpace('bus');
    const h = probeHandler(0);
    as.mapMmio({ name: 'regs', base: 0x2000, size: 0x100, handler: h });
    const lo = as.read(0x2008, 8);
    expect(lo).toBe(0x8);
    expect(as.high).toBe(0xc);
    expect(h.reads).toEqual([
      [8, 4],
      [12, 4],
    ]);
  });

  it('splits an 8-byte write low half first', () => {
    const as = new AddressSpace('bus');
    const h = probeHandler(0);
    as.mapMmio({ name: 'regs', base: 0x2000, size: 0x100, handler: h });
    as.write(0x2010, 8, 0x89abcdef, 0x01234567);
    expect(h.writes).toEqual([
      [0x10, 4, 0x89abcdef],
      [0x14, 4, 0x01234567],
    ]);
  });

  it('round-trips an 8-byte value through RAM', () => {
    const as = new AddressSpace('bus');
    as.mapRam({ name: 'ram', base: 0, size: 0x20 });
    as.write(8, 8, 0xdeadbeef, 0xcafef00d);
    expect(as.read(8, 8)).toBe(0xdeadbeef);
    expect(as.high).toBe(0xcafef00d);
    expect(as.read(8, 4)).toBe(0xdeadbeef);
    expect(as.read(12, 4)).toBe(0xcafef00d);
  });

  it('adapts sizes to impl so the handler only sees sizes it declared', () => {
    const as = new AddressSpace('bus');
    const h = probeHandler(0);
    as.mapMmio({
      name: 'regs',
      base: 0,
      size: 0x100,
      handler: h,
      constraints: { valid: { sizes: [1, 2, 4, 8] }, impl: { min: 4, max: 4 } },
    });
    as.read(0x6, 2);
    as.write(0x5, 1, 0xab);
    expect(h.reads).toEqual([[4, 4]]);
    expect(h.writes).toEqual([[4, 4, 0xab00]]);
  });

  it('counts accesses per region', () => {
    const as = new AddressSpace('bus');
    as.mapRam({ name: 'ram', base: 0, size: 0x100 });
    const regs = as.mapMmio({ name: 'regs', base: 0x100, size: 0x100, handler: probeHandler(1) });
    as.read(0, 4);
    as.write(4, 4, 1);
    as.read(0x100, 4);
    as.read(0x300, 4); // unassigned: not a region access
    expect(as.countOf('ram')).toBe(2);
    expect(as.countOf('regs')).toBe(1);
    expect(regs.accesses).toBe(1);
    expect(as.countOf('nope')).toBe(0);
  });

  it('counts per region among many, refused accesses excluded, and resets the counts', () => {
    const as = new AddressSpace('bus');
    for (let i = 0; i < 40; i++)
      as.mapMmio({ name: `r${i}`, base: i * 0x10, size: 0x10, handler: probeHandler(1), constraints: { valid: { sizes: [4] } } });
    as.read(39 * 0x10, 4);
    as.read(39 * 0x10 + 4, 4);
    as.read(39 * 0x10, 2); // not a valid size: refused, not counted
    as.read(39 * 0x10 + 0xe, 4); // straddles the end: refused
    expect(as.countOf('r39')).toBe(2);
    expect(as.countOf('r0')).toBe(0);
    expect([...as.unassignedCounts]).toEqual([0, 1, 1]);
    as.resetCounts();
    expect(as.countOf('r39')).toBe(0);
  });

  it('property: the last-hit region never answers for an address outside it, across map changes', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.record({ read: fc.integer({ min: 0, max: 0x4ff }) }), fc.record({ remap: fc.integer({ min: 0, max: 4 }) })), {
          maxLength: 80,
        }),
        (ops) => {
          const as = new AddressSpace('bus', 'zero');
          // five regions of 0x100 with a distinct value each; "remap" moves one of them up by 0x80 or back
          const values = [11, 22, 33, 44, 55];
          const moved = [false, false, false, false, false];
          const place = (i: number) =>
            as.mapMmio({
              name: `r${i}`,
              base: i * 0x100 + (moved[i] ? 0x80 : 0),
              size: 0x80,
              handler: { read: () => values[i]!, write: () => {} },
            });
          for (let i = 0; i < 5; i++) place(i);
          for (const op of ops) {
            if ('remap' in op) {
              as.unmap(`r${op.remap}`);
              moved[op.remap] = !moved[op.remap];
              place(op.remap);
              continue;
            }
            const addr = op.read & ~3;
            const owner = values.findIndex(
              (_, i) => addr >= i * 0x100 + (moved[i] ? 0x80 : 0) && addr < i * 0x100 + (moved[i] ? 0x80 : 0) + 0x80,
            );
            expect(as.read(addr, 4)).toBe(owner < 0 ? 0 : values[owner]);
          }
        },
      ),
    );
  });
});

describe('AddressSpace: unassigned policy', () => {
  function space(policy: UnassignedPolicy) {
    const as = new AddressSpace('pci0', policy);
    const h = probeHandler(1);
    as.mapMmio({ name: 'regs', base: 0x1000, size: 0x10, handler: h, constraints: { valid: { sizes: [4] } } });
    const seen: unknown[][] = [];
    as.onUnassigned = (...args) => seen.push(args);
    return { as, h, seen };
  }

  it('ignore: reads return all-ones of the access size, writes are dropped, each is counted', () => {
    const { as, h, seen } = space('ignore');
    expect(as.read(0x0, 1)).toBe(0xff);
    expect(as.read(0x0, 2)).toBe(0xffff);
    expect(as.read(0x0, 4)).toBe(0xffffffff);
    expect(as.read(0x0, 8)).toBe(0xffffffff);
    expect(as.high).toBe(0xffffffff);
    as.write(0x0, 4, 5);
    expect(h.writes).toEqual([]);
    expect([...as.unassignedCounts]).toEqual([5, 0, 0]);
    expect(seen).toHaveLength(5);
    expect(seen[4]).toEqual(['pci0', 0, 4, true, 'no-region']);
  });

  it('zero: reads return zero, including the upper half of an 8-byte read', () => {
    const { as } = space('zero');
    as.high = 123;
    expect(as.read(0x9000, 8)).toBe(0);
    expect(as.high).toBe(0);
    expect(as.read(0x9000, 4)).toBe(0);
    expect(as.unassignedCounts[0]).toBe(2);
  });

  it('fault: throws E_UNASSIGNED naming the space, direction, size, address and reason, after counting', () => {
    const { as, seen } = space('fault');
    const err = expectVhwError(() => as.read(0x2000, 4), 'E_UNASSIGNED');
    expect(err.message).toBe('pci0: read of 4 bytes at 0x2000 (no-region)');
    const werr = expectVhwError(() => as.write(0x1001, 4, 0), 'E_UNASSIGNED');
    expect(werr.message).toBe('pci0: write of 4 bytes at 0x1001 (invalid-size)');
    expect([...as.unassignedCounts]).toEqual([1, 1, 0]);
    expect(seen).toHaveLength(2);
  });

  it('counts invalid sizes: undeclared sizes, misaligned accesses and non-sizes like 3', () => {
    const { as, h, seen } = space('ignore');
    expect(as.read(0x1000, 2)).toBe(0xffff); // only 4 is valid
    expect(as.read(0x1002, 4)).toBe(0xffffffff); // misaligned
    as.write(0x1000, 1, 0);
    expect(as.read(0x1000, 3)).not.toBe(0x10000); // 3 = 1|2 must not pass as a valid size
    as.write(0x1004, 8, 1, 2); // 8 is not declared
    expect(h.reads).toEqual([]);
    expect(h.writes).toEqual([]);
    expect([...as.unassignedCounts]).toEqual([0, 5, 0]);
    expect(seen.map((s) => s[4])).toEqual(['invalid-size', 'invalid-size', 'invalid-size', 'invalid-size', 'invalid-size']);
    expect(as.countOf('regs')).toBe(0);
    expect(as.read(0x1004, 4)).toBe(0x10004);
    expect(as.countOf('regs')).toBe(1);
  });

  it('never hands a non-size (3, 6, 12) to a handler that accepts 1, 2, 4 and 8', () => {
    const as = new AddressSpace('pci0', 'ignore');
    const h = probeHandler(1);
    as.mapMmio({ name: 'regs', base: 0, size: 0x100, handler: h });
    as.read(0, 3);
    as.read(0, 6);
    as.write(0, 12, 0);
    expect(h.reads).toEqual([]);
    expect(h.writes).toEqual([]);
    expect(as.unassignedCounts[1]).toBe(3);
  });

  it('counts an access running off the end of a region as a straddle', () => {
    const { as, h } = space('ignore');
    expect(as.read(0x100c, 8)).toBe(0xffffffff);
    as.write(0x100e, 4, 1);
    expect(h.reads).toEqual([]);
    expect(h.writes).toEqual([]);
    expect([...as.unassignedCounts]).toEqual([0, 0, 2]);
  });

  it('can switch policy at run time', () => {
    const { as } = space('ignore');
    expect(as.read(0, 4)).toBe(0xffffffff);
    as.policy = 'zero';
    expect(as.read(0, 4)).toBe(0);
    as.policy = 'fault';
    expect(() => as.read(0, 4)).toThrow(VhwError);
  });
});

describe('AddressSpace: property', () => {
  type Op = { op: 'map'; ram: boolean; base: number; size: number } | { op: 'unmap'; pick: number };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    {
      weight: 3,
      arbitrary: fc.record({
        op: fc.constant('map' as const),
        ram: fc.boolean(),
        base: fc.integer({ min: 0, max: 0x3ff }),
        size: fc.integer({ min: 1, max: 0x80 }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('unmap' as const), pick: fc.nat() }) },
  );

  interface ModelRegion {
    name: string;
    base: number;
    size: number;
    ram: boolean;
    id: number;
  }

  /** The value a 1-byte read at `addr` must give, by a linear scan of the model. */
  function expected(model: readonly ModelRegion[], addr: number): number {
    const r = model.find((m) => addr >= m.base && addr < m.base + m.size);
    if (r === undefined) return 0xff;
    const off = addr - r.base;
    return r.ram ? (r.id * 7 + off) & 0xff : r.id * 0x10000 + off;
  }

  it('random map/unmap sequences never leave overlaps; find and read agree with a linear scan', () => {
    fc.assert(
      fc.property(
        fc.array(opArb, { minLength: 1, maxLength: 40 }),
        fc.array(fc.integer({ min: 0, max: 0x4ff }), { minLength: 16, maxLength: 16 }),
        (ops, probes) => {
          const as = new AddressSpace('prop', 'ignore');
          let model: ModelRegion[] = [];
          let nextId = 1;
          for (const op of ops) {
            if (op.op === 'map') {
              const id = nextId++;
              const name = `r${id}`;
              const clash = model.some((m) => op.base < m.base + m.size && m.base < op.base + op.size);
              const before = as.entries;
              let err: unknown;
              try {
                if (op.ram) {
                  const buffer = new ArrayBuffer(op.size);
                  new Uint8Array(buffer).forEach((_, i, a) => {
                    a[i] = (id * 7 + i) & 0xff;
                  });
                  as.mapRam({ name, base: op.base, size: op.size, buffer });
                } else {
                  as.mapMmio({
                    name,
                    base: op.base,
                    size: op.size,
                    handler: probeHandler(id),
                    constraints: { valid: { sizes: [1, 2, 4, 8], unaligned: true } },
                  });
                }
              } catch (e) {
                err = e;
              }
              if (clash) {
                expect(VhwError.is(err, 'E_OVERLAP')).toBe(true);
                expect(as.entries).toBe(before); // the view was not even rebuilt
              } else {
                expect(err).toBeUndefined();
                model.push({ name, base: op.base, size: op.size, ram: op.ram, id });
              }
            } else if (model.length > 0) {
              const victim = model[op.pick % model.length]!;
              as.unmap(victim.name);
              model = model.filter((m) => m !== victim);
            }
            // sorted, disjoint, and exactly the model
            const entries = as.entries;
            for (let i = 1; i < entries.length; i++)
              expect(entries[i]!.base).toBeGreaterThanOrEqual(entries[i - 1]!.base + entries[i - 1]!.size);
            expect(entries.map((r: Region) => r.name).sort()).toEqual(model.map((m) => m.name).sort());
            for (const addr of probes) {
              const want = model.find((m) => addr >= m.base && addr < m.base + m.size);
              expect(as.find(addr)?.name).toBe(want?.name);
              expect(as.read(addr, 1)).toBe(expected(model, addr));
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('property: inside one transaction, map and unmap (by name or by region) refuse exactly what a linear scan says', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 60 }), fc.boolean(), (ops, byRegion) => {
        const as = new AddressSpace('prop', 'ignore');
        let model: Array<{ name: string; base: number; size: number; region: Region }> = [];
        let nextId = 1;
        as.transaction(() => {
          for (const op of ops) {
            if (op.op === 'map') {
              const name = `r${nextId++}`;
              const clash = model.some((m) => op.base < m.base + m.size && m.base < op.base + op.size);
              let region: Region | undefined;
              let err: unknown;
              try {
                region = as.mapMmio({ name, base: op.base, size: op.size, handler: probeHandler(0) });
              } catch (e) {
                err = e;
              }
              expect(VhwError.is(err, 'E_OVERLAP')).toBe(clash);
              if (region) model.push({ name, base: op.base, size: op.size, region });
              // a second region of the same name is refused wherever it goes
              if (region) expect(() => as.mapMmio({ name, base: 0x10000, size: 1, handler: probeHandler(0) })).toThrow(/already mapped/);
            } else if (model.length > 0) {
              const victim = model[op.pick % model.length]!;
              as.unmap(byRegion ? victim.region : victim.name);
              expect(() => as.unmap(victim.name)).toThrow(/no region/);
              model = model.filter((m) => m !== victim);
            }
          }
        });
        expect(as.entries.map((r) => r.name)).toEqual([...model].sort((a, b) => a.base - b.base).map((m) => m.name));
      }),
      { numRuns: 200 },
    );
  });

  it('the RAM handler is little-endian at every size', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 8, maxLength: 8 }), fc.constantFrom<1 | 2 | 4>(1, 2, 4), (bytes, size) => {
        const h = new RamHandler(new DataView(bytes.buffer));
        let want = 0;
        for (let i = 0; i < size; i++) want += bytes[i]! * 2 ** (8 * i);
        expect(h.read(0, size)).toBe(want);
      }),
    );
  });
});
