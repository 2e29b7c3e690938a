/**
 * The whole passthrough stack (platform → vfio-pci → VMM → guest CPU) with a register
 * file device in the three layouts that separate the patches, across every
 * patch combination and both variants.
 */
import { describe, expect, it, vi } from 'vitest';
import {
  ContainerModule,
  GuestMemoryToken,
  Machine,
  type Platform,
  PlatformToken,
  type VhwPlugin,
  definePlugin,
  guestRam,
  z,
} from '@vhw/core';
import { GuestOs, GuestPciBusToken } from '@vhw/guest';
import { Cfg, type HostBridge, MSIX_CAP_OFFSET, bindHostBridge } from '@vhw/pci';
import { genericPlatform } from '@vhw/platform-generic';
import { Ppc64Phb, ppc64Platform } from '@vhw/platform-ppc64';
import type { Variant } from '@vhw/core';
import { VfioPciDevice, vfioPci } from '@vhw/vfio-pci';
import { VmmToken, vmm } from '@vhw/vmm';
import { expectVhwError, type ToyDevice, toyDevice } from '@vhw/test-support';

const K = 1024;
const LAYOUTS = {
  nvme16k: {
    bars: [{ index: 0, size: 16 * K, kind: 'mem64' as const }],
    msix: { vectors: 8, tableBar: 0, tableOffset: 0x2000, pbaBar: 0, pbaOffset: 0x3000 },
    hot: { bar: 0, offset: 0x1000 },
  },
  igbvf: {
    bars: [
      { index: 0, size: 16 * K },
      { index: 3, size: 16 * K },
    ],
    msix: { vectors: 3, tableBar: 3, tableOffset: 0, pbaBar: 3, pbaOffset: 0x2000 },
    hot: { bar: 0, offset: 0x3818 },
  },
  kioxia: {
    bars: [{ index: 0, size: 64 * K, kind: 'mem64' as const }],
    msix: { vectors: 16, tableBar: 0, tableOffset: 0x5200, pbaBar: 0, pbaOffset: 0xd600 },
    hot: { bar: 0, offset: 0x1000 },
  },
};
type Layout = keyof typeof LAYOUTS;
const COMBOS = Array.from({ length: 8 }, (_, i) => ({ p1: (i & 1) !== 0, p2: (i & 2) !== 0, p3: (i & 4) !== 0 }));

function build(
  layout: Layout,
  c: { p1: boolean; p2: boolean; p3: boolean },
  variant: Variant,
  platform: 'ppc64' | 'generic' = 'ppc64',
  extra: VhwPlugin[] = [],
  vmmOpts = {},
) {
  const l = LAYOUTS[layout];
  const plat = platform === 'ppc64' ? ppc64Platform({ alignBars: c.p1 }) : genericPlatform({ alignBars: c.p1 });
  return Machine.create({
    plugins: [
      plat,
      guestRam({ size: 16 << 20 }),
      toyDevice({ name: 'dev0', bars: l.bars, msix: l.msix }),
      ...extra,
      vfioPci({ variant, subPageMmap: c.p2, msixMmap: c.p3 }),
      vmm(vmmOpts),
    ],
  });
}

function hotPath(m: Machine, layout: Layout): 'direct' | 'trap' {
  const v = m.get(VmmToken);
  const hot = LAYOUTS[layout].hot;
  const bar = v.bars.find((b) => b.index === hot.bar)!;
  return m.mmu.translate(bar.guestAddress + hot.offset).path === 'direct' ? 'direct' : 'trap';
}

/** What the spec says frees each layout's hot register on a 64 KiB PPC64 host (device alone in its PE). */
function expectedDirect(layout: Layout, c: { p1: boolean; p2: boolean; p3: boolean }, variant: Variant): boolean {
  if (layout === 'kioxia') return c.p3;
  if (layout === 'igbvf') return c.p2 && c.p1; // upstream without P1: BAR0 shares its page with BAR3
  // nvme16k: sub-page BAR holding the table
  if (variant === 'rfc-2015') return c.p1 && c.p2 && c.p3;
  return c.p2 && c.p3; // upstream: the BAR starts its PE segment, so its page is free even without P1
}

