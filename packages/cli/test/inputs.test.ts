/**
 * Inputs that used to hang, give wrong numbers silently, or fail with a message that did not
 * say what was wrong (issue 17 items 5 and 6): each is refused with exit 2 and a message that
 * names the field and what is allowed. Run in-process through `main`, as the CLI runs it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NO_PATCHES, defineScenario, passthroughMachine } from '@vhw/experiment';
import { expectVhwError } from '@vhw/test-support';
import { main } from '../src/main.js';

const ROOT = resolve(__dirname, '../../..');
const fixture = (name: string) => join(ROOT, 'test/fixtures', name);
const tmp = mkdtempSync(join(tmpdir(), 'vhw-inputs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function vhw(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['node', 'vhw', ...args], { out: (s) => out.push(s), err: (s) => err.push(s) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** Exit 2, the message, and neither an internal error nor a stack. */
async function expectRefused(args: string[], message: RegExp): Promise<void> {
  const r = await vhw(...args);
  expect(r.err, r.err).toMatch(message);
  expect(r.err).not.toMatch(/internal error|\n\s+at /);
  expect(r.code).toBe(2);
}

describe('bounds on inputs (exit 2, the field and what is allowed)', () => {
  const cases: Array<[string, string[], RegExp]> = [
    // 1e20 operations never ended: past 2^53 the count of operations left stopped changing.
    [
      '--ops above the bound',
      ['run', 'ppc64-nvme', '--ops', '1e20'],
      /'--ops <n>' argument '1e20' is invalid\. allowed: an integer 1\.\.1000000000/,
    ],
    ['--ops 1e9 + 1', ['run', 'ppc64-nvme', '--ops', '1000000001'], /--ops .*allowed: an integer 1\.\.1000000000/],
    [
      '--seed above 2^53',
      ['run', 'ppc64-nvme', '--seed', '9007199254740993'],
      /'--seed <n>' argument '9007199254740993' is invalid\. allowed: an integer 1\.\.9007199254740991/,
    ],
    ['--seed of map/explain above 2^53', ['map', 'ppc64-nvme', '--seed', '1e300'], /--seed .*allowed: an integer 1\.\.9007199254740991/],
    [
      'a cost that overflows the simulated time',
      ['run', 'ppc64-nvme', '--ops', '10', '--set', 'cost.dev.mmioReadNs=1e308'],
      /the simulated time is not a finite number .* with cost\.dev\.mmioReadNs=1e\+308; allowed: costs small enough/,
    ],
    [
      'an empty --vary item',
      ['sweep', 'ppc64-nvme', '--vary', 'cost.exit.userspaceFactor=1,'],
      /--vary cost\.exit\.userspaceFactor=1,: values 1,; allowed: finite numbers separated by commas, none empty/,
    ],
    [
      'one field in two --vary',
      ['sweep', 'ppc64-nvme', '--vary', 'cost.exit.userspaceFactor=1,2', '--vary', 'cost.exit.userspaceFactor=3,4'],
      /--vary exit\.userspaceFactor given twice; allowed: each field once/,
    ],
    ['--steps without --vary', ['sweep', 'ppc64-nvme', '--steps', '3'], /--steps without --vary would be ignored; allowed: with --vary/],
    ['--log without --vary', ['sweep', 'ppc64-nvme', '--log'], /--log without --vary would be ignored; allowed: with --vary/],
    [
      'an empty --patches',
      ['run', 'ppc64-nvme', '--patches', ''],
      /'--patches <list>' argument '' is invalid\. .*allowed: none, all, or a comma list of align-bars/,
    ],
    ['an empty item in --patches', ['map', 'ppc64-nvme', '--patches', 'align-bars,'], /--patches .*allowed: none, all, or a comma list/],
    [
      'explain past the end of a BAR',
      ['explain', 'ppc64-nvme', '--address', 'nvme0:BAR0+0x4000'],
      /--address nvme0:BAR0\+0x4000: offset 0x4000 is past the end of nvme0:BAR0 \(16384 bytes\); allowed: an offset 0\.\.0x3fff/,
    ],
  ];
  it.each(cases)('%s', async (_name, args, message) => expectRefused(args, message));

  it('explain still explains the last byte of a BAR', async () => {
    const r = await vhw('explain', 'ppc64-nvme', '--address', 'nvme0:BAR0+0x3fff');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/BAR: nvme0 BAR0 \(16384 bytes\)/);
  });

  it('a scenario cannot ask for more operations than --ops can', () => {
    const machine = () => [];
    expectVhwError(
      () => defineScenario({ name: 'big', description: 'x', ops: 1e20, machine }),
      'E_CONFIG',
      /scenario "big": ops 100000000000000000000; allowed: a positive integer up to 1000000000/,
    );
  });

  it('an unknown platform is an error naming the known ones, never the 4 KiB host', () => {
    const config = { patches: { ...NO_PATCHES }, variant: 'rfc-2015' as const, seed: 1 };
    expectVhwError(
      () => passthroughMachine({ platform: 'ppc', devices: [] }, config),
      'E_CONFIG',
      /unknown platform "ppc"; known: arm64, generic, ppc64/,
    );
  });
});

