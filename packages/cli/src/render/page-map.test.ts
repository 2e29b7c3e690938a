import { describe, expect, it } from 'vitest';
import type { PageMap } from '@vhw/experiment';
import { pageMapSvg, pageMapText, relocatedBarsOf } from './page-map.js';
import { crowdedPageFixture, pageMapFixture } from './fixtures.js';
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

describe('pageMapSvg labels and marks', () => {
  /** Text content of every <text> element. */
  const texts = (svg: string) => [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]!.replace(/&quot;/g, '"'));

  it('names every BAR in full or by a tag listed in the key, never truncated', () => {
    const { map, marks } = crowdedPageFixture();
    const svg = pageMapSvg(map, { marks, bars: [{ device: 'echo0', bar: 2, label: 'msix', size: 4096 }] });
    expect(checkXml(svg).error).toBeNull();
    const t = texts(svg);
    expect(t.some((s) => s.includes('…'))).toBe(false);
    // 4 KiB pieces (40 px) carry their tag inside; 1 KiB pieces (10 px) have it on a leader line.
    for (const tag of ['A', 'B', 'C', 'D', 'E']) expect(t.filter((s) => s === tag).length).toBeGreaterThanOrEqual(2);
    expect(count(svg, '<g class="leader">')).toBeGreaterThanOrEqual(2 + 2); // D, E and the two marks
    expect(t).toContain('echo0:BAR2 "msix", 4 KiB: trap: msix-table-page; MSI-X table at +0x0 (256 B); PBA at +0x800 (8 B)');
    expect(t).toContain('echo0:BAR4, 1 KiB: direct: mmap-sub-page');
  });

  it('marks the MSI-X table and PBA inside their BAR, and names them in the legend', () => {
    const { map, marks } = crowdedPageFixture();
    const svg = pageMapSvg(map, { marks });
    expect(count(svg, '<g class="mark" data-kind="msix-table">')).toBe(1);
    expect(count(svg, '<g class="mark" data-kind="msix-pba">')).toBe(1);
    // The table strip starts where BAR2 does: 8 KiB into the page, 80 px right of the page's left edge.
    const page = Number(/<rect x="(\d+)" y="\d+" width="640"/.exec(svg)![1]);
    const table = svg.slice(svg.indexOf('data-kind="msix-table"'));
    expect(Number(/<rect x="([\d.]+)"/.exec(table)![1])).toBe(page + 80);
    expect(texts(svg)).toContain('MSI-X table (C)');
    expect(texts(svg)).toContain('PBA');
  });

  it('draws a BAR emulated by the VMM (relocated MSI-X) in a row of its own', () => {
    const svg = pageMapSvg(pageMapFixture(), {
      emulated: [
        {
          device: 'vf0',
          bar: 5,
          size: 8192,
          table: { offset: 0, size: 48 },
          pba: { offset: 4096, size: 8 },
          reason: 'msix relocated from BAR3',
        },
      ],
    });
    expect(checkXml(svg).error).toBeNull();
    expect(count(svg, '<g class="emulated-bar"')).toBe(1);
    expect(svg).toContain('emulated by the VMM, no host page behind it');
    expect(svg).toContain('emulated: relocated MSI-X BAR');
    expect(texts(svg).some((s) => s.startsWith('vf0:BAR5, 8 KiB: emulated: msix relocated from BAR3; MSI-X table at +0x0'))).toBe(true);
  });

  it('keeps every text at 11 px or more', () => {
    const { map, marks } = crowdedPageFixture();
    const sizes = [...pageMapSvg(map, { marks }).matchAll(/font-size="(\d+)"/g)].map((m) => Number(m[1]));
    expect(Math.min(...sizes)).toBeGreaterThanOrEqual(11);
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

/** The fixture with two relocated tables: one in a BAR the VMM added, one in the upper part of an enlarged BAR0. */
function relocatedFixture(): PageMap {
  const table = { offset: 0, size: 64 };
  const deviceTable = { bar: 0, offset: 0x2000, size: 64, hostPage: 0x3fe080010000, path: 'trap' as const, reasons: ['x'], why: 'why' };
  return {
    ...pageMapFixture(),
    msixRelocations: [
      {
        device: 'vf0',
        bar: 2,
        guestAddress: 0x40000000,
        guestSize: 65536,
        added: true,
        deviceSize: 0,
        table,
        pba: { offset: 64, size: 8 },
        emulated: true,
        auto: true,
        deviceTable: { ...deviceTable, path: 'direct', reasons: ['mmap'], why: 'mapped direct' },
      },
      {
        device: 'nvme<&>"x"',
        bar: 0,
        guestAddress: 0x40100000,
        guestSize: 131072,
        added: false,
        deviceSize: 16384,
        table: { offset: 65536, size: 64 },
        pba: { offset: 65600, size: 8 },
        emulated: true,
        auto: false,
        deviceTable: { ...deviceTable, reasons: ['msix-relocation-page'], why: 'still trapped' },
      },
    ],
  };
}

describe('relocated MSI-X in the page map', () => {
  it('draws every relocated table by default: an added BAR whole, an enlarged one above the device part', () => {
    const map = relocatedFixture();
    expect(relocatedBarsOf(map)).toEqual([
      expect.objectContaining({ device: 'vf0', bar: 2, size: 65536, reason: 'msix relocated from BAR0 (a BAR the VMM added)' }),
      expect.objectContaining({ bar: 0, size: 131072 - 16384, start: 16384, reason: 'msix relocated from BAR0 (BAR enlarged to 128 KiB)' }),
    ]);
    const svg = pageMapSvg(map);
    expect(checkXml(svg).error).toBeNull();
    expect(count(svg, '<g class="emulated-bar"')).toBe(2);
    expect(svg).toContain('64 KiB (whole BAR)');
    expect(svg).toContain('112 KiB from +0x4000');
    // The enlarged BAR's key keeps what its device part says and adds the emulated part.
    expect(svg).toMatch(/nvme&lt;&amp;&gt;&quot;x&quot;:BAR0, [^<]*direct: mmap; [^<]*emulated: msix relocated/);
    // The strip of the enlarged BAR's table starts where the emulated space does (its offset - start, scaled).
    const row = svg.slice(svg.lastIndexOf('<g class="emulated-bar"'));
    const x = Number(/data-kind="msix-table">.*?<rect x="([\d.]+)"/s.exec(row)![1]);
    const barX = Number(/<rect x="(\d+)" y="\d+" width="640"/.exec(row)![1]);
    expect(x).toBeCloseTo(barX + ((65536 - 16384) / (131072 - 16384)) * 640, 1);
    expect(pageMapSvg(map, { emulated: [] })).not.toContain('emulated-bar');
  });

  it('lists them in the text map, with what became of the device table', () => {
    const text = pageMapText(relocatedFixture());
    expect(text).toContain('relocated MSI-X  vf0:BAR2  guest 0x40000000  64 KiB emulated: msix relocated from BAR0 (a BAR the VMM added)');
    expect(text).toContain('112 KiB emulated from +0x4000');
    expect(text).toContain('device table vf0:BAR0+0x2000 (host page 0x3fe080010000): mapped direct');
    expect(pageMapText(pageMapFixture())).not.toContain('relocated');
  });

  it('wraps a long key entry at its separators, inside the picture', () => {
    const svg = pageMapSvg(relocatedFixture());
    const width = Number(/width="(\d+)"/.exec(svg)![1]);
    const keyTexts = [...svg.slice(svg.indexOf('<g class="key"')).matchAll(/<text x="(\d+)"[^>]*>([^<]*)</g)];
    for (const [, x, t] of keyTexts) expect(Number(x) + t!.length * 11 * 0.55).toBeLessThanOrEqual(width);
  });
});
