/**
 * End-to-end tests of the vhw CLI, spawned as a user runs it.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, vhw } from './support/vhw-cli.js';

const tmp = mkdtempSync(join(tmpdir(), 'vhw-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function json<T>(args: string[]): T {
  const r = vhw(...args);
  expect(r.err).not.toMatch(/internal error/);
  expect(r.code).toBe(0);
  return JSON.parse(r.out) as T;
}

interface Result {
  scenario: string;
  platform: { name: string; pageSize: number; eeh: boolean; barSpanBytes?: number };
  variant: string;
  patches: { alignBars: boolean; subPageMmap: boolean; msixMmap: boolean };
  workload: { ops: number; simulatedNs: number; opsPerSecond: number; completed: number; failed: number };
  mmio: { direct: number; trapped: number; trapsByReason: Record<string, number> };
  bars: Array<{
    device: string;
    bar: number;
    address: string;
    size: number;
    mmap: string;
    reason: string;
    areas: Array<{ offset: number; size: number; path: string; reason: string }>;
  }>;
  isolation: { violations: number };
}

describe('vhw run', () => {
  it('prints one JSON object that follows the contract', () => {
    const r = json<Result>(['run', 'ppc64-nvme', '--format', 'json', '--ops', '200']);
    expect(r.scenario).toBe('ppc64-nvme');
    expect(r.platform).toMatchObject({ name: 'ppc64', pageSize: 65536, eeh: true });
    expect(r.platform.barSpanBytes).toBeGreaterThan(0);
    expect(r.variant).toBe('rfc-2015');
    expect(r.patches).toEqual({ alignBars: false, subPageMmap: false, msixMmap: false });
    expect(r.workload.ops).toBe(200);
    expect(r.workload.completed).toBe(200);
    expect(r.workload.opsPerSecond).toBeCloseTo((r.workload.completed / r.workload.simulatedNs) * 1e9, 6);
    expect(r.mmio.direct).toBe(0);
    expect(r.mmio.trapped).toBeGreaterThan(0);
    expect(Object.values(r.mmio.trapsByReason).reduce((a, b) => a + b, 0)).toBe(r.mmio.trapped);
    expect(r.isolation.violations).toBe(0);
    for (const b of r.bars) {
      let at = 0;
      for (const a of b.areas) {
        expect(a.offset).toBe(at);
        at += a.size;
      }
      expect(at).toBe(b.size);
      expect(['full', 'partial', 'none']).toContain(b.mmap);
      expect(b.address).toMatch(/^0x[0-9a-f]+$/);
    }
  });

  it('with all patches the NVMe hot path on PPC64 no longer traps', () => {
    const r = json<Result>(['run', 'ppc64-nvme', '--format', 'json', '--ops', '100', '--patches', 'all']);
    expect(r.mmio.trapped).toBe(0);
    expect(r.bars[0]!.mmap).toBe('full');
  });

  it('takes a user scenario file and a cost override', () => {
    const a = json<Result>(['run', 'test/fixtures/scenario-ok.ts', '--format', 'json']);
    const b = json<Result>(['run', 'test/fixtures/scenario-ok.ts', '--format', 'json', '--set', 'cost.vfio.fdRwCycles=3000']);
    expect(a.scenario).toBe('user-nvme');
    expect(a.workload.ops).toBe(64);
    expect(b.workload.simulatedNs).toBeGreaterThan(a.workload.simulatedNs);
  });

  it('writes a trace file when asked', () => {
    const file = join(tmp, 'trace.log');
    expect(vhw('run', 'ppc64-nvme', '--ops', '4', '--trace', file).code).toBe(0);
    const trace = readFileSync(file, 'utf8');
    expect(trace).toMatch(/trap W4 0x[0-9a-f]+ = 0x[0-9a-f]+ nvme0 BAR0\+0x[0-9a-f]+(?: reg=\S+)? reason=sub-page-bar ns=[1-9]/);
  });
});

describe('vhw sweep', () => {
  it('runs the 8 combinations of each variant as a JSON array', () => {
    const rs = json<Result[]>(['sweep', 'ppc64-nic', '--format', 'json', '--ops', '64', '--variant', 'both', '--no-progress']);
    expect(rs).toHaveLength(16);
    const keys = new Set(rs.map((r) => `${r.variant}:${+r.patches.alignBars}${+r.patches.subPageMmap}${+r.patches.msixMmap}`));
    expect(keys.size).toBe(16);
  });

  it('writes results, charts and a self-contained report to --out', () => {
    const dir = join(tmp, 'out');
    mkdirSync(dir);
    const r = vhw('sweep', 'ppc64-nvme', '--ops', '32', '--out', dir, '--no-progress', '--vary', 'cost.exit.userspaceFactor=1,3');
    expect(r.code).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['chart.svg', 'manifest.json', 'report.html', 'results.csv', 'results.json', 'vary.svg']);
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/<script|src="http/);
    expect(JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'))).toHaveLength(16);
  });

  it('shards merged equal the serial run, and --jobs 2 equals it too', () => {
    const args = ['sweep', 'ppc64-mixed', '--format', 'json', '--ops', '48', '--no-progress'];
    const serial = json<Result[]>(args);
    const files = [0, 1, 2].map((i) => {
      const f = join(tmp, `shard-${i}.json`);
      const out = json<Result[]>([...args, '--shard', `${i}/3`]);
      writeFileSync(f, JSON.stringify(out));
      return f;
    });
    const merged = json<Result[]>(['merge', ...files, '--format', 'json']);
    expect(merged).toEqual(serial);
    expect(json<Result[]>([...args, '--jobs', '2'])).toEqual(serial);
  });
});

describe('vhw map, explain and list', () => {
  it('draws the host page map as SVG', () => {
    const file = join(tmp, 'map.svg');
    expect(vhw('map', 'ppc64-mixed', '--patches', 'all', '--out', file).code).toBe(0);
    const svg = readFileSync(file, 'utf8');
    expect(svg).toMatch(/^<svg|^<\?xml/);
    expect(svg).toContain('nvme0');
  });

  it('explains a trapped and a direct access with the reason and the remedy', () => {
    const t = vhw('explain', 'ppc64-mixed', '--address', 'nic0:BAR0+0x3818');
    expect(t.code).toBe(0);
    expect(t.out).toMatch(/path: trap/);
    expect(t.out).toMatch(/reason: sub-page-bar/);
    expect(t.out).toMatch(/would change with: patch 2/);
    const d = vhw('explain', 'ppc64-mixed', '--address', 'nic0:BAR0+0x3818', '--patches', 'align-bars,subpage-mmap');
    expect(d.out).toMatch(/path: direct/);
  });

  it('lists the scenarios and plugins with options', () => {
    const r = vhw('list');
    expect(r.code).toBe(0);
    for (const s of ['ppc64-mixed (default)', 'ppc64-nvme', 'ppc64-nic', 'generic-nvme', 'generic-nic']) expect(r.out).toContain(s);
    expect(r.out).toMatch(/platform-ppc64[\s\S]*alignBars/);
    expect(r.out).toMatch(/vfio-pci[\s\S]*subPageMmap/);
    expect(r.out).toMatch(/cost\.vfio\.fdRwCycles = 1500 cycles \[low\]/);
    expect(r.out).toMatch(/cost\.eeh\.slotResetHoldMs = 125 ms[\s\S]*eeh-pci-error-recovery/);
    // Installed device plugins are discovered, not hard-wired.
    expect(r.out).toMatch(/nvme-lite \(device, @vhw\/device-nvme-lite\)[\s\S]*layout/);
  });
});

describe('bad input', () => {
  const cases: Array<[string, string[], RegExp]> = [
    ['unknown scenario', ['run', 'nope'], /unknown scenario "nope"; built-in: .*ppc64-mixed/],
    ['unknown patch', ['run', 'ppc64-nvme', '--patches', 'align-bars,turbo'], /unknown patch "turbo"; allowed: .*subpage-mmap/],
    ['unknown cost field', ['run', 'ppc64-nvme', '--set', 'cost.warp.speed=9'], /cost\.warp\.speed .* allowed: .*cost\.vfio\.fdRwCycles/],
    ['bad cost value', ['run', 'ppc64-nvme', '--set', 'cost.vfio.fdRwCycles=-1'], /allowed: a finite number >= 0/],
    ['bad page size', ['run', 'ppc64-nvme', '--page-size', '8k'], /allowed: 4k, 16k, 64k/],
    ['bad variant', ['run', 'ppc64-nvme', '--variant', '2016'], /allowed: rfc-2015, upstream/],
    ['bad format', ['sweep', 'ppc64-nvme', '--format', 'xml'], /allowed: table, json, csv/],
    [
      '--out missing dir',
      ['sweep', 'ppc64-nvme', '--out', '/nonexistent/dir'],
      /--out \/nonexistent\/dir: no such directory \/nonexistent to create it in/,
    ],
    ['bad shard', ['sweep', 'ppc64-nvme', '--shard', '3/3'], /allowed: I\/N with 0 <= I < N/],
    ['bad vary', ['sweep', 'ppc64-nvme', '--vary', 'exit=1..2'], /allowed: cost\.FIELD=A\.\.B/],
    ['scenario file that throws', ['run', 'test/fixtures/scenario-throws.ts'], /failed to load: boom while loading/],
    ['scenario file exporting nothing', ['run', 'test/fixtures/scenario-empty.ts'], /exports no scenario/],
    ['missing scenario file', ['run', 'test/fixtures/missing.ts'], /does not exist/],
    ['unwritable trace', ['run', 'ppc64-nvme', '--trace', '/nonexistent/t.log'], /--trace \/nonexistent\/t\.log: cannot write/],
  ];
  for (const [name, args, message] of cases) {
    it(`${name}: a clear message, no stack trace, exit 2`, () => {
      const r = vhw(...args);
      // 2 is bad input; 70 would be an internal error, which none of these is.
      expect(r.err).not.toMatch(/internal error/);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(message);
      expect(r.err).not.toMatch(/\n\s+at /);
    });
  }

  it('a scenario file with a syntax error is reported, not thrown', () => {
    const f = join(ROOT, 'test/fixtures/.syntax-error.ts');
    copyFileSync(join(ROOT, 'test/fixtures/scenario-syntax.ts.txt'), f);
    try {
      const r = vhw('run', f);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(/failed to load/);
      expect(r.err).not.toMatch(/\n\s+at /);
    } finally {
      rmSync(f);
    }
  });

  it('a failed sweep leaves no partial results file', () => {
    const dir = join(tmp, 'partial');
    mkdirSync(dir);
    const r = vhw('sweep', 'ppc64-nvme', '--out', dir, '--set', 'cost.nope=1', '--no-progress');
    expect(r.code).toBe(2);
    expect(existsSync(join(dir, 'results.json'))).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  });
});
