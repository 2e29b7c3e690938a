/**
 * MSI-X relocation as a property, on random machines: random device layouts (BAR slots,
 * sizes, 32/64-bit, where the table and PBA sit, how many vectors), host pages of 4, 16 and
 * 64 KiB on the generic, PPC64 and arm64 platforms, every patch combination and variant, both guest BAR placements and every
 * x-msix-relocation value. Whenever the VMM relocates a table:
 * - the relocated space starts on a host page and is whole host pages;
 * - no guest page of it holds a byte any device backs (a register of any BAR of any
 *   device), and it is never mapped direct: every access reaches the VMM's emulation;
 * and whatever the value, isolation holds (`audit()` finds nothing). A value QEMU refuses
 * fails the machine with E_CONFIG, and only then.
 *
 * The run's seed is in the suite's name; `VHW_SEED=<seed>` replays it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Machine, PageKind, type VhwPlugin, VhwError, guestRam } from '@vhw/core';
import { arm64Platform } from '@vhw/platform-arm64';
import { genericPlatform } from '@vhw/platform-generic';
import { ppc64Platform } from '@vhw/platform-ppc64';
import { toyDevice } from '@vhw/test-support';
import { vfioPci } from '@vhw/vfio-pci';
import { MSIX_RELOCATION_MODES, type MsixRelocationMode, VmmToken, relocationRefusal, vmm } from '@vhw/vmm';

const SEED = process.env.VHW_SEED ? Number(process.env.VHW_SEED) : Date.now() % 2 ** 31;
const RUNS = 60;
const K = 1024;

interface BarChoice {
  index: number;
  size: number;
  kind: 'mem32' | 'mem64';
}
interface Layout {
  bars: BarChoice[];
  msix: { vectors: number; tableBar: number; tableOffset: number; pbaBar: number; pbaOffset: number };
}

/** BAR slots 0..5, each empty or a BAR of 4 KiB..1 MiB (a 64-bit one takes the next slot too); at least one. */
const barsArb: fc.Arbitrary<BarChoice[]> = fc
  .array(fc.record({ present: fc.boolean(), sizeLog: fc.integer({ min: 12, max: 20 }), is64: fc.boolean() }), {
    minLength: 6,
    maxLength: 6,
  })
  .map((slots) => {
    const bars: BarChoice[] = [];
    for (let i = 0; i < 6; i++) {
      const s = slots[i]!;
      if (!s.present) continue;
      const is64 = s.is64 && i < 5;
      bars.push({ index: i, size: 2 ** s.sizeLog, kind: is64 ? 'mem64' : 'mem32' });
      if (is64) i++;
    }
    return bars.length > 0 ? bars : [{ index: 0, size: 16 * K, kind: 'mem64' as const }];
  });

/** A layout: the bars, and the table and PBA in one of them (PBA right after the table, or at the BAR's end). */
const layoutArb: fc.Arbitrary<Layout> = barsArb.chain((bars) =>
  fc
    .record({
      which: fc.nat(bars.length - 1),
      vectorsLog: fc.integer({ min: 0, max: 11 }),
      pos: fc.double({ min: 0, max: 1, noNaN: true }),
      pbaAtEnd: fc.boolean(),
    })
    .map(({ which, vectorsLog, pos, pbaAtEnd }) => {
      const bar = bars[which]!;
      const pbaSizeOf = (v: number) => Math.ceil(v / 64) * 8;
      let vectors = 2 ** vectorsLog;
      while (vectors > 1 && vectors * 16 + pbaSizeOf(vectors) > bar.size) vectors /= 2;
      const table = vectors * 16;
      const pba = pbaSizeOf(vectors);
      const room = bar.size - table - pba;
      const tableOffset = Math.floor((room * pos) / 8) * 8;
      const pbaOffset = pbaAtEnd && bar.size - pba >= tableOffset + table ? bar.size - pba : tableOffset + table;
      return { bars, msix: { vectors, tableBar: bar.index, tableOffset, pbaBar: bar.index, pbaOffset } };
    }),
);

