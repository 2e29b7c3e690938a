/**
 * The relocated MSI-X BAR in the pictures (issue 15 item 1, issue 18 item 3): `vhw map` as
 * text and SVG, and the report's page maps of a `--msix-relocation both` sweep, show the BAR
 * the VMM emulates for the table, which has no host page behind it.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { vhw } from './support/vhw-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'vhw-relocation-map-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const POINT = ['--patches', 'all', '--variant', 'upstream', '--msix-relocation', 'auto'];

describe('vhw map with MSI-X relocation', () => {
  it('lists each relocated table after the host pages, with what became of the device table', () => {
    const r = vhw('map', 'arm64-mixed', ...POINT);
    expect(r.code).toBe(0);
    for (const [dev, from] of [
      ['nvme0', 0],
      ['nic0', 3],
      ['nvme1', 0],
    ] as const) {
      expect(r.out).toMatch(new RegExp(`relocated MSI-X  ${dev}:BAR2  guest 0x[0-9a-f]+  64 KiB emulated: msix relocated from BAR${from}`));
    }
    expect(r.out).toContain('device table nvme0:BAR0+0x2000 (host page 0x10010000): mapped direct');
    expect(vhw('map', 'arm64-mixed', '--patches', 'all', '--variant', 'upstream').out).not.toContain('relocated MSI-X');
  });

  it('draws the relocated BARs in the SVG', () => {
    const file = join(dir, 'map.svg');
    expect(vhw('map', 'arm64-mixed', ...POINT, '--out', file).code).toBe(0);
    const svg = readFileSync(file, 'utf8');
    expect(svg.split('<g class="emulated-bar"').length - 1).toBe(3);
    expect(svg).toContain('emulated by the VMM, no host page behind it');
  });
});

describe('vhw explain of the relocated BAR', () => {
  it('says the space has no host page and that nothing maps it', () => {
    const r = vhw('explain', 'arm64-mixed', ...POINT, '--address', 'nvme0:BAR2+0x0');
    expect(r.code).toBe(0);
    expect(r.out).toContain('no host page (space the VMM added for the relocated MSI-X table)');
    expect(r.out).toContain("path: trap → VMM exit → the VMM's MSI-X table emulation");
    expect(r.out).toMatch(/would change with: nothing: this is the VMM's own space/);
  });
});

describe("the report's page maps with MSI-X relocation", () => {
  it('draw the relocated BARs on the maps of relocation auto only, all 8 combinations of each', () => {
    const out = join(dir, 'set');
    const r = vhw('sweep', 'arm64-mixed', '--variant', 'upstream', '--msix-relocation', 'both', '--ops', '50', '--out', out);
    expect(r.code, r.err).toBe(0);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    const figures = html.split('<figure class="page-map">').slice(1);
    const caption = (f: string) => /<figcaption>([^<]*)/.exec(f)![1]!;
    const auto = figures.filter((f) => caption(f).includes('msix-relocation auto'));
    const off = figures.filter((f) => caption(f).includes('msix-relocation off'));
    expect(auto.length).toBeGreaterThan(0);
    expect(off.length).toBeGreaterThan(0);
    for (const f of auto) expect(f).toContain('<g class="emulated-bar"');
    for (const f of off) expect(f.slice(0, f.indexOf('</figure>'))).not.toContain('emulated-bar');
    // Every combination is drawn for each relocation (equal maps share a picture, named in its caption).
    for (const set of [auto, off]) {
      const combos = set.flatMap((f) => /patches: ([^(<]*)/.exec(caption(f))![1]!.trim().split(', '));
      expect(new Set(combos).size).toBe(8);
    }
  }, 60_000);
});
