/**
 * `vhw compare`: its exit codes, and its table and JSON against an oracle, the rows that
 * `vhw run --vmm X --format json` prints for each VMM on its own.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { vhw } from './in-process.js';

interface Area {
  offset: number;
  size: number;
  path: string;
  reason: string;
  traps?: number;
  via?: string;
}
interface Bar {
  device: string;
  bar: number;
  size: number;
  mmap: string;
  areas: Area[];
}
interface Rejected {
  vmm: string;
  why: string;
  device: string;
  bar?: number;
  code: string;
}
interface Row {
  vmm: string;
  rejected?: Rejected;
  platform: { pageSize: number };
  bars: Bar[];
}
interface Compared {
  scenario: string;
  variant: string;
  patches: string;
  pageSize: number;
  vmms: Array<{
    vmm: string;
    title: string;
    relocation?: string;
    rejected?: Rejected;
    bars: Bar[];
    pageMap: { pageSize: number; pages: unknown[] };
  }>;
}

const VMMS = ['qemu', 'cloud-hypervisor', 'crosvm', 'kvmtool', 'firecracker'];

async function json<T>(...args: string[]): Promise<T> {
  const r = await vhw(...args);
  expect(r.err).not.toMatch(/internal error/);
  expect(r.code).toBe(0);
  return JSON.parse(r.raw) as T;
}

/** The oracle: what `vhw run` reports of one VMM at the same point, without the workload's trap counts. */
async function runRow(scenario: string, vmm: string): Promise<Row> {
  const row = await json<Row>('run', scenario, '--vmm', vmm, '--patches', 'all', '--ops', '64', '--format', 'json');
  return { ...row, bars: row.bars.map((b) => ({ ...b, areas: b.areas.map(({ traps: _, ...a }) => a) })) };
}

const h = (n: number) => `0x${n.toString(16)}`;

describe.each(['ppc64-nvme', 'arm64-nvme'])('vhw compare %s', (scenario) => {
  it('JSON: each VMM shows the BARs and the rejection its own `vhw run` row reports', async () => {
    const c = await json<Compared>('compare', scenario, '--format', 'json');
    expect(c).toMatchObject({ scenario, variant: 'rfc-2015', patches: 'all' });
    expect(c.vmms.map((v) => v.vmm)).toEqual(VMMS);
    for (const v of c.vmms) {
      const row = await runRow(scenario, v.vmm);
      expect(c.pageSize, v.vmm).toBe(row.platform.pageSize);
      expect(v.pageMap.pageSize).toBe(row.platform.pageSize);
      expect(v.rejected, v.vmm).toEqual(row.rejected);
      expect(v.bars, v.vmm).toEqual(row.bars);
    }
  });

  it('table: per BAR one line per VMM with its mapped and trapped areas, or its refusal', async () => {
    const r = await vhw('compare', scenario);
    expect(r.code).toBe(0);
    const lines = r.raw.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^${scenario}, rfc-2015, patches: all, host page `));
    for (const vmm of VMMS) {
      const row = await runRow(scenario, vmm);
      const line = lines.find((l) => l.startsWith(`  ${vmm} `) && !/page\(s\)/.test(l));
      expect(line, vmm).toBeDefined();
      if (row.rejected) {
        expect(line).toContain(`rejected by VMM ${vmm}: `);
        expect(line).toContain(row.rejected.why);
        continue;
      }
      for (const b of row.bars) {
        const head = lines.findIndex((l) => l.startsWith(`${b.device} BAR${b.bar}`));
        expect(head, `${b.device} BAR${b.bar}`).toBeGreaterThan(0);
        const mine = lines.slice(head).find((l) => l.startsWith(`  ${vmm} `))!;
        for (const a of b.areas) {
          const text = `${h(a.offset)}..${h(a.offset + a.size)} ${a.reason}${a.via ? ` (${a.via})` : ''}`;
          expect(mine, `${vmm} ${b.device} BAR${b.bar}`).toContain(text);
          // Mapped areas come before the trapped ones on the line.
          if (b.areas.some((x) => x.path !== a.path)) {
            const firstTrap = b.areas.find((x) => x.path === 'trap')!;
            const trapAt = mine.indexOf(`${h(firstTrap.offset)}..${h(firstTrap.offset + firstTrap.size)} ${firstTrap.reason}`);
            if (a.path === 'direct') expect(mine.indexOf(text)).toBeLessThan(trapAt);
          }
        }
      }
    }
  });
});

describe('vhw compare: options', () => {
  it('takes a comma list of VMMs, in the order given', async () => {
    const c = await json<Compared>('compare', 'ppc64-nvme', '--vmm', 'crosvm,qemu', '--patches', 'none', '--format', 'json');
    expect(c.vmms.map((v) => v.vmm)).toEqual(['crosvm', 'qemu']);
    expect(c.patches).toBe('none');
  });

  it.each([
    [['--vmm', 'xen'], /--vmm "xen"; allowed: qemu, cloud-hypervisor, crosvm, kvmtool, firecracker, all/],
    [['--vmm', 'qemu,'], /--vmm ""; allowed: .*all/],
    [['--format', 'csv'], /--format.*allowed: table, json/],
    [['--page-size', '8k'], /--page-size.*allowed: 4k, 16k, 64k/],
    [['--variant', 'nope'], /--variant.*allowed: /],
    [['--patches', 'P9'], /patch/i],
    [['--set', 'oops'], /--set "oops"; allowed: /],
  ])('exits 2 on %j, naming the field and what is allowed', async (args, message) => {
    const r = await vhw('compare', 'ppc64-nvme', ...args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
    expect(r.err).not.toMatch(/internal error/);
  });

  it('applies --msix-relocation to QEMU only, and refuses it for VMMs that lack the knob', async () => {
    const c = await json<Compared>('compare', 'ppc64-nvme', '--msix-relocation', 'auto', '--format', 'json');
    expect(c.vmms.filter((v) => v.relocation).map((v) => [v.vmm, v.relocation])).toEqual([['qemu', 'auto']]);
    const r = await vhw('compare', 'ppc64-nvme', '--vmm', 'crosvm', '--msix-relocation', 'auto');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--vmm crosvm with --msix-relocation auto: .*allowed with this VMM: off/);
  });

  it('exits 2 on an unknown scenario', async () => {
    const r = await vhw('compare', 'no-such-scenario');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/no-such-scenario/);
  });
});

describe('vhw compare in the README', () => {
  const readme = readFileSync(join(__dirname, '../../../README.md'), 'utf8');

  it("the example's lines are what compare prints", async () => {
    const example = /\$ vhw compare (ppc64-nvme --variant upstream)\n([\s\S]*?)```/.exec(readme);
    expect(example).not.toBeNull();
    const r = await vhw('compare', ...example![1]!.split(' '));
    const printed = r.raw.split('\n');
    // Lines shortened with an ellipsis are compared up to it.
    for (const line of example![2]!.split('\n').filter((l) => l !== '' && l !== '…')) {
      const [head] = line.split('…');
      expect(
        printed.some((p) => p.startsWith(head!)),
        line,
      ).toBe(true);
    }
  });

  it('documents the JSON keys', () => {
    for (const key of ['"scenario"', '"variant"', '"patches"', '"pageSize"', '"vmms"', '"rejected"', '"bars"', '"pageMap"']) {
      expect(readme).toContain(key);
    }
    expect(readme).toMatch(/`vhw compare … --format json` prints/);
  });
});