describe('passthrough on PPC64 (64 KiB pages, pSeries guest)', () => {
  for (const variant of ['rfc-2015', 'upstream'] as const) {
    for (const layout of Object.keys(LAYOUTS) as Layout[]) {
      it(`${variant} ${layout}: the hot register goes direct exactly where the spec says, in all 8 combinations`, () => {
        for (const c of COMBOS) {
          const m = build(layout, c, variant);
          const direct = hotPath(m, layout) === 'direct';
          expect({ c, direct }).toEqual({ c, direct: expectedDirect(layout, c, variant) });
          expect(m.get(VmmToken).audit()).toEqual([]);
          m.dispose();
        }
      });
    }
  }

  it('rfc-2015: patch 2 without patch 1 changes nothing (the platform cannot promise an exclusive page)', () => {
    for (const layout of Object.keys(LAYOUTS) as Layout[]) {
      const areas = (c: { p1: boolean; p2: boolean; p3: boolean }) => {
        const m = build(layout, c, 'rfc-2015');
        const out = m.get(VmmToken).bars.map((b) => b.plan.areas.map((a) => a.path));
        m.dispose();
        return out;
      };
      expect(areas({ p1: false, p2: true, p3: false })).toEqual(areas({ p1: false, p2: false, p3: false }));
    }
  });

  it('every trapped access is counted with the reason of its area, and direct ones not at all', () => {
    const m = build('nvme16k', { p1: true, p2: true, p3: false }, 'rfc-2015');
    const bar = m.get(VmmToken).bars[0]!;
    m.stats.reset();
    m.cpu.store(bar.guestAddress + 0x1000, 4, 1);
    m.cpu.store(bar.guestAddress + 0x1004, 4, 1);
    expect(m.stats.trapsByReason).toEqual({ 'msix-table-page': 2 });
    expect(m.stats.summary().trap.writes).toBe(2);
  });

  it('the fd path protects the MSI-X table: a guest write to the trapped table (no emulation) never reaches the device', () => {
    const m = build('nvme16k', { p1: false, p2: false, p3: false }, 'rfc-2015');
    const v = m.get(VmmToken);
    const bar = v.bars[0]!;
    expect(v.noMsixEmulation).toBe(true); // pSeries
    m.cpu.store(bar.guestAddress + 0x2008, 4, 0x1234);
    expect(m.cpu.load(bar.guestAddress + 0x2008, 4)).toBe(0xffffffff);
    const dev = v.functions[0]!.dev;
    expect(dev.counters.tableProtected).toBe(2);
    expect(dev.fn.device.msix!.entry(0).data).not.toBe(0x1234);
  });
});

describe('trapped pages resolved ahead of time', () => {
  /** Every kind of access over a BAR's trapped pages: in and past its regions, all sizes, aligned or not. */
  function exercise(m: Machine): unknown {
    const v = m.get(VmmToken);
    m.stats.reset();
    const t0 = m.clock.now;
    let sum = 0;
    for (const bar of v.bars) {
      for (const off of [0, 4, 0x1000, 0x1002, 0x2000, 0x2008, 0x3ffc, bar.size, bar.size + 0x100]) {
        for (const size of [1, 2, 4, 8] as const) {
          m.cpu.store(bar.guestAddress + off, size, 0x5a + off, 1);
          sum += m.cpu.load(bar.guestAddress + off, size) + m.cpu.high;
        }
      }
    }
    return {
      sum,
      ns: m.clock.now - t0,
      summary: m.stats.summary(),
      reasons: m.stats.trapsByReason,
      pages: m.stats.pages(),
      unassigned: m.stats.unassigned,
      areas: v.barReport().map((b) => b.areas.map((a) => a.traps)),
      fd: v.functions.map((f) => ({ ...f.dev.counters })),
    };
  }

  it('a page whose only region is the vfio fd exits to a handler bound to it; results equal the dispatch through the flat view', () => {
    for (const layout of Object.keys(LAYOUTS) as Layout[]) {
      const resolved = build(layout, { p1: false, p2: false, p3: false }, 'rfc-2015');
      const dispatched = build(layout, { p1: false, p2: false, p3: false }, 'rfc-2015');
      dispatched.get(VmmToken).trapPages.resolveWith(() => undefined);
      const bar = resolved.get(VmmToken).bars[0]!;
      expect(resolved.mmu.lookup(bar.guestAddress)?.trapHandler, layout).toBeDefined();
      expect(dispatched.mmu.lookup(bar.guestAddress)?.trapHandler).toBeUndefined();
      expect(exercise(resolved), layout).toEqual(exercise(dispatched));
    }
  });

  it('follows the map: a page shared by a moved BAR, or left by it, is resolved again', () => {
    const m = build('igbvf', { p1: false, p2: false, p3: false }, 'rfc-2015');
    const v = m.get(VmmToken);
    const [bar0, bar3] = v.bars;
    const page0 = bar0!.guestAddress;
    const resolved = () => m.mmu.lookup(page0)?.trapHandler !== undefined;
    expect(resolved()).toBe(true);
    const home = bar3!.guestAddress;
    // BAR3 moved into BAR0's page: two regions there, the page goes back to the dispatch.
    v.moveBar(bar3!, page0 + 0x8000);
    expect(m.mmu.lookup(page0 + 0x8000)?.name).toBe(m.mmu.lookup(page0)?.name);
    expect(resolved()).toBe(false);
    v.moveBar(bar3!, home);
    expect(resolved()).toBe(true);
  });
});

