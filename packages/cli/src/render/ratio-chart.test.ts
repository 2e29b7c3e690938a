import { describe, expect, it } from 'vitest';
import { makeSweep } from './fixtures.js';
import { ratioChartSvg } from './ratio-chart.js';
import { checkXml } from './xml-check.js';

describe('ratioChartSvg', () => {
  it('draws all/none against the varied field with the reference line and its label', async () => {
    const rows = [
      ...makeSweep(['mmio'], 1e6, { field: 'exit.userspaceFactor', value: 1 }),
      ...makeSweep(['mmio'], 2e6, { field: 'exit.userspaceFactor', value: 3 }),
    ];
    const svg = await ratioChartSvg(rows);
    expect(() => checkXml(svg)).not.toThrow();
    expect(svg).toContain('all / none against exit.userspaceFactor');
    expect(svg).toContain('cover letter');
    expect(svg).toContain('mmio rfc-2015');
    expect(svg).toContain('mmio upstream');
  });

  it('says so when no row has a vary point', async () => {
    const svg = await ratioChartSvg(makeSweep(['mmio']));
    expect(svg).toContain('no --vary rows');
  });

  it('is drawn for reading: text of 11 px or more, as wide as the other charts', async () => {
    const rows = [1, 2, 3].flatMap((v) => makeSweep(['mmio'], 1e6, { field: 'exit.userspaceFactor', value: v }));
    const svg = await ratioChartSvg(rows);
    const sizes = [...svg.matchAll(/font-size="(\d+(?:\.\d+)?)(?:px)?"/g)].map((m) => Number(m[1]));
    expect(sizes.length).toBeGreaterThan(0);
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(11);
    expect(Number(/width="(\d+)"/.exec(svg)![1])).toBeGreaterThanOrEqual(640);
  });

  it('draws equal lines once, named together, and one line with no legend', async () => {
    // makeSweep gives both variants the same all/none: one line, named for both.
    const rows = [1, 3].flatMap((v) => makeSweep(['mmio'], 1e6, { field: 'exit.userspaceFactor', value: v }));
    const svg = await ratioChartSvg(rows);
    expect(svg).toContain('mmio rfc-2015 = mmio upstream');
    expect(svg.match(/aria-roledescription="line mark"/g)).toHaveLength(1);
    expect(svg).not.toContain('role-legend');
  });

  it('puts log-spaced points on a log axis', async () => {
    const rows = [500, 1000, 2000, 4000].flatMap((v) =>
      makeSweep(['mmio'], 1e6, { field: 'exit.inKernelRoundTripCycles', value: v }).filter((r) => r.variant === 'rfc-2015'),
    );
    expect(await ratioChartSvg(rows)).toContain('logarithmic x axis');
    const linear = [1, 2, 3].flatMap((v) => makeSweep(['mmio'], 1e6, { field: 'exit.userspaceFactor', value: v }));
    expect(await ratioChartSvg(linear)).not.toContain('logarithmic');
  });
});