describe('errors that say what is wrong', () => {
  it('a scenario file without ops says so, not "--ops undefined"', async () => {
    await expectRefused(
      ['run', fixture('scenario-no-ops.ts')],
      /scenario file .*scenario-no-ops\.ts lacks ops and --ops was not given; allowed: ops: an integer/,
    );
    await expectRefused(['sweep', fixture('scenario-no-ops.ts'), '--no-progress'], /scenario-no-ops\.ts lacks ops and --ops was not given/);
    expect((await vhw('run', fixture('scenario-no-ops.ts'), '--ops', '8', '--format', 'json')).code).toBe(0);
  });

  it('a machine without the VMM or vfio-pci names the missing plugins and how to add them', async () => {
    await expectRefused(
      ['run', fixture('scenario-no-vmm.ts')],
      /scenario no-vmm: its machine\(\) lacks the VMM plugin \(vmm\(\) from @vhw\/vmm\); add it to the plugins machine\(\) returns, or build the machine with passthroughMachine/,
    );
    await expectRefused(
      ['map', fixture('scenario-no-vfio-no-vmm.ts')],
      /lacks the vfio-pci plugin \(vfioPci\(\) from @vhw\/vfio-pci\) and the VMM plugin \(vmm\(\) from @vhw\/vmm\); add them/,
    );
  });

  it('merge validates every row and names the file, the row and the field', async () => {
    const write = (name: string, rows: unknown) => {
      const f = join(tmp, name);
      writeFileSync(f, JSON.stringify(rows));
      return f;
    };
    await expectRefused(
      ['merge', write('numbers.json', [1, 2])],
      /merge: .*numbers\.json: row 0: \(the row\): .*expected object.*; allowed: run results/,
    );
    await expectRefused(['merge', write('empty-row.json', [{}])], /merge: .*empty-row\.json: row 0: scenario: .*expected string/);
    const ok = JSON.parse((await vhw('sweep', 'ppc64-nvme', '--ops', '8', '--format', 'json', '--no-progress')).out) as Array<{
      workload: object;
    }>;
    const bad = ok.map((r, i) => (i === 3 ? { ...r, workload: { ...r.workload, simulatedNs: null } } : r));
    await expectRefused(['merge', write('null-time.json', bad)], /merge: .*null-time\.json: row 3: workload\.simulatedNs: /);
  });

  it('a scenario file whose top-level await never settles is named (exit 2, not a silent 13)', () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'packages/cli/bin/vhw.mjs'), 'run', 'test/fixtures/scenario-never-settles.ts'], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.stderr).toMatch(
      /vhw: scenario file test\/fixtures\/scenario-never-settles\.ts never finished loading: a top-level await in it never settles/,
    );
    expect(r.status).toBe(2);
  }, 120_000);
});