describe('guest BAR placement', () => {
  it('natural placement packs sub-page BARs into one guest page: the aligned one cannot own the page, the other is unaligned; both trap', () => {
    const m = build('igbvf', { p1: true, p2: true, p3: true }, 'rfc-2015', 'ppc64', [], { guestBarPlacement: 'natural' });
    const v = m.get(VmmToken);
    expect(v.bars.map((b) => b.plan.areas[0]!.reason).sort()).toEqual(['guest-bar-unaligned', 'guest-page-shared']);
    expect(hotPath(m, 'igbvf')).toBe('trap');
  });

  it('moving a sub-page BAR off a page boundary reverts it to trapping, and back restores the direct mapping', () => {
    const m = build('igbvf', { p1: true, p2: true, p3: true }, 'rfc-2015');
    const v = m.get(VmmToken);
    const fn = v.find('dev0');
    const bar0 = v.bars.find((b) => b.index === 0)!;
    const home = bar0.guestAddress;
    expect(hotPath(m, 'igbvf')).toBe('direct');
    fn.configWrite(Cfg.Bar0, 4, (home + 0x4000) % 2 ** 32);
    expect(bar0.guestAddress).toBe(home + 0x4000);
    expect(hotPath(m, 'igbvf')).toBe('trap');
    expect(bar0.plan.areas[0]!.reason).toBe('guest-bar-unaligned');
    fn.configWrite(Cfg.Bar0, 4, home % 2 ** 32);
    expect(hotPath(m, 'igbvf')).toBe('direct');
    expect(v.counters.barMoves).toBe(2);
  });

  it('BAR sizing through the emulated config space reads back the size mask', () => {
    const m = build('igbvf', { p1: false, p2: false, p3: false }, 'rfc-2015');
    const fn = m.get(VmmToken).find('dev0');
    const before = fn.configRead(Cfg.Bar0 + 12, 4);
    fn.configWrite(Cfg.Bar0 + 12, 4, 0xffffffff);
    expect(fn.configRead(Cfg.Bar0 + 12, 4)).toBe((~(16 * K - 1) & 0xfffffff0) >>> 0);
    fn.configWrite(Cfg.Bar0 + 12, 4, before);
    expect(fn.configRead(Cfg.Bar0 + 12, 4)).toBe(before);
  });
});

describe('the 4 KiB control platform', () => {
  it('frees the NVMe doorbells in every combination: a 16 KiB BAR is not sub-page and the table page is not theirs', () => {
    for (const c of COMBOS) {
      for (const variant of ['rfc-2015', 'upstream'] as const) {
        const m = build('nvme16k', c, variant, 'generic');
        expect(hotPath(m, 'nvme16k')).toBe('direct');
        m.dispose();
      }
    }
  });

  it('rfc-2015 patch 3 is refused without EEH and the reason says so', () => {
    const m = build('nvme16k', { p1: true, p2: true, p3: true }, 'rfc-2015', 'generic' as never);
    const v = m.get(VmmToken);
    expect(v.functions[0]!.dev.diagnose(0, 0x2000)).toBe('no-isolation');
  });

  it('emulates the MSI-X table: the guest programs it by MMIO and a device interrupt arrives with the guest vector', () => {
    const m = build('nvme16k', { p1: false, p2: false, p3: false }, 'rfc-2015', 'generic');
    const bus = m.get(GuestPciBusToken);
    const os = new GuestOs(m.cpu, m.get(GuestMemoryToken));
    const fn = bus.find('dev0');
    expect(fn.paravirtMsi).toBeUndefined();
    const got: number[] = [];
    const [vec] = os.enableMsix(bus, fn, 1);
    os.requestIrq(vec!, (v) => got.push(v));
    expect(m.stats.trapsByReason['msix-table']).toBe(4);
    const dev = m.get(VmmToken).functions[0]!.dev.fn.device as ToyDevice;
    dev.fire(0);
    m.cpu.deliverPending();
    expect(got).toEqual([vec]);
    expect(m.stats.interrupts).toBe(1);
  });

  it('refuses vfio-no-msix-emulation on a machine without paravirtual MSI set-up', () => {
    expect(() => build('nvme16k', COMBOS[0]!, 'rfc-2015', 'generic', [], { noMsixEmulation: true })).toThrow(
      /noMsixEmulation needs a machine/,
    );
  });
});

