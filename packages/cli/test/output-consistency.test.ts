/**
 * Consistent output (issue 18 item 5): the tables say their ops/s are simulated, and the CSV
 * has the same columns whatever occurred and the rows of the table in its order, with no blank
 * line after them. Run in-process through `main`, as the CLI runs it.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Reason } from '@vhw/vfio-pci';
import { MsixRelocationReason, PolicyReason, VmmReason } from '@vhw/vmm';
import { vhw } from './in-process.js';

const ROOT = resolve(__dirname, '../../..');
const tmp = mkdtempSync(join(tmpdir(), 'vhw-output-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The header cells of the first table line that has them. */
function headerCells(table: string): string[] {
  const line = table.split('\n').find((l) => l.includes('scenario') || l.includes('workload ops'));
  return (line ?? '').split(/[│|]/).map((c) => c.trim());
}

describe('tables say ops/s are simulated', () => {
  it('vhw sweep: the column is "simulated ops/s"', async () => {
    const r = await vhw('sweep', 'ppc64-nvme', '--ops', '200', '--variant', 'rfc-2015', '--no-progress');
    expect(r.code, r.err).toBe(0);
    const head = r.raw.split('\n').slice(0, 3).join('\n');
    expect(head).toContain('simulated ops/s');
    expect(head).not.toMatch(/[^d] ops\/s/);
  });

  it('vhw run: the row is "simulated ops/s"', async () => {
    const r = await vhw('run', 'ppc64-nvme', '--ops', '200');
    expect(r.code, r.err).toBe(0);
    const rows = r.raw.split('\n').filter((l) => l.includes('ops/s'));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toContain('simulated ops/s');
  });
});

describe('CSV', () => {
  const trapReasons = [
    ...Object.values(Reason),
    ...Object.values(VmmReason),
    ...Object.values(MsixRelocationReason),
    ...Object.values(PolicyReason),
    'unmapped',
  ]
    .filter((r) => r !== Reason.Mmap && r !== VmmReason.MmapSubPage)
    .map((r) => `traps:${r}`)
    .sort();

  it('has a traps: column for every trap reason, whichever occurred, 0 where none', async () => {
    const all = await vhw('run', 'ppc64-nvme', '--ops', '200', '--patches', 'all', '--format', 'csv');
    const none = await vhw('run', 'ppc64-nvme', '--ops', '200', '--patches', 'none', '--format', 'csv');
    expect(all.code, all.err).toBe(0);
    expect(none.code, none.err).toBe(0);
    const [headAll, rowAll] = all.raw.split('\r\n');
    const [headNone] = none.raw.split('\r\n');
    expect(headAll).toBe(headNone);
    // Another VMM's rules and MSI-X relocation give reasons of their own: the columns stay the same.
    const other = await vhw('run', 'arm64-nvme', '--ops', '200', '--vmm', 'cloud-hypervisor', '--format', 'csv');
    const reloc = await vhw(
      'run',
      'arm64-nvme',
      '--ops',
      '200',
      '--patches',
      'all',
      '--variant',
      'upstream',
      '--msix-relocation',
      'auto',
      '--format',
      'csv',
    );
    expect(other.code, other.err).toBe(0);
    expect(reloc.code, reloc.err).toBe(0);
    expect(other.raw.split('\r\n')[0]).toBe(headAll);
    expect(reloc.raw.split('\r\n')[0]).toBe(headAll);
    const cols = headAll!.split(',');
    expect(cols.filter((c) => c.startsWith('traps:'))).toEqual(trapReasons);
    const values = rowAll!.split(',');
    for (const c of trapReasons) expect(values[cols.indexOf(c)]).toMatch(/^\d+$/);
    expect(values[cols.indexOf('traps:io-bar')]).toBe('0');
  });

  it('lists the rows in the order of the table and ends without a blank line', async () => {
    const args = ['sweep', 'ppc64-nvme', '--ops', '200', '--variant', 'both', '--no-progress'];
    const table = await vhw(...args);
    const csv = await vhw(...args, '--format', 'csv');
    expect(csv.code, csv.err).toBe(0);
    // Exactly CRLF after the last record: no blank line, no bare line feed.
    expect(csv.raw.endsWith('\r\n')).toBe(true);
    expect(csv.raw.endsWith('\r\n\r\n')).toBe(false);
    expect(csv.raw.replace(/\r\n/g, '')).not.toContain('\n');
    const [head, ...rows] = csv.raw.slice(0, -2).split('\r\n');
    const cols = head!.split(',');
    const flags = ['alignBars', 'subPageMmap', 'msixMmap'];
    const key = (cells: string[]) =>
      [
        cells[cols.indexOf('variant')],
        ...flags.map((f) => (cells[cols.indexOf(f)] === 'true' ? 'on' : 'off')),
        Math.round(Number(cells[cols.indexOf('opsPerSecond')])),
      ].join(' ');
    const csvOrder = rows.map((l) => key(l.split(',')));

    const tableHead = headerCells(table.raw);
    const variantAt = tableHead.indexOf('variant');
    const opsAt = tableHead.indexOf('simulated ops/s');
    const tableOrder = table.raw
      .split('\n')
      .map((l) => l.split(/[│|]/).map((c) => c.trim()))
      .filter((cells) => cells[variantAt] === 'rfc-2015' || cells[variantAt] === 'upstream')
      .map((cells) =>
        [
          cells[variantAt],
          ...cells.slice(variantAt + 1, variantAt + 4).map((c) => (c === '✓' ? 'on' : 'off')),
          Number(cells[opsAt]!.replace(/,/g, '')),
        ].join(' '),
      );
    expect(tableOrder).toHaveLength(16);
    expect(csvOrder).toEqual(tableOrder);
  });

  it('is byte for byte the results.csv of the result set', async () => {
    const dir = join(tmp, 'set');
    const r = await vhw('sweep', 'ppc64-nvme', '--ops', '200', '--variant', 'rfc-2015', '--no-progress', '--format', 'csv', '--out', dir);
    expect(r.code, r.err).toBe(0);
    expect(r.raw).toBe(readFileSync(join(dir, 'results.csv'), 'utf8'));
  });

  it('the README documents the CSV columns', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toMatch(/`traps:<reason>`/);
  });
});
