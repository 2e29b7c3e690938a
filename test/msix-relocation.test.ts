/**
 * MSI-X relocation (QEMU's x-msix-relocation) on whole machines: where the guest finds the
 * relocated table, how the BARs are planned, that the guest's MSI-X still works, and that
 * the device's own table page goes direct wherever the kernel lets it be mmapped.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { GuestMemoryToken, Machine, type VhwPlugin, guestRam } from '@vhw/core';
import { pageMapMsixRelocations } from '@vhw/experiment';
import { GuestOs, GuestPciBusToken } from '@vhw/guest';
import { genericPlatform } from '@vhw/platform-generic';
import { ppc64Platform } from '@vhw/platform-ppc64';
import { type ToyDevice, toyIgbvf, toyNvme16k } from '@vhw/test-support';
import { Reason, vfioPci } from '@vhw/vfio-pci';
import { type MsixRelocationMode, MsixRelocationReason, type PassthroughBar, VmmReason, VmmToken, vmm } from '@vhw/vmm';

const K = 1024;

function build(device: VhwPlugin, relocation: MsixRelocationMode, patches = true, platform: 'generic' | 'ppc64' = 'generic'): Machine {
  const plat = platform === 'generic' ? genericPlatform({ alignBars: patches, pageSize: 64 * K }) : ppc64Platform({ alignBars: patches });
  return Machine.create({
    plugins: [
      plat,
      guestRam({ size: 1 << 22 }),
      device,
      vfioPci({ variant: 'upstream', subPageMmap: patches, msixMmap: patches }),
      vmm({ msixRelocation: relocation }),
    ],
  });
}

const areasOf = (b: PassthroughBar) =>
  b.plan.areas.map((a) => `${a.offset.toString(16)}+${a.size.toString(16)} ${a.path} ${a.via} ${a.reason}`);

describe('MSI-X relocation on a machine', () => {
  it('auto adds a new 64-bit BAR after the shadow of a 64-bit BAR0, and the table page of BAR0 goes direct', () => {
    const m = build(toyNvme16k('dev0', 4), 'auto');
    const v = m.get(VmmToken);
    const fn = v.functions[0]!;
    expect(fn.relocation).toMatchObject({ bar: 2, added: true, is64: true, guestSize: 64 * K, tableOffset: 0, pbaOffset: 64 });
    const bar0 = v.bars.find((b) => b.index === 0)!;
    const bar2 = v.bars.find((b) => b.index === 2)!;
    // Without the emulated table in it, the whole 16 KiB BAR is one grown direct page.
    expect(areasOf(bar0)).toEqual(['0+4000 direct kvm mmap-sub-page']);
    expect(areasOf(bar2)).toEqual(['0+40 trap msix-table msix-table', '40+ffc0 trap msix-table msix-relocated']);
    expect(bar2.size).toBe(64 * K);
    expect(bar2.guestAddress % (64 * K)).toBe(0);
    expect(v.audit()).toEqual([]);
    m.dispose();
  });

  it('without relocation the same BAR traps its table page (the VMM emulates the table there)', () => {
    const m = build(toyNvme16k('dev0', 4), 'off');
    const bar0 = m.get(VmmToken).bars[0]!;
    expect(bar0.plan.directs).toEqual([]);
    expect(areasOf(bar0)).toContain('2000+40 trap msix-table msix-table');
    m.dispose();
  });

  it('the guest finds the relocated table in config space, programs it, and a device interrupt arrives', () => {
    const m = build(toyNvme16k('dev0', 4), 'auto');
    const bus = m.get(GuestPciBusToken);
    const os = new GuestOs(m.cpu, m.get(GuestMemoryToken));
    const fn = bus.find('dev0');
    expect(fn.configRead(0x44, 4)).toBe(2); // table: offset 0 in BAR2
    expect(fn.configRead(0x48, 4)).toBe(0x40 | 2); // PBA right after the 4 entries
    expect(fn.configRead(0x4a, 2)).toBe(0);
    const got: number[] = [];
    const [vec] = os.enableMsix(bus, fn, 1);
    os.requestIrq(vec!, (x) => got.push(x));
    expect(m.stats.trapsByReason['msix-table']).toBe(4);
    const dev = m.get(VmmToken).functions[0]!.dev.fn.device as ToyDevice;
    dev.fire(0);
    m.cpu.deliverPending();
    expect(got).toEqual([vec]);
    m.dispose();
  });

  it('the guest sizes the added BAR like any other: 64-bit, prefetchable, the relocated size', () => {
    const m = build(toyNvme16k('dev0', 4), 'bar2');
    const fn = m.get(GuestPciBusToken).find('dev0');
    fn.configWrite(0x18, 4, 0xffffffff);
    expect(fn.configRead(0x18, 4) >>> 0).toBe((~(64 * K - 1) | 0xc) >>> 0);
    m.dispose();
  });

  it('the relocated PBA reads the emulated pending bits, padding reads 0', () => {
    const m = build(toyNvme16k('dev0', 4), 'auto');
    const bar2 = m.get(VmmToken).bars.find((b) => b.index === 2)!;
    expect(m.cpu.mmioLoad(bar2.guestAddress + 0x40, 4)).toBe(0);
    expect(m.cpu.mmioLoad(bar2.guestAddress + 0x8000, 4)).toBe(0);
    expect(m.stats.trapsByReason['msix-relocated']).toBe(2);
    m.dispose();
  });

  it('doubling a sub-page BAR puts its device part in a page with the relocated space: that page traps', () => {
    const m = build(toyNvme16k('dev0', 4), 'bar0');
    const v = m.get(VmmToken);
    const bar0 = v.bars[0]!;
    expect(bar0.size).toBe(128 * K);
    expect(areasOf(bar0)).toEqual([
      '0+4000 trap qemu-mmap msix-relocation-page',
      '4000+c000 trap msix-table msix-relocated',
      '10000+40 trap msix-table msix-table',
      '10040+ffc0 trap msix-table msix-relocated',
    ]);
    // The page map says why the device's own table page still traps: the enlarged BAR, not the kernel.
    const [r] = pageMapMsixRelocations(v);
    expect(r!.deviceTable).toMatchObject({ path: 'trap', reasons: ['msix-relocation-page'] });
    expect(r!.deviceTable.why).toMatch(/enlarged this BAR/);
    expect(r!.deviceTable.why).not.toMatch(/kernel does not let/);
    m.dispose();
  });

  it("without patch 3 the device's own table page still traps, through the fd (QEMU's fix-up runs before the relocation)", () => {
    const m = build(toyNvme16k('dev0', 4), 'auto', false);
    const bar0 = m.get(VmmToken).bars[0]!;
    expect(bar0.plan.areas.every((a) => a.via === 'fd')).toBe(true);
    m.dispose();
  });

  it('igbvf: relocation into a free slot leaves BAR3 (table and PBA) to the device, mapped direct with the patches', () => {
    const m = build(toyIgbvf('dev0'), 'auto');
    const v = m.get(VmmToken);
    expect(v.functions[0]!.relocation?.bar).toBe(1);
    expect(areasOf(v.bars.find((b) => b.index === 3)!)).toEqual(['0+4000 direct kvm mmap-sub-page']);
    expect(v.audit()).toEqual([]);
    m.dispose();
  });

  it('on pSeries (vfio-no-msix-emulation) relocation changes no direct mapping', () => {
    for (const patches of [false, true]) {
      const a = build(toyNvme16k('dev0', 4), 'off', patches, 'ppc64');
      const b = build(toyNvme16k('dev0', 4), 'auto', patches, 'ppc64');
      expect(b.get(VmmToken).bars[0]!.plan.directs).toEqual(a.get(VmmToken).bars[0]!.plan.directs);
      a.dispose();
      b.dispose();
    }
  });

  it('a refused BAR fails the machine with E_CONFIG naming the allowed ones', () => {
    expect(() => build(toyNvme16k('dev0', 4), 'bar1')).toThrow(
      /invalid MSI-X relocation BAR1: BAR1 is consumed by 64-bit BAR0; allowed: off, auto, bar0, bar2/,
    );
  });
});

describe('the reasons MSI-X relocation adds', () => {
  it('are documented in the README and distinct from the kernel and VMM reasons', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const at = readme.indexOf('MSI-X relocation adds two reasons of its own:');
    expect(at).toBeGreaterThan(0);
    const paragraph = readme.slice(at, readme.indexOf('\n\n', at));
    const documented = [...paragraph.matchAll(/`([a-z0-9-]+)`/g)].map((m) => m[1]).sort();
    expect(documented).toEqual(Object.values(MsixRelocationReason).sort());
    const others = new Set<string>([...Object.values(Reason), ...Object.values(VmmReason)]);
    for (const r of Object.values(MsixRelocationReason)) expect(others.has(r)).toBe(false);
  });
});