const caseArb = fc.record({
  layouts: fc.array(layoutArb, { minLength: 1, maxLength: 3 }),
  platform: fc.constantFrom('generic', 'ppc64', 'arm64'),
  pageSize: fc.constantFrom(4 * K, 16 * K, 64 * K),
  p1: fc.boolean(),
  p2: fc.boolean(),
  p3: fc.boolean(),
  variant: fc.constantFrom('rfc-2015', 'upstream'),
  placement: fc.constantFrom('page-aligned', 'natural'),
  mode: fc.constantFrom(...MSIX_RELOCATION_MODES),
});
type Case = typeof caseArb extends fc.Arbitrary<infer T> ? T : never;

function build(c: Case): Machine {
  const plat: VhwPlugin =
    c.platform === 'generic'
      ? genericPlatform({ alignBars: c.p1, pageSize: c.pageSize })
      : c.platform === 'arm64'
        ? arm64Platform({ alignBars: c.p1, pageSize: c.pageSize })
        : ppc64Platform({ alignBars: c.p1, pageSize: c.pageSize });
  return Machine.create({
    plugins: [
      plat,
      guestRam({ size: 1 << 22 }),
      ...c.layouts.map((l, i) => toyDevice({ name: `dev${i}`, bars: l.bars, msix: l.msix })),
      vfioPci({ variant: c.variant as 'rfc-2015' | 'upstream', subPageMmap: c.p2, msixMmap: c.p3 }),
      vmm({ guestBarPlacement: c.placement as 'page-aligned' | 'natural', msixRelocation: c.mode as MsixRelocationMode }),
    ],
  });
}

/** Whether QEMU refuses `mode` for a device of `layout` (an explicit BAR only: auto finds one whenever a memory BAR exists). */
function refused(layout: Layout, mode: MsixRelocationMode): boolean {
  if (mode === 'off' || mode === 'auto') return false;
  const slots = Array.from({ length: 6 }, (_, i) => {
    const b = layout.bars.find((x) => x.index === i);
    return { size: b?.size ?? 0, is64: b?.kind === 'mem64', io: false };
  });
  return relocationRefusal(slots, Number(mode.slice(3))) !== undefined;
}

describe(`MSI-X relocation on random machines (seed ${SEED}; replay with VHW_SEED=${SEED})`, () => {
  it('the relocated table never shares a page with a device register, never maps direct, and isolation holds', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const mode = c.mode as MsixRelocationMode;
        let m: Machine;
        try {
          m = build(c);
        } catch (e) {
          // Only QEMU's refusals, and host windows too small for random BARs, may stop a machine.
          if (VhwError.is(e, 'E_CONFIG') && /invalid MSI-X relocation/.test((e as Error).message)) {
            expect(c.layouts.some((l) => refused(l, mode))).toBe(true);
            return;
          }
          if (VhwError.is(e, 'E_ALLOCATION')) return;
          throw e;
        }
        try {
          expect(c.layouts.some((l) => refused(l, mode))).toBe(false);
          const v = m.get(VmmToken);
          const P = v.pageSize;
          for (const fn of v.functions) {
            const r = fn.relocation;
            expect(r === undefined).toBe(mode === 'off');
            if (!r) continue;
            const bar = v.bars.find((b) => b.fn === fn && b.index === r.bar)!;
            expect(bar.size).toBe(r.guestSize);
            const start = bar.guestAddress + r.tableOffset;
            expect(start % P).toBe(0);
            expect(r.msixSize % P).toBe(0);
            for (let page = start; page < start + r.msixSize; page += P) {
              // No byte any device backs, of any BAR of any function, in this guest page.
              for (const b of v.bars) {
                if (!b.mapped) continue;
                const lo = b.guestAddress;
                const hi = b.guestAddress + b.region.size;
                expect(lo < page + P && page < hi, `${b.device} BAR${b.index} device bytes in relocated page`).toBe(false);
              }
              const t = m.mmu.translate(page);
              expect(t.path).not.toBe('direct');
              expect(m.mmu.entries.some((e) => e.kind === PageKind.Direct && e.base < page + P && page < e.base + e.size)).toBe(false);
            }
          }
          expect(v.audit()).toEqual([]);
        } finally {
          m.dispose();
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
