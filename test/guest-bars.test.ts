/**
 * Where the VMM puts a passed-through BAR in the guest, and what happens when the guest
 * moves it: a guest config write never crashes the VMM, and no access ever reaches the
 * wrong device, even when two BARs end up sharing a guest page.
 */
import { describe, expect, it } from 'vitest';
import { Machine, guestRam } from '@vhw/core';
import { Cfg, PciHostToken } from '@vhw/pci';
import { type Ppc64Phb, ppc64Platform } from '@vhw/platform-ppc64';
import { toyDevice } from '@vhw/test-support';
import { vfioPci } from '@vhw/vfio-pci';
import { VmmToken, vmm } from '@vhw/vmm';

describe('guest BAR placement', () => {
  it('a 32-bit BAR gets a guest address a 32-bit BAR can hold', () => {
    const m = Machine.create({
      plugins: [
        ppc64Platform(),
        guestRam({ size: 1 << 20 }),
        toyDevice({ name: 'a', bars: [{ index: 0, size: 0x4000 }] }),
        vfioPci(),
        vmm(),
      ],
    });
    const v = m.get(VmmToken);
    const bar = v.bars[0]!;
    expect(bar.guestAddress + bar.size).toBeLessThanOrEqual(2 ** 32);
    expect((v.find('a').configRead(Cfg.Bar0, 4) & ~0xf) >>> 0).toBe(bar.guestAddress);
  });
});

describe('guest BAR moves', () => {
  /** Two sub-page BARs on a 64 KiB-page ppc64 host, each in its own page until the guest moves one. */
  const twoToys = (placement: 'page-aligned' | 'natural' = 'page-aligned') =>
    Machine.create({
      plugins: [
        ppc64Platform({ alignBars: true }),
        guestRam({ size: 1 << 22 }),
        toyDevice({ name: 'a', bars: [{ index: 0, size: 0x4000, kind: 'mem64' }] }),
        toyDevice({ name: 'b', bars: [{ index: 0, size: 0x4000, kind: 'mem64' }] }),
        vfioPci({ subPageMmap: true }),
        vmm({ guestBarPlacement: placement }),
      ],
    });

  it('a guest that programs a BAR over another BAR does not crash the VMM with a guest config write', () => {
    const m = Machine.create({
      plugins: [
        ppc64Platform({ alignBars: true }),
        guestRam({ size: 1 << 20 }),
        toyDevice({ name: 'a', bars: [{ index: 0, size: 0x4000, kind: 'mem64' }] }),
        toyDevice({ name: 'b', bars: [{ index: 0, size: 0x4000, kind: 'mem64' }] }),
        vfioPci({ subPageMmap: true }),
        vmm(),
      ],
    });
    const v = m.get(VmmToken);
    const b = v.bars.find((x) => x.device === 'b')!;
    const a = v.bars.find((x) => x.device === 'a')!;
    const home = a.guestAddress;
    expect(() => v.find('a').configWrite(Cfg.Bar0, 4, b.guestAddress % 2 ** 32)).not.toThrow();
    expect(v.counters.barConflicts).toBe(1);
    expect(a.installed.directs).toEqual([]);
    // b shares its page with a now: it can no longer own the page, so it traps, but it
    // still reaches its own device.
    expect(m.mmu.translate(b.guestAddress).path).toBe('trap');
    expect(b.plan.areas[0]!.reason).toBe('guest-page-shared');
    // Moving a back to a free place maps both direct again (b grows back).
    v.find('a').configWrite(Cfg.Bar0, 4, home % 2 ** 32);
    expect(m.mmu.translate(home).path).toBe('direct');
    expect(m.mmu.translate(b.guestAddress).path).toBe('direct');
  });

  it('moving a BAR into a page another BAR had grown over shrinks that one: no access reaches the wrong device', () => {
    const m = twoToys();
    const v = m.get(VmmToken);
    const a = v.bars.find((x) => x.device === 'a')!;
    const b = v.bars.find((x) => x.device === 'b')!;
    expect(a.plan.grown).toBe(true);
    v.find('b').configWrite(Cfg.Bar0, 4, (a.guestAddress + 0x4000) % 2 ** 32);
    expect(b.guestAddress).toBe(a.guestAddress + 0x4000);
    expect(a.plan.grown).toBe(false);
    expect(m.mmu.translate(b.guestAddress).path).toBe('trap');
    const devB = v.functions.find((f) => f.name === 'b')!.dev.fn.device as unknown as { writes: number };
    const before = devB.writes;
    m.cpu.store(b.guestAddress + 0x10, 4, 7);
    expect(devB.writes).toBe(before + 1);
    expect((m.get(PciHostToken) as Ppc64Phb).groups.filter((g) => g.frozen)).toEqual([]);
    expect(v.audit()).toEqual([]);
  });

  it('a guest BAR write keeps only the address bits a BAR of that size implements', () => {
    const m = twoToys();
    const v = m.get(VmmToken);
    const a = v.bars.find((x) => x.device === 'a')!;
    const home = a.guestAddress;
    v.find('a').configWrite(Cfg.Bar0, 4, (home + 0x1000) % 2 ** 32);
    expect(a.guestAddress).toBe(home);
    expect(v.counters.barMoves).toBe(0);
  });
});
