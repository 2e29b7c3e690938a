/** Regression tests for the problems the reliability review found (each failed before its fix). */
import { describe, expect, it } from 'vitest';
import { Cfg, PciHostToken } from '@vhw/pci';
import { Machine, VhwError, guestRam, simplePlatform } from '@vhw/core';
import { nvmeLite } from '@vhw/device-nvme-lite';
import { ppc64Platform } from '@vhw/platform-ppc64';
import { vfioPci } from '@vhw/vfio-pci';
import { type Vmm, VmmToken, vmm } from '@vhw/vmm';
import { toyDevice } from './support/toy-device.js';

import { NO_PATCHES, loadScenario, prepare } from 'vhw';
import type { Ppc64Phb } from '@vhw/platform-ppc64';
import { GuestOs } from '@vhw/guest';
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('review fixes: options and placement', () => {
  it('vmm: a bad noMsixEmulation says what is allowed', () => {
    const e = thrown(() => vmm({ noMsixEmulation: 'yes' as never }));
    expect(VhwError.is(e, 'E_CONFIG')).toBe(true);
    expect((e as Error).message).toMatch(/"machine"/);
    expect((e as Error).message).toMatch(/boolean|true|false/);
  });

  it('plugin factories refuse null options (wrong type)', () => {
    const e = thrown(() => ppc64Platform(null as never));
    expect(VhwError.is(e, 'E_CONFIG')).toBe(true);
  });

  it('ppc64Platform refuses an M32 window that does not split into whole pages per PE, naming itself and the fields', () => {
    const e = thrown(() => Machine.create({ plugins: [ppc64Platform({ m32Size: 0xff_0000 }), guestRam()] }));
    expect(VhwError.is(e, 'E_CONFIG')).toBe(true);
    expect((e as Error).message).toMatch(/^platform-ppc64: .*"m32Size"/);
  });

  it('guestRam size that is not whole pages is an E_CONFIG naming ram and size', () => {
    const e = thrown(() => Machine.create({ plugins: [simplePlatform(), guestRam({ size: 1000 })] }));
    expect(VhwError.is(e, 'E_CONFIG')).toBe(true);
    expect((e as Error).message).toMatch(/^ram: .*"size"/);
  });

  it('vfioPci devices naming a device the machine does not have is an E_CONFIG naming vfio-pci and devices', () => {
    const e = thrown(() => Machine.create({ plugins: [ppc64Platform(), guestRam(), nvmeLite(), vfioPci({ devices: ['nvme9'] }), vmm()] }));
    expect(VhwError.is(e, 'E_CONFIG')).toBe(true);
    expect((e as Error).message).toMatch(/^vfio-pci: .*"devices"/);
  });

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
    const v = m.get<Vmm>(VmmToken);
    const bar = v.bars[0];
    expect(bar.guestAddress + bar.size).toBeLessThanOrEqual(2 ** 32);
    expect((v.find('a').configRead(Cfg.Bar0, 4) & ~0xf) >>> 0).toBe(bar.guestAddress);
  });
});

describe('guest EEH core', () => {
  it('a PE that freezes again while its drivers re-initialise does not make the guest EEH core throw', async () => {
    const run = prepare(await loadScenario('ppc64-mixed'), { patches: NO_PATCHES, variant: 'rfc-2015', seed: 1 });
    const phb = run.bridge as Ppc64Phb;
    const pe = run.bridge.findFunction('nvme0').group.id;
    const nvme = run.drivers.find((d) => d.device === 'nvme0')!;
    phb.injectError(pe);
    expect(nvme.run(8)).toEqual({ completed: 0, failed: 8 });
    // The device fails again as soon as the slot is configured (a second error during recovery).
    let again = true;
    run.machine.events.on('isolation', (e) => {
      if (e.group === pe && e.state === 'configured' && again) {
        again = false;
        phb.injectError(pe);
      }
    });
    // The guest EEH core retries the recovery instead of throwing into the workload.
    expect(run.os.handleEeh(run.bus, 'nvme0', run.drivers)).toBe(true);
    expect(run.os.eehRecoveries).toBe(2);
    expect(nvme.run(8)).toEqual({ completed: 8, failed: 0 });
  });

  it('gives up on a PE that keeps freezing, without throwing, and its operations keep failing', async () => {
    const run = prepare(await loadScenario('ppc64-mixed'), { patches: NO_PATCHES, variant: 'rfc-2015', seed: 1 });
    const phb = run.bridge as Ppc64Phb;
    const pe = run.bridge.findFunction('nvme0').group.id;
    const nvme = run.drivers.find((d) => d.device === 'nvme0')!;
    phb.injectError(pe);
    expect(nvme.run(4).failed).toBe(4);
    run.machine.events.on('isolation', (e) => {
      if (e.group === pe && e.state === 'configured') phb.injectError(pe);
    });
    expect(run.os.handleEeh(run.bus, 'nvme0', run.drivers)).toBe(false);
    expect(run.os.eehRecoveries).toBe(GuestOs.maxEehAttempts);
    expect(run.os.eehGaveUp).toBe(1);
    const r = nvme.run(4);
    expect(r.completed + r.failed).toBe(4);
    expect(r.failed).toBe(4);
  });
});

