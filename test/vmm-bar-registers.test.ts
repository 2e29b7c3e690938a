/**
 * The guest-visible BAR registers of a passed-through function (pci's ConfigSpace under the
 * VMM) against a reference model of the rules they follow: the address bits a BAR of its
 * size implements, all-ones sizing of the whole BAR (either half of a 64-bit one), and a
 * move for any other value that changes the address.
 */
import { Machine, guestRam } from '@vhw/core';
import { Cfg } from '@vhw/pci';
import { genericPlatform } from '@vhw/platform-generic';
import { vfioPci } from '@vhw/vfio-pci';
import { VmmToken, vmm } from '@vhw/vmm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toyDevice } from '@vhw/test-support';

const K = 1024;

function build() {
  return Machine.create({
    plugins: [
      genericPlatform({ alignBars: true }),
      guestRam({ size: 16 << 20 }),
      toyDevice({
        name: 'dev0',
        bars: [
          { index: 0, size: 16 * K, kind: 'mem64' },
          { index: 2, size: 4 * K },
          { index: 3, size: 64 * K, kind: 'mem64' },
        ],
      }),
      vfioPci({ subPageMmap: true, msixMmap: true }),
      vmm(),
    ],
  });
}

/** The register rules, written out: per BAR a sizing flag and its guest address. */
class Reference {
  private readonly sizing = new Set<number>();
  constructor(private readonly bars: Map<number, { size: number; flags: number; is64: boolean; gpa: number }>) {}

  private barOf(i: number): { idx: number; upper: boolean } | undefined {
    const lower = this.bars.get(i - 1);
    if (lower?.is64) return { idx: i - 1, upper: true };
    return this.bars.has(i) ? { idx: i, upper: false } : undefined;
  }

  read(i: number): number {
    const at = this.barOf(i);
    if (!at) return 0;
    const b = this.bars.get(at.idx)!;
    const sizing = this.sizing.has(at.idx);
    if (at.upper) return sizing ? (b.size > 2 ** 32 ? ~(b.size / 2 ** 32 - 1) >>> 0 : 0xffffffff) : Math.floor(b.gpa / 2 ** 32) >>> 0;
    if (sizing) return ((b.size >= 2 ** 32 ? 0 : ~(b.size - 1) & 0xfffffff0) | b.flags) >>> 0;
    return ((b.gpa % 2 ** 32) | b.flags) >>> 0;
  }

  write(i: number, value: number): void {
    const at = this.barOf(i);
    if (!at) return;
    const b = this.bars.get(at.idx)!;
    if (value === 0xffffffff) {
      this.sizing.add(at.idx);
      return;
    }
    this.sizing.delete(at.idx);
    const cur = b.gpa;
    const next = at.upper ? (cur % 2 ** 32) + value * 2 ** 32 : Math.floor(cur / 2 ** 32) * 2 ** 32 + value;
    b.gpa = next - (next % Math.max(b.size, 16));
  }

  gpa(idx: number): number {
    return this.bars.get(idx)!.gpa;
  }
}

describe('the guest-visible BAR registers of a passed-through function', () => {
  it('size a 64-bit BAR through both halves and restore it without a move', () => {
    const m = build();
    const v = m.get(VmmToken);
    const fn = v.find('dev0');
    const lo = fn.configRead(Cfg.Bar0, 4);
    const hi = fn.configRead(Cfg.Bar0 + 4, 4);
    expect(lo & 0xf).toBe(0x4);
    fn.configWrite(Cfg.Bar0, 4, 0xffffffff);
    fn.configWrite(Cfg.Bar0 + 4, 4, 0xffffffff);
    expect(fn.configRead(Cfg.Bar0, 4)).toBe(((~(16 * K - 1) & 0xfffffff0) | 0x4) >>> 0);
    expect(fn.configRead(Cfg.Bar0 + 4, 4)).toBe(0xffffffff);
    fn.configWrite(Cfg.Bar0, 4, lo);
    fn.configWrite(Cfg.Bar0 + 4, 4, hi);
    expect([fn.configRead(Cfg.Bar0, 4), fn.configRead(Cfg.Bar0 + 4, 4)]).toEqual([lo, hi]);
    expect(v.counters.barMoves).toBe(0);
    m.dispose();
  });

  it('follow the reference rules for any sequence of dword writes and reads', () => {
    // Upper halves take all-ones or 0: other values put the BAR above what the MMU models.
    const lowerWrite = fc.record({
      kind: fc.constant('write' as const),
      i: fc.constantFrom(0, 2, 3, 5),
      value: fc.oneof(
        fc.constant(0xffffffff),
        fc.integer({ min: 0, max: 0xffff }).map((x) => (0x4000_0000 + x * 0x1000) >>> 0),
        fc.integer({ min: 0, max: 0x0fff_ffff }).map((x) => (0x4000_0000 + x) >>> 0),
        fc.constant(0),
      ),
    });
    const upperWrite = fc.record({ kind: fc.constant('write' as const), i: fc.constantFrom(1, 4), value: fc.constantFrom(0xffffffff, 0) });
    const read = fc.record({
      kind: fc.constant('read' as const),
      i: fc.integer({ min: 0, max: 5 }),
      size: fc.constantFrom(1 as const, 2 as const, 4 as const),
      byte: fc.integer({ min: 0, max: 3 }),
    });
    const op = fc.oneof(lowerWrite, upperWrite, read);
    fc.assert(
      fc.property(fc.array(op, { maxLength: 12 }), (ops) => {
        const m = build();
        try {
          const v = m.get(VmmToken);
          const fn = v.find('dev0');
          const bars = new Map(
            v.bars.map((b) => {
              const flags = fn.configRead(Cfg.Bar0 + b.index * 4, 4) & 0xf;
              return [b.index, { size: b.size, flags, is64: (flags & 0x7) === 0x4, gpa: b.guestAddress }] as const;
            }),
          );
          const ref = new Reference(bars);
          for (const o of ops) {
            if (o.kind === 'write') {
              fn.configWrite(Cfg.Bar0 + o.i * 4, 4, o.value);
              ref.write(o.i, o.value);
            } else {
              const off = o.byte - (o.byte % o.size);
              const word = ref.read(o.i) >>> (off * 8);
              const want = o.size === 4 ? word >>> 0 : word & ((1 << (o.size * 8)) - 1);
              expect(fn.configRead(Cfg.Bar0 + o.i * 4 + off, o.size)).toBe(want);
            }
          }
          for (const b of v.bars) expect(b.guestAddress).toBe(ref.gpa(b.index));
          for (let i = 0; i < 6; i++) expect(fn.configRead(Cfg.Bar0 + i * 4, 4)).toBe(ref.read(i));
        } finally {
          m.dispose();
        }
      }),
      { numRuns: 60 },
    );
  });
});
