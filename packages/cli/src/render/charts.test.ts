import { describe, expect, it } from 'vitest';
import { sweepChartSvg, varyChartSvg } from './charts.js';
import { makeRun, makeSweep } from './fixtures.js';
import { checkXml } from './xml-check.js';
import type { RunResult } from '@vhw/experiment';

/** Text content of all <text> elements (entities decoded for the few vega emits). */
function texts(svg: string): string[] {
  const out: string[] = [];
  let i = svg.indexOf('<text');
  while (i >= 0) {
    const start = svg.indexOf('>', i) + 1;
    const end = svg.indexOf('</text>', start);
    out.push(
      svg
        .slice(start, end)
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&quot;/g, '"')
        .replace(/&#39;/g, "'")
        .replace(/&amp;/g, '&'),
    );
    i = svg.indexOf('<text', end);
  }
  return out;
}

function varySweep(): RunResult[] {
  return [1000, 2000, 4000].flatMap((v, k) =>
    makeSweep(['igbvf-like'], 1e6, { field: 'exit.directCycles', value: v }).map((r) => {
      if (r.patches.alignBars && r.patches.subPageMmap && r.patches.msixMmap) r.workload.opsPerSecond *= 1 + k; // 4x, 8x, 12x
      return r;
    }),
  );
}

describe('sweepChartSvg', () => {
  it('renders a well-formed SVG with every combination, both variants and speed-up labels', async () => {
    const svg = await sweepChartSvg(makeSweep(['igbvf-like']));
    expect(svg.startsWith('<svg')).toBe(true);
    const check = checkXml(svg);
    expect(check.error).toBeNull();
    expect(check.root).toBe('svg');
    const t = texts(svg);
    for (const c of ['none', 'P1', 'P2', 'P3', 'P1+P2', 'P1+P3', 'P2+P3', 'P1+P2+P3']) expect(t).toContain(c);
    expect(t).toContain('rfc-2015');
    expect(t).toContain('upstream');
    expect(t).toContain('4.00x');
    expect(t).toContain('ops/s');
    expect(t.some((s) => s.includes('igbvf-like'))).toBe(true);
  });

  it('gives one panel per scenario and shares the speed-up axis', async () => {
    const svg = await sweepChartSvg(makeSweep(['igbvf-like', 'nvme <16k> & co']), { measure: 'speedup' });
    expect(checkXml(svg).error).toBeNull();
    const t = texts(svg);
    expect(t).toContain('igbvf-like');
    expect(t).toContain('nvme <16k> & co');
    expect(t).toContain('speed-up vs none');
    expect(t.filter((s) => s === 'P1+P2+P3')).toHaveLength(2);
  });

  it('is deterministic', async () => {
    const r = makeSweep(['a', 'b']);
    expect(await sweepChartSvg(r)).toBe(await sweepChartSvg(r));
  });

  it('returns a small message SVG when there is nothing to plot', async () => {
    const svg = await sweepChartSvg([]);
    expect(checkXml(svg).error).toBeNull();
    expect(svg).toContain('no results');
  });
});

describe('varyChartSvg', () => {
  it('plots the all-patches speed-up against the varied value, x axis titled with the field', async () => {
    const svg = await varyChartSvg(varySweep());
    expect(svg.startsWith('<svg')).toBe(true);
    expect(checkXml(svg).error).toBeNull();
    const t = texts(svg);
    expect(t).toContain('exit.directCycles');
    expect(t).toContain('speed-up vs none');
    expect(t).toContain('rfc-2015');
    expect(t).toContain('upstream');
    // Two lines (one per variant) through three points each.
    const lines = svg
      .split('aria-roledescription="line mark"')
      .slice(1)
      .map((rest) => rest.slice(0, rest.indexOf('/>')));
    expect(lines).toHaveLength(2);
    for (const l of lines) {
      const d = l.slice(l.indexOf('d="') + 3, l.indexOf('"', l.indexOf('d="') + 3));
      expect(d.split('L')).toHaveLength(3);
    }
    expect(svg).toContain('exit.directCycles: 4000; speed-up vs none: 12');
  });

  it('can show every combination, and is deterministic', async () => {
    const r = varySweep();
    const svg = await varyChartSvg(r, { combinations: 'all' });
    expect(checkXml(svg).error).toBeNull();
    const t = texts(svg);
    for (const c of ['P1', 'P2', 'P3', 'P1+P2', 'P1+P2+P3']) expect(t).toContain(c);
    expect(t).not.toContain('none');
    expect(svg).toBe(await varyChartSvg(r, { combinations: 'all' }));
  });

  it('says so when no result has a vary point', async () => {
    const svg = await varyChartSvg(makeSweep(['s']));
    expect(checkXml(svg).error).toBeNull();
    expect(svg).toContain('no vary results');
  });

  it('leaves out groups without a none run', async () => {
    const svg = await varyChartSvg([
      makeRun({ vary: { field: 'f', value: 1 }, patches: { alignBars: true, subPageMmap: true, msixMmap: true } }),
    ]);
    expect(svg).toContain('no vary results');
  });
});
