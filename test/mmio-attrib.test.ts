/**
 * Issue 15 items 3 and 4: the MMIO workload (ppc64-mmio) and per-register attribution
 * (topRegisters, each trap area's `via`, I/O BARs in bars[], explain by register name).
 */
import { ContainerModule, definePlugin, NO_PATCHES, ALL_PATCHES, z } from '@vhw/core';
import { nicLite } from '@vhw/device-nic-lite';
import { nvmeLite } from '@vhw/device-nvme-lite';
import {
  type ExperimentConfig,
  type RunResult,
  defineScenario,
  findRegister,
  loadScenario,
  passthroughMachine,
  prepare,
  pciRegisterNamer,
  runExperiment,
} from '@vhw/experiment';
import { PciDeviceToken } from '@vhw/pci';
import { ToyDevice } from '@vhw/test-support';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const point = (patches = NO_PATCHES, variant: ExperimentConfig['variant'] = 'rfc-2015'): ExperimentConfig => ({
  patches,
  variant,
  seed: 1,
});
const reg = (r: RunResult, device: string, name: string) => r.topRegisters?.find((x) => x.device === device && x.name === name);

describe('per-register attribution', () => {
  it('counts each register as the drivers access it (one SQ doorbell per command, one TDT per packet, one EICR per interrupt)', async () => {
    const s = await loadScenario('ppc64-mixed');
    const r = runExperiment(s, point(), { ops: 1200 });
    // ops are spread evenly: 400 per driver. Oracle: what each driver does per operation.
    expect(reg(r, 'nvme0', 'SQ1TDBL')).toMatchObject({
      bar: 0,
      offset: 0x1008,
      size: 4,
      reads: 0,
      writes: 400,
      path: 'trap',
      reason: 'sub-page-bar',
      via: 'vfio-fd',
    });
    expect(reg(r, 'nvme1', 'SQ1TDBL')).toMatchObject({ writes: 400, path: 'trap', reason: 'msix-table-page' });
    expect(reg(r, 'nic0', 'TDT')).toMatchObject({ offset: 0x3818, writes: 400 });
    // nic-lite interrupts every interruptBatch (8) packets; the handler reads EICR once.
    expect(reg(r, 'nic0', 'EICR')).toMatchObject({ reads: 400 / 8, writes: 0 });
    // The trapped register accesses add up to the per-area trap counts of the same BAR.
    const nvme0Traps = r.bars.find((b) => b.device === 'nvme0')!.areas.reduce((n, a) => n + (a.traps ?? 0), 0);
    const nvme0Regs = r.topRegisters!.filter((x) => x.device === 'nvme0').reduce((n, x) => n + x.reads + x.writes, 0);
    expect(nvme0Regs).toBe(nvme0Traps);
    const all = runExperiment(s, point(ALL_PATCHES), { ops: 1200 });
    expect(reg(all, 'nvme0', 'SQ1TDBL')).toMatchObject({ writes: 400, path: 'direct', reason: 'mmap-sub-page' });
    expect(reg(all, 'nvme0', 'SQ1TDBL')?.via).toBeUndefined();
  });

  it('says how each trap area is served: fd, the VMM mmap, MSI-X emulation', async () => {
    const s = await loadScenario('generic-nvme');
    // upstream P3 on a 4 KiB host: the table page may be mmapped, but the VMM still emulates
    // the table, so the rest of its page traps into the VMM's own mmap.
    const r = runExperiment(s, point({ alignBars: false, subPageMmap: false, msixMmap: true }, 'upstream'), { ops: 50 });
    const vias = new Set(r.bars.flatMap((b) => b.areas.filter((a) => a.path === 'trap').map((a) => `${a.reason}:${a.via}`)));
    expect(vias).toContain('msix-table:msix-emulation');
    expect([...vias].some((v) => v.endsWith(':vmm-mmap'))).toBe(true);
    for (const b of r.bars) for (const a of b.areas) expect(a.via === undefined).toBe(a.path === 'direct');
    const none = runExperiment(s, point(NO_PATCHES, 'upstream'), { ops: 50 });
    expect(none.bars.flatMap((b) => b.areas.filter((a) => a.path === 'trap').map((a) => a.via))).toContain('vfio-fd');
  });

  it('lists I/O BARs in bars[] with reason io-bar, never mmapped', () => {
    const ioToy = definePlugin({
      name: 'io-toy',
      kind: 'device',
      description: 'a device with a memory BAR and an I/O BAR',
      schema: z.strictObject({}),
      instance: () => 'io0',
      module: () =>
        new ContainerModule(({ bind }) => {
          bind(PciDeviceToken).toDynamicValue(
            () =>
              new ToyDevice('io0', [
                { index: 0, size: 0x1000, kind: 'mem32' },
                { index: 2, size: 32, kind: 'io' },
              ]),
          );
        }),
    });
    const s = defineScenario({
      name: 'io-bar',
      description: 'nvme-lite and a device with an I/O BAR',
      ops: 10,
      machine: (c) => passthroughMachine({ platform: 'ppc64', devices: [nvmeLite({ name: 'nvme0' }), ioToy({})] }, c),
    });
    for (const patches of [NO_PATCHES, ALL_PATCHES]) {
      const r = runExperiment(s, point(patches), { ops: 10 });
      const io = r.bars.find((b) => b.device === 'io0' && b.bar === 2);
      expect(io).toMatchObject({ size: 32, mmap: 'none', reason: 'io-bar', guestAddress: '-' });
      expect(io!.areas).toEqual([{ offset: 0, size: 32, path: 'trap', reason: 'io-bar', traps: 0, via: 'vfio-fd' }]);
    }
  });

  it('finds registers by name and names them by (device, BAR, offset)', async () => {
    const run = prepare(await loadScenario('ppc64-mixed'), point());
    try {
      expect(findRegister(run, 'nvme0', 'SQ0TDBL')).toEqual({ bar: 0, offset: 0x1000 });
      expect(findRegister(run, 'nic0', 'TDT')).toEqual({ bar: 0, offset: 0x3818 });
      expect(() => findRegister(run, 'nvme0', 'NOPE')).toThrow(/names no register "NOPE"; its registers: CAP, VS/);
      expect(() => findRegister(run, 'nvme9', 'CSTS')).toThrow(/no passed-through device "nvme9"; devices: nvme0, nic0, nvme1/);
      const name = pciRegisterNamer(run.bridge);
      expect(name('nvme0', 0, 0x1008)).toBe('SQ1TDBL');
      expect(name('nvme0', 0, 0x04)).toBe('CAP'); // the high dword of an 8-byte register
      expect(name('nvme0', 0, 0x2000)).toBe('MSIX[0]'); // named from PCI's MSI-X capability
      expect(name('nvme0', 0, 0x2010)).toBe('MSIX[1]');
      expect(name('nvme0', 0, 0x0ff0)).toBeUndefined();
      expect(name('nic0', 0, 0x1580)).toBe('EICR');
    } finally {
      run.machine.dispose();
    }
  });
});

