/**
 * The VMM's audit() against mappings changed behind its back: a clean machine reports
 * nothing, and a direct mapping installed through the core MMU API (not by the VMM) that
 * exposes another device's registers, or belongs to no passed-through function, is
 * reported, naming the mapping and what it exposes.
 */
import { Machine, PageKind, guestRam } from '@vhw/core';
import { PciHostToken } from '@vhw/pci';
import { genericPlatform } from '@vhw/platform-generic';
import { ppc64Platform } from '@vhw/platform-ppc64';
import { vfioPci } from '@vhw/vfio-pci';
import { VmmToken, vmm } from '@vhw/vmm';
import { toyDevice } from '@vhw/test-support';
import { describe, expect, it } from 'vitest';

const K = 1024;

function build(platform: 'ppc64' | 'generic') {
  const machine = Machine.create({
    plugins: [
      platform === 'ppc64' ? ppc64Platform({ alignBars: true }) : genericPlatform({ alignBars: true }),
      guestRam({ size: 1 << 20 }),
      toyDevice({ name: 'a', bars: [{ index: 0, size: 64 * K, kind: 'mem64' }] }),
      toyDevice({ name: 'b', bars: [{ index: 0, size: 64 * K, kind: 'mem64' }] }),
      vfioPci({ subPageMmap: true, msixMmap: true }),
      vmm(),
    ],
  });
  return { machine, vmm: machine.get(VmmToken), bridge: machine.get(PciHostToken) };
}

/** A guest page no mapping uses, past every guest BAR. */
function freeGuestPage(machine: Machine): number {
  const P = machine.mmu.pageSize;
  const end = Math.max(...machine.mmu.entries.map((m) => m.end));
  return Math.ceil(end / P) * P + 16 * P;
}

describe('Vmm.audit', () => {
  for (const platform of ['ppc64', 'generic'] as const) {
    it(`reports nothing on a clean machine whose BARs map direct (${platform})`, () => {
      const { machine, vmm } = build(platform);
      expect(machine.mmu.entries.filter((m) => m.kind === PageKind.Direct).map((m) => m.owner)).toEqual(['a', 'b']);
      expect(vmm.audit()).toEqual([]);
      machine.dispose();
    });

    it(`reports a direct mapping of a's owner over b's registers installed behind the VMM's back (${platform})`, () => {
      const { machine, vmm, bridge } = build(platform);
      const P = machine.mmu.pageSize;
      const foreign = bridge.findFunction('b').bar(0)!.address;
      const target = bridge.mmioTarget(foreign, P);
      const gpa = freeGuestPage(machine);
      machine.mmu.mapDirect({
        name: 'rogue',
        gpa,
        size: P,
        hostPa: foreign,
        handler: target.handler,
        handlerOffset: foreign - target.base,
        owner: 'a',
      });
      // The rogue page really reaches b's registers: audit has something real to find.
      machine.cpu.store(gpa + 0x40, 4, 0x1234);
      expect(machine.cpu.load(gpa + 0x40, 4)).toBe(0x1234);
      const found = vmm.audit();
      expect(found.length).toBeGreaterThan(0);
      expect(found.every((v) => v.startsWith('rogue: '))).toBe(true);
      expect(found[0]).toContain('holds bar of b');
      machine.mmu.unmap('rogue');
      expect(vmm.audit()).toEqual([]);
      machine.dispose();
    });

    it(`reports a direct mapping that belongs to no passed-through function (${platform})`, () => {
      const { machine, vmm, bridge } = build(platform);
      const P = machine.mmu.pageSize;
      const own = bridge.findFunction('a').bar(0)!.address;
      const target = bridge.mmioTarget(own, P);
      machine.mmu.mapDirect({
        name: 'stray',
        gpa: freeGuestPage(machine),
        size: P,
        hostPa: own,
        handler: target.handler,
        handlerOffset: own - target.base,
        owner: 'nobody',
      });
      expect(vmm.audit()).toEqual(['stray: direct mapping with no passed-through owner']);
      machine.dispose();
    });
  }
});
