/**
 * `vhw map` output (issue 18 items 5 and 3): chart paths are SVG only, and the page map is
 * printed as JSON for tools. Run in-process through `main`, as the CLI runs it.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { PageMap } from '@vhw/experiment';
import { vhw } from './in-process.js';

const ROOT = resolve(__dirname, '../../..');
const tmp = mkdtempSync(join(tmpdir(), 'vhw-output-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('vhw map', () => {
  it.each(['x.png', 'x.PNG', 'map.pdf', 'map'])('refuses --out %s (only .svg) and writes nothing', async (name) => {
    const file = join(tmp, name);
    const r = await vhw('map', 'ppc64-nvme', '--out', file);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--out .*only \.svg/);
    expect(existsSync(file)).toBe(false);
  });

  it('still writes --out x.svg (any case)', async () => {
    const file = join(tmp, 'x.SVG');
    const r = await vhw('map', 'ppc64-nvme', '--out', file);
    expect(r.code, r.err).toBe(0);
    expect(readFileSync(file, 'utf8')).toMatch(/^<svg|^<\?xml/);
  });

  it('--format json prints the page map of the result contract', async () => {
    const r = await vhw('map', 'ppc64-nvme', '--patches', 'none', '--format', 'json');
    expect(r.code, r.err).toBe(0);
    const map = JSON.parse(r.raw) as PageMap;
    expect(Object.keys(map).sort()).toEqual(['pageSize', 'pages']);
    expect(map.pageSize).toBe(65536);
    expect(map.pages.length).toBeGreaterThan(0);
    for (const p of map.pages) {
      expect(typeof p.hostPa).toBe('number');
      expect(['direct', 'trap', 'mixed', 'unused']).toContain(p.path);
      for (const piece of p.pieces) expect(Object.keys(piece).sort()).toEqual(['bar', 'device', 'offset', 'path', 'reason', 'size']);
    }
    expect(map.pages.some((p) => p.pieces.some((x) => x.device === 'nvme0' && x.bar === 0))).toBe(true);
  });

  it('the README documents the JSON page map', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toMatch(/vhw map .*--format json/);
  });
});
