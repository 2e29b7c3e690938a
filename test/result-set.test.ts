/**
 * Result sets end to end, as a user runs vhw: `sweep --out` refuses what would spoil a set,
 * `merge` joins only the shards of one experiment and says what is missing, and a set
 * records how it was made well enough to make it again.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..');
const BIN = join(ROOT, 'packages/cli/bin/vhw.mjs');
const tmp = mkdtempSync(join(tmpdir(), 'vhw-sets-'));
const SCRATCH = join(ROOT, 'test/.scratch');
const USER_SCENARIO = join(SCRATCH, `same-name-${process.pid}.ts`);
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
  rmSync(USER_SCENARIO, { force: true });
});

/** Runs the vhw command in `cwd` (the repository unless a test says where a command ran). */
function vhwIn(cwd: string, args: readonly string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

const vhw = (...args: string[]) => vhwIn(ROOT, args);

function ok(...args: string[]): string {
  const r = vhw(...args);
  expect(r.err).not.toMatch(/internal error/);
  expect(r.code, r.err).toBe(0);
  return r.out;
}

/** Runs vhw and writes its stdout to `file` (a shard as a batch job writes it). */
function shard(file: string, ...args: string[]): string {
  writeFileSync(file, ok('sweep', 'ppc64-nvme', '--ops', '16', '--format', 'json', '--no-progress', ...args));
  return file;
}

const refused = (r: { code: number; err: string }, message: RegExp) => {
  expect(r.code, r.err).toBe(2);
  expect(r.err).toMatch(message);
  expect(r.err).not.toMatch(/\n\s+at /);
};

const SET = join(tmp, 'set');

/** The parts of a result row these tests read. */
interface Row {
  experiment: { point: number; identity: Record<string, unknown> };
  plugins: Array<{ name: string; options: Record<string, unknown> }>;
}
const files = (dir: string) =>
  Object.fromEntries(['results.json', 'report.html', 'manifest.json'].map((f) => [f, readFileSync(join(dir, f), 'utf8')]));

describe('sweep --out', { timeout: 180_000 }, () => {
  beforeAll(() => {
    ok('sweep', 'ppc64-nvme', '--ops', '16', '--out', SET, '--no-progress');
  }, 120_000);

  it('creates DIR and records provenance, machines and the grid', () => {
    const manifest = JSON.parse(readFileSync(join(SET, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    const pkg = JSON.parse(readFileSync(join(ROOT, 'packages/cli/package.json'), 'utf8')) as { version: string };
    expect(manifest).toMatchObject({
      vhw: pkg.version,
      node: process.version,
      command: ['sweep', 'ppc64-nvme', '--ops', '16', '--out', SET, '--no-progress'],
    });
    const rows = JSON.parse(readFileSync(join(SET, 'results.json'), 'utf8')) as Row[];
    expect(rows).toHaveLength(8);
    expect(rows.map((r) => r.experiment.point)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(rows[0]!.experiment.identity).toMatchObject({ scenario: { name: 'ppc64-nvme' }, ops: 16, seed: 1, costs: {} });
    const vfio = rows[7]!.plugins.find((p) => p.name === 'vfio-pci');
    expect(vfio?.options).toMatchObject({ subPageMmap: true, msixMmap: true, variant: 'rfc-2015' });
    const html = readFileSync(join(SET, 'report.html'), 'utf8');
    expect(html).toMatch(/<h2>Machines<\/h2>[\s\S]*nvme0/);
    expect(html).toMatch(
      new RegExp(`<h2>Provenance</h2>[\\s\\S]*${pkg.version.replace(/\./g, '\\.')}[\\s\\S]*vhw sweep ppc64-nvme --ops 16`),
    );
    expect(ok('--version').trim()).toBe(pkg.version);
  });

  it('can be made again from what it records', () => {
    const manifest = JSON.parse(readFileSync(join(SET, 'manifest.json'), 'utf8')) as { command: string[]; cwd: string };
    const again = join(tmp, 'again');
    const command = manifest.command.map((a) => (a === SET ? again : a));
    const r = vhwIn(manifest.cwd, command);
    expect(r.code, r.err).toBe(0);
    expect(readFileSync(join(again, 'results.json'), 'utf8')).toBe(readFileSync(join(SET, 'results.json'), 'utf8'));
  });

  it('refuses an empty shard over a set, a second writer, and a DIR that is a file', () => {
    const before = files(SET);
    refused(
      vhw('sweep', 'ppc64-nvme', '--ops', '16', '--shard', '9/16', '--out', SET, '--no-progress'),
      /no runs to write \(an empty shard\?\); .* holds results/,
    );
    expect(files(SET)).toEqual(before);
    const lock = join(tmp, '.set.vhw-lock');
    writeFileSync(lock, JSON.stringify({ pid: process.pid, host: hostname(), started: 'now', command: ['sweep'], token: 't' }));
    try {
      refused(
        vhw('sweep', 'ppc64-nvme', '--ops', '16', '--out', SET, '--no-progress'),
        new RegExp(`is being written by pid ${process.pid} .*remove .*\\.set\\.vhw-lock`),
      );
    } finally {
      rmSync(lock);
    }
    expect(files(SET)).toEqual(before);
    const file = join(tmp, 'plain-file');
    writeFileSync(file, '');
    refused(vhw('sweep', 'ppc64-nvme', '--ops', '16', '--out', file), /--out .*plain-file: is a file/);
  }, 120_000);
});

describe('vhw merge', { timeout: 180_000 }, () => {
  let s0: string;
  let s1: string;
  beforeAll(() => {
    s0 = shard(join(tmp, 's0.json'), '--shard', '0/2');
    s1 = shard(join(tmp, 's1.json'), '--shard', '1/2');
  }, 120_000);

  it('joins the shards of one experiment into what one run gives, without shard records', () => {
    expect(JSON.parse(ok('merge', s1, s0, '--format', 'json'))).toEqual(JSON.parse(readFileSync(join(SET, 'results.json'), 'utf8')));
    // A result directory is read as well as a file.
    expect(JSON.parse(ok('merge', SET, '--format', 'json'))).toHaveLength(8);
  });

  it('refuses shards of other experiments, naming the first difference', () => {
    const ops = shard(join(tmp, 'ops.json'), '--shard', '1/2', '--ops', '32');
    refused(
      vhw('merge', s0, ops),
      /shard .*ops\.json was made with --ops 32, .*s0\.json with --ops 16; they are not parts of one experiment/,
    );
    const set = shard(join(tmp, 'set.json'), '--shard', '1/2', '--set', 'cost.vfio.fdRwCycles=3000');
    refused(vhw('merge', s0, set), /set\.json was made with --set cost\.vfio\.fdRwCycles=3000, .*s0\.json with no --set/);
    const seed = shard(join(tmp, 'seed.json'), '--shard', '1/2', '--seed', '7');
    refused(vhw('merge', s0, seed), /--seed 7, .* with --seed 1/);
    const plugin = shard(join(tmp, 'plugin.json'), '--shard', '1/2', '--set', 'platform.peGranularity=bus');
    refused(vhw('merge', s0, plugin), /plugin\.json was made with --set platform\.peGranularity=bus, .*s0\.json with no plugin --set/);
    // The knobs that are grid dimensions: shards of other modes are other experiments.
    const off = shard(join(tmp, 'reloc-off.json'), '--shard', '0/2', '--msix-relocation', 'off');
    const auto = shard(join(tmp, 'reloc-auto.json'), '--shard', '1/2', '--msix-relocation', 'auto');
    refused(vhw('merge', off, auto), /reloc-auto\.json was made with --msix-relocation auto, .*reloc-off\.json with --msix-relocation off/);
    const ch = shard(join(tmp, 'vmm-ch.json'), '--shard', '1/2', '--vmm', 'cloud-hypervisor');
    refused(vhw('merge', s0, ch), /vmm-ch\.json was made with --vmm cloud-hypervisor, .*s0\.json with the scenario's VMM/);
  }, 120_000);

  it('refuses a shard given twice, and rows that are not run results', () => {
    refused(vhw('merge', s0, s1, s0), /point 0 \(rfc-2015 none\) is in .*s0\.json twice; was a shard given twice\?/);
    const copy = join(tmp, 'copy.json');
    writeFileSync(copy, readFileSync(s1));
    refused(vhw('merge', s0, s1, copy), /point 1 \(rfc-2015 P1\) is in both .*s1\.json and .*copy\.json/);
    const junk = join(tmp, 'junk.json');
    writeFileSync(junk, '[1,2]');
    refused(vhw('merge', junk), /junk\.json: row 0: \(the row\): .*allowed: run results/);
  });

  it('refuses an incomplete set naming the missing shard, and merges it with --allow-partial saying what is missing', () => {
    refused(vhw('merge', s0), /incomplete: 4 of 8 points missing: shard 1\/2; pass --allow-partial/);
    const out = join(tmp, 'partial');
    const r = vhw('merge', s0, '--allow-partial', '--out', out, '--format', 'json');
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/merged a partial set: 4 of 8 points missing: shard 1\/2/);
    expect(JSON.parse(r.out)).toHaveLength(4);
    expect(JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')).experiment.missing).toEqual([1, 3, 5, 7]);
    expect(readFileSync(join(out, 'report.html'), 'utf8')).toMatch(/Partial set: 4 of 8 points missing/);
  });

  it("never takes a built-in scenario for a user's scenario of the same name", () => {
    mkdirSync(SCRATCH, { recursive: true });
    const builtin = readFileSync(join(ROOT, 'packages/scenarios/src/ppc64-nvme.ts'), 'utf8');
    writeFileSync(USER_SCENARIO, builtin.replace("layout: 'bar0-16k'", "layout: 'bar0-64k'"));
    const u0 = join(tmp, 'u0.json');
    writeFileSync(u0, ok('sweep', USER_SCENARIO, '--ops', '16', '--shard', '0/2', '--format', 'json', '--no-progress'));
    const u1 = join(tmp, 'u1.json');
    writeFileSync(u1, ok('sweep', USER_SCENARIO, '--ops', '16', '--shard', '1/2', '--format', 'json', '--no-progress'));
    refused(
      vhw('merge', s0, u1),
      /u1\.json was made with scenario ppc64-nvme \(file sha256 [0-9a-f]{12}\), .*s0\.json with scenario ppc64-nvme \(file sha256 [0-9a-f]{12}\)/,
    );
    // The user's file changed after the runs: no page maps rather than the wrong ones.
    writeFileSync(USER_SCENARIO, `${readFileSync(USER_SCENARIO, 'utf8')}\n// edited\n`);
    const out = join(tmp, 'user-merged');
    ok('merge', u0, u1, '--out', out);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    expect(html).toMatch(/No page maps: .*same-name-\d+\.ts has changed since the runs/);
    expect(html).not.toMatch(/<h2>Page maps<\/h2>/);
    expect(existsSync(join(out, 'results.json'))).toBe(true);
  }, 120_000);
});