describe('isolation', () => {
  /** A PHB that claims patch 1 while packing BARs naturally: vfio-pci (rfc-2015) will believe it. */
  const lyingPlatform = definePlugin({
    name: 'lying-ppc64',
    kind: 'platform',
    description: 'test platform that claims page-aligned BARs without aligning them',
    schema: z.strictObject({}),
    module: () =>
      new ContainerModule((opts) => {
        // The facts claim patch 1; the PHB below packs naturally (alignBars: false).
        opts.bind(PlatformToken).toConstantValue({
          name: 'ppc64',
          pageSize: 65536,
          unassignedPolicy: 'ignore',
          costDefaults: {},
          allMmioBarsPageAligned: true,
          eeh: true,
          interruptIsolation: true,
          guestMsiSetup: 'rtas',
          vfioNoMsixEmulation: true,
        } satisfies Platform);
        bindHostBridge(opts, 'lying', ({ events, clock, memory, costs, platform }) => {
          const phb = new Ppc64Phb({
            name: 'phb0',
            platform,
            window: { name: 'M32', base: 0x8000_0000, size: 0x8000_0000 },
            events,
            clock,
            memory,
            msiAddress: 0x3_fff0_0000,
            alignBars: false,
            peCount: 256,
            peGranularity: 'bus',
            freezeBlocksMsi: true,
            costs,
          });
          return phb;
        });
      }),
  });

  const lyingMachine = () => {
    const l = LAYOUTS.igbvf;
    return Machine.create({
      plugins: [
        lyingPlatform(),
        guestRam({ size: 16 << 20 }),
        toyDevice({ name: 'a', bars: [l.bars[0]!] }),
        toyDevice({ name: 'b', bars: [l.bars[0]!] }),
        vfioPci({ subPageMmap: true }),
        vmm(),
      ],
    });
  };

  it('vfio-pci refuses to mmap a page holding another device even when the platform lies about patch 1', () => {
    const m = lyingMachine();
    const v = m.get(VmmToken);
    // The policy said yes (region MMAP flag), the mmap itself said no: both BARs trap.
    expect(v.functions.map((f) => f.dev.counters.mmapRefused).reduce((a, b) => a + b)).toBeGreaterThan(0);
    for (const b of v.bars) expect(b.plan.areas.every((a) => a.path === 'trap')).toBe(true);
    expect(v.audit()).toEqual([]);
  });

  it('and if vfio-pci handed such a page out anyway, the VMM refuses to map it (E_ISOLATION), loudly', () => {
    // A vfio-pci that skips its own check: mmap returns the page unconditionally.
    const spy = vi.spyOn(VfioPciDevice.prototype, 'mmap').mockImplementation(function (
      this: VfioPciDevice,
      index: number,
      offset: number,
      size: number,
    ) {
      const bridge = (this as unknown as { bridge: HostBridge }).bridge;
      const hostPa = this.fn.bar(index)!.address + offset;
      return { region: index, offset, size, hostPa, handler: bridge.mmioHandler, handlerOffset: hostPa };
    });
    try {
      expectVhwError(() => lyingMachine(), 'E_ISOLATION', /holds bar of (a|b)/);
    } finally {
      spy.mockRestore();
    }
  });

  it('MSI-X control written by the guest is emulated (vfio keeps the host control)', () => {
    const m = build('nvme16k', COMBOS[0]!, 'rfc-2015', 'generic');
    const fn = m.get(VmmToken).find('dev0');
    fn.configWrite(MSIX_CAP_OFFSET + 2, 2, 0x8000);
    expect(fn.configRead(MSIX_CAP_OFFSET + 2, 2) & 0x8000).toBe(0x8000);
  });
});

describe('8-byte guest accesses', () => {
  it('a trapped 8-byte read is one exit and one pread, costing what a 4-byte one does', () => {
    const m = build('nvme16k', COMBOS[0]!, 'rfc-2015');
    const v = m.get(VmmToken);
    const bar = v.bars[0]!;
    const dev = v.functions[0]!.dev;
    const toy = dev.fn.device as ToyDevice;
    toy.regs.set('0:256', 0x11223344);
    toy.regs.set('0:260', 0x55667788);
    let t = m.clock.now;
    const reads = dev.counters.regionReads;
    m.cpu.load(bar.guestAddress + 0x100, 4);
    const four = m.clock.now - t;
    t = m.clock.now;
    const lo = m.cpu.load(bar.guestAddress + 0x100, 8);
    const eight = m.clock.now - t;
    expect([lo, m.cpu.high]).toEqual([0x11223344, 0x55667788]);
    expect(eight).toBeCloseTo(four, 6);
    expect(dev.counters.regionReads - reads).toBe(2);
    t = m.clock.now;
    m.cpu.store(bar.guestAddress + 0x200, 8, 0xaabbccdd, 0x01020304);
    expect(toy.regs.get('0:512')).toBe(0xaabbccdd);
    expect(toy.regs.get('0:516')).toBe(0x01020304);
    expect(dev.counters.regionWrites).toBeGreaterThan(0);
  });
});
