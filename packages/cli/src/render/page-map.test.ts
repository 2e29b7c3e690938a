import { describe, expect, it } from 'vitest';
import { pageMapSvg, pageMapText } from './page-map.js';
import { pageMapFixture } from './fixtures.js';
import { checkXml } from './xml-check.js';

function count(s: string, needle: string): number {
  return s.split(needle).length - 1;
}

describe('pageMapSvg', () => {
  it('is a well-formed SVG with one row per host page', () => {
    const map = pageMapFixture();
    const svg = pageMapSvg(map, { title: 'igbvf & <nvme>' });
    expect(svg.startsWith('<svg')).toBe(true);
    const check = checkXml(svg);
    expect(check.error).toBeNull();
    expect(check.root).toBe('svg');
    expect(count(svg, '<g class="page"')).toBe(map.pages.length);
    expect(count(svg, '<g class="piece"')).toBe(4);
    expect(svg).toContain('data-host-pa="0x3fe080000000"');
    expect(svg).toContain('data-host-pa="0x3fe080020000"');
    expect(svg).toContain('>PE#1<');
    expect(svg).toContain('>PE#2<');
    expect(svg).toContain('igbvf &amp; &lt;nvme&gt;');
  });

  it('escapes device names and never emits them raw', () => {
    const svg = pageMapSvg(pageMapFixture());
    expect(svg).not.toContain('nvme<&>');
    expect(svg).toContain('nvme&lt;&amp;&gt;&quot;x&quot;:BAR0');
    expect(checkXml(svg).error).toBeNull();
  });

  it('places and sizes pieces in proportion to offset and size, coloured by path', () => {
    const svg = pageMapSvg(pageMapFixture());
    // The 640 px page bar: an 8 KiB piece is 80 px wide; the one at +8 KiB starts 80 px later.
    const rects = svg.split('\n').filter((l) => l.includes('height="34"'));
    const xs = rects.map(
      (r) => [Number(/x="([\d.]+)"/.exec(r)![1]), Number(/width="([\d.]+)"/.exec(r)![1]), /fill="([^"]+)"/.exec(r)![1]] as const,
    );
    const base = xs[0]![0];
    expect(xs[0]![1]).toBe(160); // 16 KiB direct
    expect(xs[1]).toEqual([base, 80, xs[0]![2]]); // same green as the first direct piece
    expect(xs[2]![0]).toBe(base + 80);
    expect(xs[2]![2]).not.toBe(xs[1]![2]); // trap colour differs from direct
    expect(xs[3]![0]).toBe(base + 160);
    expect(xs[3]![1]).toBe(40); // 4 KiB
    expect(new Set(xs.map((x) => x[2])).size).toBe(3);
  });

  it('has a legend naming each path', () => {
    const svg = pageMapSvg(pageMapFixture());
    for (const k of ['direct:', 'trap:', 'unmapped:', 'free:']) expect(svg).toContain(`>${k}`);
  });

  it('draws an empty map without error', () => {
    const svg = pageMapSvg({ pageSize: 4096, pages: [] });
    expect(checkXml(svg).error).toBeNull();
    expect(count(svg, '<g class="page"')).toBe(0);
    expect(svg).toContain('4 KiB pages');
  });
});

describe('pageMapText', () => {
  it('prints one line per page with a bar, then one line per piece', () => {
    const text = pageMapText(pageMapFixture());
    const lines = text.trimEnd().split('\n');
    const pageLines = lines.filter((l) => l.startsWith('0x'));
    expect(pageLines).toHaveLength(3);
    expect(pageLines[0]).toContain('[DDDDDDDD........................]');
    expect(pageLines[0]).toMatch(/direct$/);
    expect(pageLines[1]).toContain('[DDDDTTTT--......................]');
    expect(pageLines[1]).toMatch(/mixed$/);
    expect(pageLines[2]).toContain('[................................]');
    expect(lines.filter((l) => l.startsWith('    '))).toHaveLength(4);
    expect(text).toContain('nvme<&>"x":BAR0  +0x2000  8 KiB  trap  msix-table-page');
  });

  it('shows a tiny trap piece in at least one cell and replaces control characters', () => {
    const text = pageMapText({
      pageSize: 65536,
      pages: [
        { hostPa: 0, path: 'trap', pieces: [{ device: 'd\u001b[31m', bar: 0, offset: 0, size: 32, path: 'trap', reason: 'sub-page-bar' }] },
      ],
    });
    expect(text).toContain('[T...............................]');
    expect(text).not.toContain('\u001b');
  });
});
