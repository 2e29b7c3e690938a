/** Regression tests for the problems the reliability review found (each failed before its fix). */
import { describe, expect, it } from 'vitest';
import { Cfg } from '@vhw/pci';
import { Machine, VhwError, guestRam, simplePlatform } from '@vhw/core';
import { nvmeLite } from '@vhw/device-nvme-lite';
import { ppc64Platform } from '@vhw/platform-ppc64';
import { vfioPci } from '@vhw/vfio-pci';
import { type Vmm, VmmToken, vmm } from '@vhw/vmm';
import { toyDevice } from './support/toy-device.js';

import { NO_PATCHES, loadScenario, prepare } from 'vhw';
import type { Ppc64Phb } from '@vhw/platform-ppc64';
import { GuestOs } from '@vhw/pci';
function thrown(fn: () => unknown): unknown {
  try { fn(); } catch (e) { return e; }
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
    const m = Machine.create({ plugins: [ppc64Platform(), guestRam({ size: 1 << 20 }), toyDevice({ name: 'a', bars: [{ index: 0, size: 0x4000 }] }), vfioPci(), vmm()] });
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
      plugins: [ppc64Platform({ pageAlignedBars: true }), guestRam({ size: 1 << 20 }), toyDevice({ name: 'a', bars: [{ index: 0, size: 0x4000, kind: 'mem64' }] }), toyDevice({ name: 'b', bars: [{ index: 0, size: 0x4000, kind: 'mem64' }] }), vfioPci({ subPageBarMmap: true }), vmm()],
    });
    const v = m.get<Vmm>(VmmToken);
    const b = v.bars.find((x) => x.device === 'b')!;
    const a = v.bars.find((x) => x.device === 'a')!;
    const home = a.guestAddress;
    expect(() => v.find('a').configWrite(Cfg.Bar0, 4, b.guestAddress % 2 ** 32)).not.toThrow();
    expect(v.counters.barConflicts).toBe(1);
    expect(a.installed.directs).toEqual([]);
    // b is untouched and still reaches its own device.
    expect(m.mmu.translate(b.guestAddress).path).toBe('direct');
    // Moving a back to a free place maps it again.
    v.find('a').configWrite(Cfg.Bar0, 4, home % 2 ** 32);
    expect(m.mmu.translate(home).path).toBe('direct');
  });
});
