import { describe, expect, it } from 'vitest';
import { MMIO_ACCESS_UNIT } from '@vhw/experiment';
import { htmlReport, inlineSvg, reportCharts, reportSummary } from './html-report.js';
import { sweepChartSvg, varyChartSvg } from './charts.js';
import { pageMapSvg } from './page-map.js';
import { makeGrid, makeRun, makeSweep, pageMapFixture } from './fixtures.js';
import { checkXml } from './xml-check.js';

const costs = [
  { name: 'exit.directCycles', value: 2000, unit: 'cycles', source: 'SplitX <WIOV 2011> & co', confidence: 'medium (x86)' },
  { name: 'cpu.hz', value: 3.5e9, unit: 'Hz', source: 'typical POWER8 clock', confidence: 'low [R]' },
];

/** Every http:// or https:// occurrence must be the value of an xmlns attribute. */
function externalRefs(html: string): string[] {
  const bad: string[] = [];
  let i = html.search(/https?:\/\//);
  while (i >= 0) {
    const before = html.slice(Math.max(0, i - 20), i);
    if (!/xmlns(:\w+)?="$/.test(before)) bad.push(html.slice(Math.max(0, i - 40), i + 40));
    const next = html.slice(i + 4).search(/https?:\/\//);
    i = next < 0 ? -1 : i + 4 + next;
  }
  return bad;
}

async function fullReport(): Promise<string> {
  const results = [...makeSweep(['igbvf-like', 'nvme-16k'])];
  const vary = makeSweep(['igbvf-like'], 1e6, { field: 'exit.directCycles', value: 1000 }).concat(
    makeSweep(['igbvf-like'], 2e6, { field: 'exit.directCycles', value: 3000 }),
  );
  return htmlReport({
    title: 'vhw <sweep> & "report"',
    results,
    sweepSvg: await sweepChartSvg(results),
    varySvg: await varyChartSvg(vary),
    pageMaps: [
      { label: 'igbvf-like <none>', svg: pageMapSvg(pageMapFixture()) },
      { label: 'igbvf-like P1+P2+P3', svg: pageMapSvg(pageMapFixture()) },
    ],
    costs,
  });
}

describe('htmlReport', () => {
  it('references no network resource and has no script', async () => {
    const html = await fullReport();
    expect(externalRefs(html)).toEqual([]);
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).not.toMatch(/\bsrc=/i);
    expect(html).not.toMatch(/@import/i);
  });

  it('escapes the title, labels and cost text', async () => {
    const html = await fullReport();
    expect(html).toContain('<title>vhw &lt;sweep&gt; &amp; &quot;report&quot;</title>');
    expect(html).toContain('<h1>vhw &lt;sweep&gt; &amp; &quot;report&quot;</h1>');
    expect(html).toContain('igbvf-like &lt;none&gt;');
    expect(html).toContain('SplitX &lt;WIOV 2011&gt; &amp; co');
    expect(html).not.toContain('<sweep>');
    expect(html).not.toContain('nvme<&>');
  });

  it('has the sweep as an HTML table with one row per run and the speed-ups', async () => {
    const html = await fullReport();
    const sweep = html.slice(html.indexOf('<table class="sweep">'), html.indexOf('</table>', html.indexOf('<table class="sweep">')));
    expect(sweep.split('<tr').length - 1).toBe(1 + 32);
    expect(sweep).toContain('<th>P1 align-bars</th>');
    expect(sweep.split('>4.00x<').length - 1).toBe(4); // all three patches, 2 scenarios x 2 variants
    expect(sweep).toContain('<td class="num">8,000,000</td>');
    const sweepRows = sweep.split('<tr').slice(2);
    expect(sweepRows[0]).toContain('>1.00x<'); // none first
    expect(checkXml(`${sweep}</table>`).error).toBeNull();
  });

  it('inlines the charts and page maps with unique ids, and the cost table', async () => {
    const html = await fullReport();
    expect(html.split('<svg').length - 1).toBe(4);
    expect(html.split('<figure class="page-map">').length - 1).toBe(2);
    const ids = [...html.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(ids).size).toBe(ids.length);
    const costsTable = html.slice(html.indexOf('<table class="costs">'));
    expect(costsTable).toContain('<td>exit.directCycles</td><td class="num">2,000</td><td>cycles</td>');
    expect(costsTable).toContain(
      '<td>cpu.hz</td><td class="num">3,500,000,000</td><td>Hz</td><td>typical POWER8 clock</td><td>low [R]</td>',
    );
  });

  it('is the same for the same input', async () => {
    const results = makeSweep(['s']);
    expect(htmlReport({ title: 't', results })).toBe(htmlReport({ title: 't', results }));
  });

  it('handles an empty report', () => {
    const html = htmlReport({ title: 'empty', results: [] });
    expect(html).toContain('No results.');
    expect(html.startsWith('<!DOCTYPE html>')).toBe(true);
  });

  it('shows n/a for runs without a none baseline', () => {
    const html = htmlReport({ title: 't', results: [makeRun({ patches: { msixMmap: true } })] });
    expect(html).toContain('>n/a<');
  });
});

describe('inlineSvg', () => {
  it('removes scripts, event handlers and the XML declaration, and prefixes ids and references', () => {
    const svg =
      '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><defs><clipPath id="clip1"><rect/></clipPath></defs>' +
      '<script>alert(1)</script><g clip-path="url(#clip1)" onclick="x()"><use href="#clip1"/></g></svg>';
    const out = inlineSvg(svg, 'a');
    expect(out.startsWith('<svg')).toBe(true);
    expect(out).not.toContain('script');
    expect(out).not.toContain('onclick');
    expect(out).toContain('id="a-clip1"');
    expect(out).toContain('url(#a-clip1)');
    expect(out).toContain('href="#a-clip1"');
    expect(checkXml(out).error).toBeNull();
  });

  it('escapes input that is not an SVG', () => {
    expect(inlineSvg('<img src=x onerror=alert(1)>', 'a')).toBe('<pre class="empty">&lt;img src=x onerror=alert(1)&gt;</pre>');
  });
});

describe('htmlReport provenance', () => {
  it('lists the machines, the cost ranges the runs used, the provenance and notes, all escaped', () => {
    const html = htmlReport({
      title: 't',
      results: makeSweep(['igbvf-like']),
      costs: [{ name: 'exit.directCycles', value: 1000, max: 3000, unit: 'cycles', source: 's', confidence: 'low' }],
      machines: [{ instance: 'nvme0', plugin: 'nvme-lite', kind: 'device', options: '{"layout":"<bar0>"}', runs: 8 }],
      provenance: { vhw: '9.9.9', node: 'v20.0.0', command: ['sweep', 'x', '--set', 'cost.a=<1>'], cwd: '/w' },
      notes: ['Partial set: 4 of 8 points missing.'],
    });
    expect(html).toMatch(/<td class="num">1,000 \.\. 3,000<\/td>/);
    expect(html).toMatch(/<h2>Machines<\/h2>[\s\S]*nvme0[\s\S]*\{&quot;layout&quot;:&quot;&lt;bar0&gt;&quot;\}/);
    expect(html).toMatch(/<h2>Provenance<\/h2>[\s\S]*9\.9\.9[\s\S]*v20\.0\.0[\s\S]*vhw sweep x --set cost\.a=&lt;1&gt;/);
    expect(html).toContain('<p class="note">Partial set: 4 of 8 points missing.</p>');
    // The cost sources come last, after the machines and the provenance.
    const at = ['<h2>Machines</h2>', '<h2>Provenance</h2>', '<h2>Cost parameters</h2>'].map((h) => html.indexOf(h));
    expect(at.every((i) => i > 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
  });
});

describe('htmlReport for a reader', () => {
  it('puts the summary first, then charts, page maps, tables and the cost sources last', async () => {
    const results = makeSweep(['igbvf-like']);
    const html = htmlReport({
      title: 't',
      results,
      charts: await reportCharts(results),
      pageMaps: [{ label: 'm', svg: pageMapSvg(pageMapFixture()), group: 'variant rfc-2015' }],
      costs,
    });
    const at = (needle: string) => {
      const i = html.indexOf(needle);
      expect(i, needle).toBeGreaterThan(0);
      return i;
    };
    const order = [
      '<section class="summary">',
      '<h2>Charts</h2>',
      '<h2>Page maps</h2>',
      '<table class="sweep">',
      '<h2>Cost parameters</h2>',
    ].map(at);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(html).toContain(
      '<p class="headline">igbvf-like, all three patches: 4.00x vs none (rfc-2015 and upstream alike), traps 1,000 → 1,000',
    );
    expect(html).toContain('<span class="file">(chart.svg)</span>');
    expect(html).toContain('<details class="maps" open><summary>variant rfc-2015</summary>');
    expect(html).toMatch(/@media print/);
  });

  it('collapses a long table, and shows a short one open', () => {
    const long = htmlReport({ title: 't', results: [...makeSweep(['a']), ...makeSweep(['b'])] });
    expect(long).toContain('<details class="table"><summary>Sweep: 32 run(s)</summary>');
    const short = htmlReport({ title: 't', results: makeSweep(['a']) });
    expect(short).toContain('<details class="table" open><summary>Sweep: 16 run(s)</summary>');
  });

  it('shows a grid with its heat map before the long table, a column per vary dimension', async () => {
    const results = makeGrid();
    const charts = await reportCharts(results);
    expect(charts.map((c) => c.file)).toEqual(['heatmap.svg', 'chart.svg']);
    const html = htmlReport({ title: 't', results, charts });
    expect(html.indexOf('<figure class="chart heatmap">')).toBeLessThan(html.indexOf('<table class="sweep">'));
    expect(html).toContain('<th>guest.ioStackNs</th><th>exit.userspaceFactor</th>');
  });
});

describe('reportSummary', () => {
  it('gives the all-patches speed-up, what became of the traps, the best partial combination and where variants differ', () => {
    const results = makeSweep(['s']).map((r) => {
      const all = r.patches.alignBars && r.patches.subPageMmap && r.patches.msixMmap;
      if (all) r.mmio = { direct: 6000, trapped: 0, trapsByReason: {} };
      if (r.variant === 'upstream' && r.patches.subPageMmap && r.patches.msixMmap && !r.patches.alignBars) r.workload.opsPerSecond *= 1.2;
      return r;
    });
    const { headline, points } = reportSummary(results);
    expect(headline).toBe('s, all three patches: 4.00x vs none (rfc-2015 and upstream alike), every trap gone (1,000 → 0).');
    expect(points).toContain('s: fewer than three patches reach at most 3.00x with P1+P2 (rfc-2015), 3.60x with P2+P3 (upstream).');
    expect(points).toContain('s: the variants differ on P2+P3 3.00x (rfc-2015) vs 3.60x (upstream).');
  });

  it('gives the range over vary points', () => {
    const results = [1, 2].flatMap((v) =>
      makeSweep(['s'], 1e6, [{ field: 'f', value: v }]).map((r) => {
        if (v === 2 && r.patches.alignBars && r.patches.subPageMmap && r.patches.msixMmap) r.workload.opsPerSecond /= 2;
        return r;
      }),
    );
    expect(reportSummary(results).headline).toMatch(/^s, all three patches: 2\.00x \(f=2\) to 4\.00x \(f=1\) vs none/);
  });

  it('is empty without a baseline', () => {
    expect(reportSummary([makeRun({ patches: { msixMmap: true } })]).headline).toBe('');
  });
});

describe('htmlReport of relocation and register-loop sweeps', () => {
  it("names each row's MSI-X relocation when some run relocated, in both tables", () => {
    const off = makeSweep(['igbvf-like']).map((r) => ({ ...r, relocation: 'off' as const }));
    const auto = makeSweep(['igbvf-like']).map((r) => ({ ...r, relocation: 'auto' as const }));
    const html = htmlReport({ title: 't', results: [...off, ...auto] });
    expect(html.split('<th>msix reloc</th>')).toHaveLength(3);
    expect(html.match(/<td>auto<\/td>/g)).toHaveLength(2 * auto.length);
    expect(htmlReport({ title: 't', results: off })).not.toContain('msix reloc');
  });

  it('says MMIO accesses for a register loop, and what the cover letter reported', () => {
    const rows = makeSweep(['mmio']).map((r) => ({ ...r, workload: { ...r.workload, unit: MMIO_ACCESS_UNIT } }));
    const html = htmlReport({ title: 't', results: rows });
    expect(html).toContain('<th>simulated MMIO accesses/s</th>');
    expect(reportSummary(rows).points.join('\n')).toMatch(
      /mmio: in MMIO accesses per simulated second; the cover letter reports "almost 100% improvement"/,
    );
    expect(reportSummary(makeSweep(['igbvf-like'])).points.join('\n')).not.toContain('cover letter');
  });
});