describe('guest BAR moves', () => {
  it('a guest that programs a BAR over another BAR does not crash the VMM with a guest config write', () => {
    const m = Machine.create({
      plugins: [
        ppc64Platform({ pageAlignedBars: true }),
        guestRam({ size: 1 << 20 }),
        toyDevice({ name: 'a', bars: [{ index: 0, size: 0x4000, kind: 'mem64' }] }),
        toyDevice({ name: 'b', bars: [{ index: 0, size: 0x4000, kind: 'mem64' }] }),
        vfioPci({ subPageBarMmap: true }),
        vmm(),
      ],
    });
    const v = m.get<Vmm>(VmmToken);
    const b = v.bars.find((x) => x.device === 'b')!;
    const a = v.bars.find((x) => x.device === 'a')!;
    const home = a.guestAddress;
    expect(() => v.find('a').configWrite(Cfg.Bar0, 4, b.guestAddress % 2 ** 32)).not.toThrow();
    expect(v.counters.barConflicts).toBe(1);
    expect(a.installed.directs).toEqual([]);
    // b shares its page with a now: it can no longer own the page, so it traps, but it
    // still reaches its own device.
    expect(m.mmu.translate(b.guestAddress).path).toBe('trap');
    expect(b.plan.areas[0].reason).toBe('guest-page-shared');
    // Moving a back to a free place maps both direct again (b grows back).
    v.find('a').configWrite(Cfg.Bar0, 4, home % 2 ** 32);
    expect(m.mmu.translate(home).path).toBe('direct');
    expect(m.mmu.translate(b.guestAddress).path).toBe('direct');
  });
});

describe('second review', () => {
  const twoNvme = (placement: 'page-aligned' | 'natural' = 'page-aligned') =>
    Machine.create({
      plugins: [
        ppc64Platform({ pageAlignedBars: true }),
        guestRam({ size: 1 << 22 }),
        toyDevice({ name: 'a', bars: [{ index: 0, size: 0x4000, kind: 'mem64' }] }),
        toyDevice({ name: 'b', bars: [{ index: 0, size: 0x4000, kind: 'mem64' }] }),
        vfioPci({ subPageBarMmap: true }),
        vmm({ guestBarPlacement: placement }),
      ],
    });

  it('moving a BAR into a page another BAR had grown over shrinks that one: no access reaches the wrong device', () => {
    const m = twoNvme();
    const v = m.get<Vmm>(VmmToken);
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
    const m = twoNvme();
    const v = m.get<Vmm>(VmmToken);
    const a = v.bars.find((x) => x.device === 'a')!;
    const home = a.guestAddress;
    v.find('a').configWrite(Cfg.Bar0, 4, (home + 0x1000) % 2 ** 32);
    expect(a.guestAddress).toBe(home);
    expect(v.counters.barMoves).toBe(0);
  });

  it('a machine reset unfreezes every PE and gives the host MSI-X vectors back', () => {
    const m = Machine.create({ plugins: [ppc64Platform(), guestRam({ size: 1 << 22 }), nvmeLite({ name: 'n' }), vfioPci(), vmm()] });
    const v = m.get<Vmm>(VmmToken);
    const fn = v.find('n');
    fn.paravirtMsi!(2);
    const dev = v.functions[0].dev;
    expect(dev.msixIrqs).toHaveLength(2);
    const phb = m.get(PciHostToken) as Ppc64Phb;
    phb.injectError(dev.fn.group.id);
    m.reset();
    expect(phb.eehState(dev.fn.group.id)).toBe('normal');
    expect(dev.msixIrqs).toEqual([]);
  });

  it('a dword config access at the MSI-X capability sees and sets the emulated message control', () => {
    const m = Machine.create({
      plugins: [ppc64Platform(), guestRam({ size: 1 << 22 }), nvmeLite({ name: 'n' }), vfioPci(), vmm({ noMsixEmulation: false })],
    });
    const fn = m.get<Vmm>(VmmToken).find('n');
    const dword = fn.configRead(0x40, 4);
    expect(dword & 0xff).toBe(0x11); // MSI-X capability id
    expect(dword >>> 31).toBe(0); // not enabled yet (vfio's host control is not shown)
    fn.configWrite(0x40, 4, (dword | 0x8000_0000) >>> 0);
    expect(fn.configRead(0x42, 2) & 0x8000).toBe(0x8000);
    fn.configWrite(0x42, 1, 0); // a byte write to the low half leaves enable alone
    expect(fn.configRead(0x42, 2) & 0x8000).toBe(0x8000);
  });
});
