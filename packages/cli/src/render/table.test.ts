import { describe, expect, it } from 'vitest';
import { runTable, sweepTable } from './table.js';
import { makeRun, makeSweep } from './fixtures.js';

const ESC = '\u001b';

function dataLines(t: string, needle: string): string[] {
  return t.split('\n').filter((l) => l.includes(needle));
}

describe('sweepTable', () => {
  it('has one row per (variant, combination) with the speed-up against the right none row', () => {
    const results = makeSweep(['igbvf-like', 'nvme-16k']);
    const t = sweepTable(results, { color: false });
    expect(dataLines(t, 'igbvf-like')).toHaveLength(16);
    expect(dataLines(t, 'nvme-16k')).toHaveLength(16);
    // Upstream runs have twice the ops/s of rfc-2015 ones, yet the ratio is per variant.
    const upstreamAll = dataLines(t, 'upstream').filter((l) => l.includes('8,000,000'));
    expect(upstreamAll).toHaveLength(2);
    for (const l of upstreamAll) expect(l).toContain('4.00x');
    for (const l of dataLines(t, 'rfc-2015').filter((l) => l.includes('1,000,000'))) expect(l).toContain('1.00x');
    expect(t).toContain('P1 align-bars');
    expect(t).toContain('P2 subpage-mmap');
    expect(t).toContain('P3 msix-mmap');
    expect(t).toContain('✓');
    expect(t).toContain('·');
    expect(t).toContain('dominant trap');
    expect(t).toContain('sub-page-bar');
  });

  it('puts none first within each group', () => {
    const results = makeSweep(['s']).reverse();
    const rows = dataLines(sweepTable(results, { color: false }), ' s ');
    // Reversed input: the upstream group appears first, each group starts with its none row.
    expect(rows[0]).toMatch(/upstream .*· .*· .*· .*2,000,000 .*1\.00x/);
    expect(rows[7]).toMatch(/upstream .*✓ .*✓ .*✓ .*8,000,000 .*4\.00x/);
    expect(rows[8]).toMatch(/rfc-2015 .*· .*· .*· .*1,000,000 .*1\.00x/);
  });

  it('emits no escape codes without colour and some with it', () => {
    const results = makeSweep(['s']);
    expect(sweepTable(results, { color: false })).not.toContain(ESC);
    expect(sweepTable(results, { color: true })).toContain(ESC);
  });

  it('defaults to no colour when stdout is not a TTY', () => {
    const desc = Object.getOwnPropertyDescriptor(process.stdout, 'isTTY');
    Object.defineProperty(process.stdout, 'isTTY', { value: false, configurable: true });
    try {
      expect(sweepTable(makeSweep(['s']))).not.toContain(ESC);
      expect(runTable(makeRun())).not.toContain(ESC);
    } finally {
      if (desc) Object.defineProperty(process.stdout, 'isTTY', desc);
      else delete (process.stdout as { isTTY?: boolean }).isTTY;
    }
  });

  it('shows on/off and ASCII borders in ascii mode', () => {
    const t = sweepTable(makeSweep(['s']).slice(0, 2), { color: false, ascii: true });
    expect(t).toMatch(/^[\x20-\x7e\n]*$/);
    expect(dataLines(t, ' s ')[1]).toMatch(/\|\s+on\s+\|\s+off\s+\|\s+off\s+\|/);
  });

  it('adds a vary column titled with the field, and n/a where no none run exists', () => {
    const t = sweepTable([makeRun({ vary: { field: 'exit.directCycles', value: 2500 }, patches: { msixMmap: true } })], { color: false });
    expect(t).toContain('exit.directCycles');
    expect(t).toContain('2500');
    expect(t).toContain('n/a');
  });

  it('returns an empty string for no results', () => {
    expect(sweepTable([], { color: false })).toBe('');
  });
});

describe('runTable', () => {
  it('summarises the run, its traps, BARs and top trapped pages', () => {
    const r = makeRun({ patches: { alignBars: true, subPageMmap: true }, opsPerSecond: 2_000_000 });
    const t = runTable(r, { color: false });
    expect(t).not.toContain(ESC);
    expect(t).toContain('igbvf-like');
    expect(t).toContain('rfc-2015');
    expect(t).toContain('10,000'); // workload ops
    expect(t).toContain('5 ms'); // simulated time: 10,000 ops at 2e6 ops/s
    expect(t).toContain('2,000,000'); // ops/s
    expect(t).toMatch(/MMIO direct\s+│ 5,000\s+\(83\.3%\)/);
    expect(t).toMatch(/MMIO trapped\s+│ 1,000\s+\(16\.7%\)/);
    expect(t).toMatch(/sub-page-bar\s+│\s+900 │\s+90\.0%/);
    const bar0 = dataLines(t, '0x3fe080000000')[0];
    expect(bar0).toMatch(/│ vf0\s+│\s+0 │/);
    expect(bar0).toContain('full');
    const bar3 = dataLines(t, '0x3fe080010000')[0];
    expect(bar3).toContain('partial');
    expect(bar3).toContain('msix-table-page');
    expect(t).toContain('+0x2000 8 KiB direct (mmap)');
    expect(dataLines(t, '0x200080000000').some((l) => /│\s+900 │ sub-page-bar/.test(l))).toBe(true);
  });
});
