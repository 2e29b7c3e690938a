/** `--msix-relocation` on run, sweep, map and explain, and the fields it adds to their output. */
import { describe, expect, it } from 'vitest';
import { parseRelocations, sweepGrid } from '@vhw/experiment';
import { vhw } from './in-process.js';

const POINT = ['generic-nvme', '--page-size', '64k', '--variant', 'upstream', '--patches', 'all'];

describe('--msix-relocation', () => {
  it('sweep: both is off and auto as a dimension of the grid; not given leaves the grid as it was', () => {
    expect(parseRelocations(undefined)).toEqual([undefined]);
    expect(parseRelocations('both')).toEqual(['off', 'auto']);
    expect(parseRelocations('bar3')).toEqual(['bar3']);
    expect(() => parseRelocations('bar6')).toThrow(/allowed: off, auto, bar0, .*bar5, both/);
    expect(sweepGrid('s', ['upstream'])).toEqual(sweepGrid('s', ['upstream'], undefined, [undefined]));
    const grid = sweepGrid('s', ['upstream'], undefined, ['off', 'auto']);
    expect(grid.map((p) => p.relocation)).toEqual([...Array(8).fill('off'), ...Array(8).fill('auto')]);
  });

  it('run: the result records the relocation and marks the BAR that holds the table', async () => {
    const r = await vhw('run', ...POINT, '--msix-relocation', 'auto', '--ops', '50', '--format', 'json');
    expect(r.code).toBe(0);
    const row = JSON.parse(r.raw) as { relocation: string; bars: Array<{ bar: number; size: number; msixRelocated?: { added: boolean } }> };
    expect(row.relocation).toBe('auto');
    expect(row.bars.find((b) => b.bar === 2)).toMatchObject({ size: 65536, msixRelocated: { added: true } });
    expect(row.bars.find((b) => b.bar === 0)!.msixRelocated).toBeUndefined();
    const off = JSON.parse((await vhw('run', ...POINT, '--ops', '50', '--format', 'json')).raw) as { relocation: string; bars: unknown[] };
    expect(off.relocation).toBe('off');
    expect(JSON.stringify(off.bars)).not.toContain('msixRelocated');
  });

  it('refuses an unknown mode with the allowed ones', async () => {
    const r = await vhw('run', ...POINT, '--msix-relocation', 'bar9');
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/allowed: off, auto, bar0, bar1, bar2, bar3, bar4, bar5/);
  });

  it('map: the page map lists the relocated table and what became of the device table page', async () => {
    const r = await vhw('map', ...POINT, '--msix-relocation', 'auto', '--format', 'json');
    const map = JSON.parse(r.raw) as { msixRelocations: Array<{ bar: number; deviceTable: { path: string; why: string } }> };
    expect(map.msixRelocations).toHaveLength(1);
    expect(map.msixRelocations[0]).toMatchObject({ bar: 2, deviceTable: { path: 'direct' } });
  });

  it('explain: names the relocated BAR and why the device table page is mapped', async () => {
    const r = await vhw('explain', ...POINT, '--msix-relocation', 'auto', '--address', 'nvme0:BAR0+0x2000');
    expect(r.code).toBe(0);
    expect(r.raw).toMatch(/MSI-X relocation \(x-msix-relocation=auto.*table at BAR2\+0x0/);
    expect(r.raw).toMatch(/device's own table at BAR0\+0x2000 .* is mapped direct/);
    expect(r.raw).toMatch(/path: direct/);
  });
});
