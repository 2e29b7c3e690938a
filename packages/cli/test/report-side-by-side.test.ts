/**
 * A `--vmm all` sweep's report draws the page maps of every VMM for the all-patches
 * combination next to each other (small multiples), before the per-variant maps.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { vhw } from './in-process.js';

const tmp = mkdtempSync(join(tmpdir(), 'vhw-side-by-side-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('report.html of a --vmm all sweep', () => {
  it('shows one map per VMM for every patch, side by side, first', async () => {
    const out = join(tmp, 'all');
    const r = await vhw('sweep', 'ppc64-nvme', '--vmm', 'all', '--ops', '20', '--out', out, '--format', 'json');
    expect(r.code).toBe(0);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    const groups = [...html.matchAll(/<details class="maps" open><summary>([^<]*)<\/summary>/g)].map((m) => m[1]);
    expect(groups[0]).toBe('variant rfc-2015: every VMM, patches P1+P2+P3');
    const side = /<div class="side-by-side">([\s\S]*?)<\/div>/.exec(html)?.[1] ?? '';
    expect([...side.matchAll(/<figcaption>([^<]*)<\/figcaption>/g)].map((m) => m[1])).toEqual([
      'vmm qemu',
      'vmm cloud-hypervisor',
      'vmm crosvm',
      'vmm kvmtool',
      'vmm firecracker',
    ]);
    expect((side.match(/<svg/g) ?? []).length).toBe(5);
  });

  it('a sweep of one VMM has no side-by-side group', async () => {
    const out = join(tmp, 'one');
    const r = await vhw('sweep', 'ppc64-nvme', '--vmm', 'crosvm', '--ops', '20', '--out', out, '--format', 'json');
    expect(r.code).toBe(0);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).not.toContain('side-by-side"');
  });
});
