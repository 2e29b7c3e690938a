import { describe, expect, it } from 'vitest';
import { heatMapSvg, isLogSpaced, sweepChartSvg, varyChartSvg } from './charts.js';
import { makeGrid, makeRun, makeSweep } from './fixtures.js';
import { varyOf } from './format.js';
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
    expect(t).toContain('simulated ops/s');
    expect(t.some((s) => s.includes('igbvf-like'))).toBe(true);
  });

  it('draws labels of at least 11 px, and names a single variant in the subtitle instead of a legend', async () => {
    const svg = await sweepChartSvg(
      makeSweep(['s']).filter((r) => r.variant === 'upstream'),
      { measure: 'speedup' },
    );
    const sizes = [...svg.matchAll(/font-size="?(\d+(?:\.\d+)?)px/g)].map((m) => Number(m[1]));
    expect(sizes.length).toBeGreaterThan(0);
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(11);
    expect(texts(svg)).toContain('variant: upstream');
    expect(svg).not.toContain('role-legend');
    expect(Number(/width="(\d+)"/.exec(svg)![1])).toBeGreaterThan(540);
  });

  it('lays out panels without an empty one', async () => {
    const runs = [1, 2, 3, 4, 5].flatMap((v) => makeSweep(['s'], 1e6, { field: 'f', value: v }));
    const svg = await sweepChartSvg(runs, { measure: 'speedup' });
    // One x axis per panel, none for a sixth, empty cell.
    expect(texts(svg).filter((s) => s === 'patch combination')).toHaveLength(5);
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
    const runs = varySweep();
    for (const r of runs) {
      const all = r.patches.alignBars && r.patches.subPageMmap && r.patches.msixMmap;
      if (all && r.variant === 'upstream' && varyOf(r)[0]?.value === 1000) r.workload.opsPerSecond *= 0.5;
    }
    const svg = await varyChartSvg(runs);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(checkXml(svg).error).toBeNull();
    const t = texts(svg);
    expect(t).toContain('exit.directCycles');
    expect(t).toContain('speed-up vs none');
    expect(t).toContain('rfc-2015');
    expect(t).toContain('upstream');
    // Two lines (one per variant) through three points each, with different dash patterns.
    const lines = svg
      .split('aria-roledescription="line mark"')
      .slice(1)
      .map((rest) => rest.slice(0, rest.indexOf('/>')));
    expect(lines).toHaveLength(2);
    for (const l of lines) {
      const d = l.slice(l.indexOf('d="') + 3, l.indexOf('"', l.indexOf('d="') + 3));
      expect(d.split('L')).toHaveLength(3);
    }
    const dashes = lines.map((l) => /stroke-dasharray="([^"]*)"/.exec(l)?.[1] ?? 'solid');
    expect(new Set(dashes).size).toBe(2);
    expect(svg).toContain('exit.directCycles: 4000; speed-up vs none: 12');
  });

  it('draws equal lines once and names them together, so none hides another', async () => {
    const svg = await varyChartSvg(varySweep());
    expect(svg.split('aria-roledescription="line mark"')).toHaveLength(2);
    expect(texts(svg)).toContain('rfc-2015 = upstream');
  });

  it('can show every combination, and is deterministic', async () => {
    const r = varySweep();
    const svg = await varyChartSvg(r, { combinations: 'all' });
    expect(checkXml(svg).error).toBeNull();
    const t = texts(svg);
    expect(t).toContain('P1 both = P2 both = P3 both');
    expect(t).toContain('P1+P2 both = P1+P3 both = P2+P3 both');
    expect(t).toContain('P1+P2+P3 both');
    expect(t).not.toContain('none');
    expect(svg).toBe(await varyChartSvg(r, { combinations: 'all' }));
  });

  it('uses a log axis for log-spaced points', async () => {
    expect(isLogSpaced([1, 10, 100, 1000])).toBe(true);
    expect(isLogSpaced([0, 10, 100])).toBe(false);
    expect(isLogSpaced([1000, 2000, 3000])).toBe(false);
    const runs = [100, 1000, 10000].flatMap((v) => makeSweep(['s'], 1e6, { field: 'f', value: v }));
    expect(texts(await varyChartSvg(runs))).toContain('log-spaced points, logarithmic x axis');
    const linear = [1000, 2000, 3000].flatMap((v) => makeSweep(['s'], 1e6, { field: 'f', value: v }));
    expect(texts(await varyChartSvg(linear))).not.toContain('log-spaced points, logarithmic x axis');
  });

  it('reads the array form of a vary point', async () => {
    const runs = [1, 2].flatMap((v) => makeSweep(['s'], 1e6, [{ field: 'f', value: v }]));
    expect(texts(await varyChartSvg(runs))).toContain('f');
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

describe('heatMapSvg', () => {
  it('draws a 2-D grid as labelled cells, one panel per variant', async () => {
    const runs = makeGrid();
    for (const r of runs)
      if (r.variant === 'upstream' && r.patches.msixMmap && r.patches.alignBars && r.patches.subPageMmap) r.workload.opsPerSecond *= 1.5;
    const svg = await heatMapSvg(runs);
    expect(checkXml(svg).error).toBeNull();
    const t = texts(svg);
    expect(t).toContain('guest.ioStackNs');
    expect(t).toContain('exit.userspaceFactor');
    expect(t).toContain('igbvf-like, rfc-2015');
    expect(t).toContain('igbvf-like, upstream');
    expect(t.filter((s) => s === '8.00x')).toHaveLength(1); // rfc-2015: io 0, factor 2
    expect(t.filter((s) => s === '12.00x')).toHaveLength(1); // upstream, 1.5 times as fast
    expect(t.filter((s) => s === '1.33x')).toHaveLength(1); // rfc-2015: io 10000, factor 1
  });

  it('draws variants with equal grids once, under a joined name', async () => {
    const t = texts(await heatMapSvg(makeGrid()));
    expect(t.some((s) => s.endsWith('igbvf-like, rfc-2015 = upstream'))).toBe(true);
    expect(t.filter((s) => s === '8.00x')).toHaveLength(1);
  });

  it('says so without 2-D rows, and the vary chart leaves 2-D rows out', async () => {
    expect(await heatMapSvg(makeSweep(['s']))).toContain('no grid results');
    expect(await varyChartSvg(makeGrid())).toContain('no vary results');
  });
});
