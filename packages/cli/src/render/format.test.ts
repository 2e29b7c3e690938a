import { describe, expect, it } from 'vitest';
import { patchShortLabel } from '@vhw/core';
import { displayOrder, dominantReason, escapeXml, formatBytes, formatSpeedup, speedupsVsNone } from './format.js';
import { ALL_COMBOS, makeRun } from './fixtures.js';
import { checkXml } from './xml-check.js';

describe('patchShortLabel', () => {
  it('names the eight combinations in display order', () => {
    expect(ALL_COMBOS.map(patchShortLabel)).toEqual(['none', 'P1', 'P2', 'P3', 'P1+P2', 'P1+P3', 'P2+P3', 'P1+P2+P3']);
  });
});

describe('speedupsVsNone', () => {
  it('divides by the none run of the same scenario, variant and vary point, wherever it sits', () => {
    const full = { alignBars: true, subPageMmap: true, msixMmap: true };
    const results = [
      makeRun({ scenario: 'a', variant: 'upstream', patches: full, opsPerSecond: 900, vary: { field: 'f', value: 2 } }),
      makeRun({ scenario: 'a', variant: 'rfc-2015', patches: full, opsPerSecond: 600, vary: { field: 'f', value: 2 } }),
      makeRun({ scenario: 'b', variant: 'rfc-2015', opsPerSecond: 50, vary: { field: 'f', value: 2 } }), // other scenario's none
      makeRun({ scenario: 'a', variant: 'rfc-2015', opsPerSecond: 300, vary: { field: 'f', value: 1 } }), // other vary point's none
      makeRun({ scenario: 'a', variant: 'rfc-2015', opsPerSecond: 200, vary: { field: 'f', value: 2 } }),
      makeRun({ scenario: 'a', variant: 'upstream', opsPerSecond: 450, vary: { field: 'f', value: 2 } }),
      makeRun({ scenario: 'a', variant: 'rfc-2015', patches: full, opsPerSecond: 600, vary: { field: 'f', value: 1 } }),
      makeRun({ scenario: 'c', variant: 'rfc-2015', patches: full, opsPerSecond: 600 }), // no none in its group
    ];
    const s = speedupsVsNone(results);
    expect(s[0]).toBeCloseTo(2); // 900 / 450 (upstream, f=2)
    expect(s[1]).toBeCloseTo(3); // 600 / 200 (rfc, f=2)
    expect(s[2]).toBeCloseTo(1);
    expect(s[4]).toBeCloseTo(1);
    expect(s[6]).toBeCloseTo(2); // 600 / 300 (rfc, f=1)
    expect(s[7]).toBeUndefined();
  });

  it('does not compare across platforms of one scenario', () => {
    const full = { alignBars: true, subPageMmap: true, msixMmap: true };
    const s = speedupsVsNone([
      makeRun({ pageSize: 4096, opsPerSecond: 100 }),
      makeRun({ pageSize: 65536, opsPerSecond: 10 }),
      makeRun({ pageSize: 65536, patches: full, opsPerSecond: 20 }),
    ]);
    expect(s[2]).toBeCloseTo(2);
  });

  it('gives no ratio when the baseline has zero ops/s', () => {
    expect(speedupsVsNone([makeRun({ opsPerSecond: 0 }), makeRun({ patches: { msixMmap: true } })])[1]).toBeUndefined();
  });
});

describe('displayOrder', () => {
  it('keeps groups in order of appearance and sorts combinations inside a group', () => {
    const r = [
      makeRun({ scenario: 'z', patches: { alignBars: true, subPageMmap: true, msixMmap: true } }),
      makeRun({ scenario: 'a', patches: { msixMmap: true } }),
      makeRun({ scenario: 'z' }),
      makeRun({ scenario: 'a' }),
    ];
    expect(displayOrder(r).map((i) => `${r[i]!.scenario}:${patchShortLabel(r[i]!.patches)}`)).toEqual([
      'z:none',
      'z:P1+P2+P3',
      'a:none',
      'a:P3',
    ]);
  });
});

describe('small formatters', () => {
  it('picks the dominant trap reason, alphabetically on ties, none when no trap', () => {
    expect(dominantReason({ b: 5, a: 5, c: 1 })).toBe('a');
    expect(dominantReason({ x: 0 })).toBeUndefined();
    expect(dominantReason({})).toBeUndefined();
  });
  it('formats ratios, sizes', () => {
    expect(formatSpeedup(1.9734)).toBe('1.97x');
    expect(formatSpeedup(undefined)).toBe('n/a');
    expect(formatBytes(16384)).toBe('16 KiB');
    expect(formatBytes(2 * 1024 * 1024)).toBe('2 MiB');
    expect(formatBytes(32)).toBe('32 B');
  });
  it('escapes XML metacharacters and drops characters XML forbids', () => {
    expect(escapeXml(`<a href="x">&'\u0001`)).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&#39;');
    expect(checkXml(`<t a="${escapeXml('"<&>')}">${escapeXml('<&>\u0000')}</t>`).error).toBeNull();
  });
});