describe('the MMIO workload (ppc64-mmio)', () => {
  // Default costs (patches.md section 9): 3.5 GHz; a trap = userspace exit (2500 cycles x 3.0)
  // + VMM dispatch 1000 + vfio fd 1500 cycles, plus the device access; a direct access is the
  // device access alone: reads 800 ns, writes 50 ns.
  const trapNs = (2500 * 3 + 1000 + 1500) / 3.5;

  it('reports MMIO accesses per simulated second as the cost parameters give them, and the all-vs-none ratio', async () => {
    const s = await loadScenario('ppc64-mmio');
    const r = runExperiment(s, point(), { ops: 600, allVsNone: true });
    expect(r.workload.unit).toBe('MMIO accesses');
    expect(r.mmio.trapped).toBe(600);
    const noneNs = 300 * (trapNs + 800) + 300 * (trapNs + 50); // half reads, half writes, all trapped
    expect(r.workload.opsPerSecond).toBeCloseTo(600 / (noneNs / 1e9), 3);
    const allNs = 300 * 800 + 300 * 50; // all three layouts go direct with P1+P2+P3
    expect(r.allVsNone!.none).toBe(r.workload.opsPerSecond);
    expect(r.allVsNone!.all).toBeCloseTo(600 / (allNs / 1e9), 3);
    expect(r.allVsNone!.ratio).toBeCloseTo(noneNs / allNs, 9);
  });

  it('follows the read/write mix and access size options, and counts one register access per op', async () => {
    const s = defineScenario({
      name: 'mmio-mix',
      description: 'nvme-lite register loop, 30% reads, 8-byte accesses',
      ops: 100,
      machine: (c) =>
        passthroughMachine(
          { platform: 'ppc64', devices: [nvmeLite({ name: 'nvme0', workload: 'mmio', mmioReadPercent: 30, mmioAccessSize: 8 })] },
          c,
        ),
    });
    const r = runExperiment(s, point(), { ops: 100 });
    // 8-byte accesses reach the device as two dwords: CSTS with the dword below it, SQ1TDBL with CQ1HDBL.
    expect(reg(r, 'nvme0', 'CSTS')).toMatchObject({ reads: 30 });
    expect(r.topRegisters!.find((x) => x.offset === 0x18)).toMatchObject({ reads: 30 });
    expect(reg(r, 'nvme0', 'SQ1TDBL')).toMatchObject({ writes: 70 });
    expect(reg(r, 'nvme0', 'CQ1HDBL')).toMatchObject({ writes: 70 });
    expect(r.mmio.trapped).toBe(100);
    expect(() => nvmeLite({ workload: 'mmio', mmioAccessSize: 2 as 4 })).toThrow(/mmioAccessSize/);
    expect(() => nicLite({ workload: 'mmio', mmioReadPercent: 101 })).toThrow(/mmioReadPercent/);
  });
});

describe('vhw explain and vhw run by register', () => {
  const bin = join(resolve(__dirname, '..'), 'packages/cli/bin/vhw.mjs');
  const vhw = (...args: string[]) =>
    spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });

  it('explains an access given as DEVICE:REGISTER, as the same BAR offset', () => {
    const byName = vhw('explain', 'ppc64-mixed', '--address', 'nvme0:SQ0TDBL');
    expect(byName.status).toBe(0);
    expect(byName.stdout).toContain('register: SQ0TDBL');
    expect(byName.stdout).toMatch(/reason: sub-page-bar/);
    const byOffset = vhw('explain', 'ppc64-mixed', '--address', 'nvme0:BAR0+0x1000');
    expect(byOffset.stdout).toBe(byName.stdout);
    const bad = vhw('explain', 'ppc64-mixed', '--address', 'nvme0:SQ9TDBL');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/device nvme0 names no register "SQ9TDBL"; its registers: CAP/);
  });

  it('vhw run ppc64-mmio prints MMIO accesses per second and the all-vs-none ratio', () => {
    const r = vhw('run', 'ppc64-mmio', '--ops', '300');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/simulated MMIO accesses\/s +│ [\d,]+/);
    expect(r.stdout).toMatch(/all vs none +│ \d+\.\d+x/);
  });
});
