import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectVhwError } from '@vhw/test-support';
import {
  type AccessConstraints,
  type CompiledConstraints,
  type MmioHandler,
  DEFAULT_CONSTRAINTS,
  accessIsValid,
  adaptedRead,
  adaptedWrite,
  allOnes,
  compileConstraints,
  takesAsIs,
} from './access.js';
import { RamHandler } from './address-space.js';

type Call = { op: 'r' | 'w'; offset: number; size: number; value?: number };

/** A RAM-backed handler that records every call it receives. */
class RecordingRam implements MmioHandler {
  readonly calls: Call[] = [];
  readonly ram: RamHandler;
  constructor(readonly bytes: Uint8Array) {
    this.ram = new RamHandler(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  }
  read(offset: number, size: 1 | 2 | 4): number {
    this.calls.push({ op: 'r', offset, size });
    return this.ram.read(offset, size);
  }
  write(offset: number, size: 1 | 2 | 4, value: number): void {
    this.calls.push({ op: 'w', offset, size, value });
    this.ram.write(offset, size, value);
  }
}

const impl = (min: 1 | 2 | 4, max: 1 | 2 | 4, unaligned = false): CompiledConstraints =>
  compileConstraints({ valid: { sizes: [1, 2, 4, 8], unaligned }, impl: { min, max } }, 'test');

const le = (bytes: Uint8Array, offset: number, size: number): number => {
  let v = 0;
  for (let i = 0; i < size; i++) v += bytes[offset + i]! * 2 ** (8 * i);
  return v;
};

describe('compileConstraints', () => {
  it('compiles the defaults to a size bit mask', () => {
    const c = compileConstraints(DEFAULT_CONSTRAINTS, 'x');
    expect(c).toEqual({ validMask: 1 | 2 | 4 | 8, unaligned: false, implMin: 1, implMax: 4 });
  });

  it('defaults impl to 1..4 when omitted', () => {
    const c = compileConstraints({ valid: { sizes: [4] } }, 'x');
    expect(c.implMin).toBe(1);
    expect(c.implMax).toBe(4);
    expect(c.unaligned).toBe(false);
  });

  it.each<[string, AccessConstraints, RegExp]>([
    ['empty sizes', { valid: { sizes: [] } }, /dev0: valid\.sizes must list at least one of 1, 2, 4, 8/],
    ['size 3', { valid: { sizes: [4, 3 as never] } }, /dev0: valid\.sizes contains 3; allowed: 1, 2, 4, 8/],
    ['impl.min 8', { valid: { sizes: [4] }, impl: { min: 8 as never, max: 4 } }, /dev0: impl\.min is 8; allowed: 1, 2, 4/],
    ['impl.max 3', { valid: { sizes: [4] }, impl: { min: 1, max: 3 as never } }, /dev0: impl\.max is 3; allowed: 1, 2, 4/],
    ['min > max', { valid: { sizes: [4] }, impl: { min: 4, max: 2 } }, /dev0: impl\.min \(4\) exceeds impl\.max \(2\)/],
  ])('refuses %s with E_CONFIG', (_what, c, message) => {
    expectVhwError(() => compileConstraints(c, 'dev0'), 'E_CONFIG', message);
  });
});

describe('accessIsValid', () => {
  const aligned = compileConstraints({ valid: { sizes: [4, 8] } }, 'x');
  const loose = compileConstraints({ valid: { sizes: [1, 2, 4, 8], unaligned: true } }, 'x');

  it('accepts only declared sizes', () => {
    expect(accessIsValid(aligned, 0, 4)).toBe(true);
    expect(accessIsValid(aligned, 0, 8)).toBe(true);
    expect(accessIsValid(aligned, 0, 1)).toBe(false);
    expect(accessIsValid(aligned, 0, 2)).toBe(false);
  });

  it('requires natural alignment unless unaligned is allowed', () => {
    expect(accessIsValid(aligned, 2, 4)).toBe(false);
    expect(accessIsValid(aligned, 4, 8)).toBe(false);
    expect(accessIsValid(aligned, 8, 8)).toBe(true);
    expect(accessIsValid(loose, 3, 4)).toBe(true);
  });

  it('treats non-integer, NaN and infinite offsets as misaligned', () => {
    for (const offset of [4.5, 0.25, Number.NaN, Number.POSITIVE_INFINITY, -0.5]) {
      expect(accessIsValid(aligned, offset, 4)).toBe(false);
    }
    const any = compileConstraints({ valid: { sizes: [1] } }, 'x');
    expect(accessIsValid(any, 7, 1)).toBe(true);
    expect(accessIsValid(any, 7.5, 1)).toBe(false);
  });

  it('checks alignment of offsets above 2^32 exactly', () => {
    expect(accessIsValid(aligned, 2 ** 40 + 8, 8)).toBe(true);
    expect(accessIsValid(aligned, 2 ** 40 + 4, 8)).toBe(false);
    expect(accessIsValid(aligned, 2 ** 33 + 2, 4)).toBe(false);
  });

  it('refuses sizes that are not 1, 2, 4 or 8 even when their bits are in the mask', () => {
    for (const size of [0, 3, 5, 6, 7, 12, 15, 16, 1.5, -4, Number.NaN]) {
      expect(accessIsValid(loose, 0, size)).toBe(false);
    }
  });
});

describe('allOnes', () => {
  it('is all-ones of the access width', () => {
    expect(allOnes(1)).toBe(0xff);
    expect(allOnes(2)).toBe(0xffff);
    expect(allOnes(4)).toBe(0xffffffff);
  });
});

describe('adaptedRead / adaptedWrite', () => {
  const bytes = () => Uint8Array.from({ length: 16 }, (_, i) => 0x10 + i);

  it('passes an impl size straight through', () => {
    const h = new RecordingRam(bytes());
    expect(adaptedRead(h, impl(1, 4), 4, 4)).toBe(0x17161514);
    expect(h.calls).toEqual([{ op: 'r', offset: 4, size: 4 }]);
  });

  it('serves a narrow read by one aligned impl.min read and a shift', () => {
    const h = new RecordingRam(bytes());
    expect(adaptedRead(h, impl(4, 4), 6, 1)).toBe(0x16);
    expect(adaptedRead(h, impl(4, 4), 6, 2)).toBe(0x1716);
    expect(h.calls).toEqual([
      { op: 'r', offset: 4, size: 4 },
      { op: 'r', offset: 4, size: 4 },
    ]);
  });

  it('splits a wide read into little-endian impl.max pieces, lowest address first', () => {
    const h = new RecordingRam(bytes());
    expect(adaptedRead(h, impl(1, 1), 0, 4)).toBe(0x13121110);
    expect(h.calls.map((c) => c.offset)).toEqual([0, 1, 2, 3]);
    expect(h.calls.every((c) => c.size === 1)).toBe(true);
  });

  it('returns wide reads as unsigned numbers', () => {
    const h = new RecordingRam(new Uint8Array(8).fill(0xff));
    expect(adaptedRead(h, impl(2, 2), 0, 4)).toBe(0xffffffff);
  });

  it('widens a narrow write with the value in place and the other bytes zero', () => {
    const b = new Uint8Array(8).fill(0xaa);
    const h = new RecordingRam(b);
    adaptedWrite(h, impl(4, 4), 5, 1, 0x5c);
    expect(h.calls).toEqual([{ op: 'w', offset: 4, size: 4, value: 0x5c00 }]);
    expect([...b.subarray(4, 8)]).toEqual([0, 0x5c, 0, 0]);
  });

  it('hands a widened write with bit 31 set to the handler as an unsigned number', () => {
    const h = new RecordingRam(new Uint8Array(4));
    adaptedWrite(h, impl(4, 4), 3, 1, 0x80);
    expect(h.calls).toEqual([{ op: 'w', offset: 0, size: 4, value: 0x80000000 }]);
  });

  it('masks a narrow write value to its size before widening (no spill into the neighbouring byte)', () => {
    const h = new RecordingRam(new Uint8Array(8));
    adaptedWrite(h, impl(2, 4), 0, 1, 0x1ff);
    expect(h.calls).toEqual([{ op: 'w', offset: 0, size: 2, value: 0xff }]);
    adaptedWrite(h, impl(4, 4), 0, 2, 0x12345);
    expect(h.calls[1]).toEqual({ op: 'w', offset: 0, size: 4, value: 0x2345 });
  });

  it('serves an unaligned narrow access that crosses an impl word byte by byte', () => {
    const b = bytes();
    const h = new RecordingRam(b);
    const c = impl(4, 4, true);
    expect(adaptedRead(h, c, 3, 2)).toBe(0x1413);
    expect(h.calls).toEqual([
      { op: 'r', offset: 0, size: 4 },
      { op: 'r', offset: 4, size: 4 },
    ]);
    adaptedWrite(h, c, 7, 2, 0xbeef);
    expect(h.calls.slice(2)).toEqual([
      { op: 'w', offset: 4, size: 4, value: 0xef000000 },
      { op: 'w', offset: 8, size: 4, value: 0xbe },
    ]);
    expect(b[7]).toBe(0xef);
    expect(b[8]).toBe(0xbe);
  });

  it('splits a wide write into little-endian impl.max pieces', () => {
    const b = new Uint8Array(8);
    const h = new RecordingRam(b);
    adaptedWrite(h, impl(1, 2), 2, 4, 0xa1b2c3d4);
    expect(h.calls).toEqual([
      { op: 'w', offset: 2, size: 2, value: 0xc3d4 },
      { op: 'w', offset: 4, size: 2, value: 0xa1b2 },
    ]);
    expect([...b]).toEqual([0, 0, 0xd4, 0xc3, 0xb2, 0xa1, 0, 0]);
  });

  const implArb = fc
    .tuple(fc.constantFrom<1 | 2 | 4>(1, 2, 4), fc.constantFrom<1 | 2 | 4>(1, 2, 4))
    .map(([a, b]) => (a <= b ? impl(a, b) : impl(b, a)));
  const sizeArb = fc.constantFrom<1 | 2 | 4>(1, 2, 4);

  it('property: every handler call has a size within impl', () => {
    fc.assert(
      fc.property(implArb, sizeArb, fc.nat(7), fc.uint8Array({ minLength: 64, maxLength: 64 }), fc.nat(), (c, size, slot, data, value) => {
        const off = slot * 4 - ((slot * 4) % size);
        const h = new RecordingRam(data);
        adaptedRead(h, c, off, size);
        adaptedWrite(h, c, off, size, value);
        for (const call of h.calls) {
          expect(call.size).toBeGreaterThanOrEqual(c.implMin);
          expect(call.size).toBeLessThanOrEqual(c.implMax);
        }
      }),
    );
  });

  it('property: a read returns the little-endian bytes of RAM, however it is split or widened', () => {
    fc.assert(
      fc.property(implArb, sizeArb, fc.nat(15), fc.uint8Array({ minLength: 64, maxLength: 64 }), (c, size, slot, data) => {
        const off = slot * size;
        expect(adaptedRead(new RecordingRam(data), c, off, size)).toBe(le(data, off, size));
      }),
    );
  });

  it('property: a wide access equals the sequence of impl.max accesses it is split into', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<1 | 2>(1, 2),
        fc.nat(7),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        (step, slot, data, value) => {
          const c = impl(1, step);
          const off = slot * 4;
          // read: one wide access vs. the pieces, reassembled little-endian
          const h = new RecordingRam(data.slice());
          let pieces = 0;
          for (let i = 0; i < 4; i += step) pieces += h.ram.read(off + i, step) * 2 ** (8 * i);
          expect(adaptedRead(h, c, off, 4)).toBe(pieces);
          // write: one wide access vs. the pieces written in order
          const wide = new RecordingRam(data.slice());
          adaptedWrite(wide, c, off, 4, value);
          const split = new RecordingRam(data.slice());
          for (let i = 0; i < 4; i += step) split.ram.write(off + i, step, Math.floor(value / 2 ** (8 * i)) % 2 ** (8 * step));
          expect(wide.bytes).toEqual(split.bytes);
          expect(wide.calls.map((x) => x.offset)).toEqual(Array.from({ length: 4 / step }, (_, i) => off + i * step));
        },
      ),
    );
  });

  it('property: a narrow write changes exactly the written bytes when impl.min is 1', () => {
    fc.assert(
      fc.property(
        sizeArb,
        fc.nat(7),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        (size, slot, data, value) => {
          const off = slot * 4;
          const h = new RecordingRam(data.slice());
          adaptedWrite(h, impl(1, 4), off, size, value);
          const want = data.slice();
          for (let i = 0; i < size; i++) want[off + i] = Math.floor(value / 2 ** (8 * i)) & 0xff;
          expect(h.bytes).toEqual(want);
        },
      ),
    );
  });
});

describe('takesAsIs: the access-size fast path', () => {
  it('is true exactly for an aligned 1/2/4-byte access of a size the handler takes (property)', () => {
    fc.assert(
      fc.property(
        fc.subarray([1, 2, 4]),
        fc.oneof(fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.double({ min: 0, max: 2 ** 20, noNaN: true })),
        fc.integer({ min: 0, max: 9 }),
        (sizes, off, size) => {
          const pass = sizes.reduce((m, s) => m | s, 0);
          // The naive rule, written from the definition: no bit tricks.
          const expected = [1, 2, 4].includes(size) && sizes.includes(size) && Number.isInteger(off) && off % size === 0;
          expect(takesAsIs(pass, off, size)).toBe(expected);
        },
      ),
      { verbose: true },
    );
  });
});
