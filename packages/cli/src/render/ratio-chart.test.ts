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
});
