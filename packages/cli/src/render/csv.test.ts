import { describe, expect, it } from 'vitest';
import { TRAP_REASONS, csvField, toCsv } from './csv.js';
import { displayOrder } from './format.js';
import { makeRun, makeSweep } from './fixtures.js';

/** A strict RFC 4180 parser (CRLF records, quoted fields with doubled quotes). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), (i += 2);
      else if (c === '"') (quoted = false), i++;
      else (field += c), i++;
    } else if (c === '"') {
      if (field !== '') throw new Error(`quote inside unquoted field at ${i}`);
      quoted = true;
      i++;
    } else if (c === ',') {
      row.push(field);
      field = '';
      i++;
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i += 2;
    } else if (c === '\n' || c === '\r') {
      throw new Error(`bare line break at ${i}`);
    } else {
      field += c;
      i++;
    }
  }
  if (quoted) throw new Error('unterminated quote');
  if (field !== '' || row.length > 0) throw new Error('last record not terminated by CRLF');
  return rows;
}

function records(csv: string): Array<Record<string, string>> {
  const [head, ...rows] = parseCsv(csv);
  for (const r of rows) expect(r.length).toBe(head!.length);
  return rows.map((r) => Object.fromEntries(head!.map((h, i) => [h, r[i]!])));
}

describe('toCsv', () => {
  it('round-trips commas, quotes, line breaks and spaces through RFC 4180 quoting', () => {
    const nasty = 'nvme "16k", page\r\nshared\nx ';
    const csv = toCsv([makeRun({ scenario: nasty, trapsByReason: { 'reason, with "comma"': 3 } })]);
    const [rec] = records(csv);
    expect(rec!.scenario).toBe(nasty);
    expect(rec!['traps:reason, with "comma"']).toBe('3');
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a"b')).toBe('"a""b"');
  });

  it('has the flat columns, one row per run, CRLF line ends', () => {
    const results = makeSweep(['s1']);
    const csv = toCsv(results);
    expect(csv.endsWith('\r\n')).toBe(true);
    const [head] = parseCsv(csv);
    expect(head!.slice(0, 17)).toEqual([
      'scenario',
      'platform',
      'pageSize',
      'eeh',
      'variant',
      'vmm',
      'msixRelocation',
      'alignBars',
      'subPageMmap',
      'msixMmap',
      'ops',
      'simulatedNs',
      'opsPerSecond',
      'speedup',
      'direct',
      'trapped',
      'violations',
    ]);
    expect(head!.some((h) => h.startsWith('vary:'))).toBe(false);
    const recs = records(csv);
    expect(recs).toHaveLength(results.length);
    expect(recs[0]).toMatchObject({
      scenario: 's1',
      platform: 'powernv',
      pageSize: '65536',
      eeh: 'true',
      variant: 'rfc-2015',
      vmm: 'qemu',
      msixRelocation: 'off',
      alignBars: 'false',
    });
  });

  it('computes the speed-up against the none run of the same scenario, variant and vary point', () => {
    const a = makeSweep(['s1'], 1000, { field: 'exit.directCycles', value: 2000 });
    const b = makeSweep(['s1'], 5000, { field: 'exit.directCycles', value: 4000 });
    // Interleave so that the baselines are not next to their runs.
    const results = [...b.slice(8), ...a, ...b.slice(0, 8)];
    const recs = records(toCsv(results));
    for (const r of recs) {
      const on = ['alignBars', 'subPageMmap', 'msixMmap'].filter((k) => r[k] === 'true').length;
      expect(Number(r.speedup)).toBeCloseTo(1 + on, 6);
      expect(['2000', '4000']).toContain(r['vary:exit.directCycles']);
    }
  });

  it('leaves the speed-up empty when the group has no none run', () => {
    const recs = records(toCsv([makeRun({ patches: { alignBars: true } })]));
    expect(recs[0]!.speedup).toBe('');
  });

  it('has one column per known trap reason whichever occurred, zero where absent, then other reasons', () => {
    const recs = records(
      toCsv([makeRun({ trapsByReason: { 'sub-page-bar': 7 } }), makeRun({ trapsByReason: { 'msix-table-page': 2, 'plugin-own': 1 } })]),
    );
    expect(Object.keys(recs[0]!).filter((k) => k.startsWith('traps:'))).toEqual([
      ...TRAP_REASONS.map((r) => `traps:${r}`),
      'traps:plugin-own',
    ]);
    expect(TRAP_REASONS).toContain('unmapped');
    expect(TRAP_REASONS).not.toContain('mmap');
    expect(recs[0]!['traps:sub-page-bar']).toBe('7');
    expect(recs[0]!['traps:plugin-own']).toBe('0');
    expect(recs[0]!['traps:io-bar']).toBe('0');
    expect(recs[1]!['traps:msix-table-page']).toBe('2');
  });

  it('orders rows as the terminal table does', () => {
    const results = makeSweep(['s1']).reverse();
    const recs = records(toCsv(results));
    expect(recs.map((r) => [r.scenario, r.variant, r.alignBars, r.subPageMmap, r.msixMmap].join(' '))).toEqual(
      displayOrder(results).map((i) => {
        const r = results[i]!;
        return [r.scenario, r.variant, r.patches.alignBars, r.patches.subPageMmap, r.patches.msixMmap].join(' ');
      }),
    );
    expect(recs[0]).toMatchObject({ alignBars: 'false', subPageMmap: 'false', msixMmap: 'false' });
  });

  it('writes just the header for no results', () => {
    expect(parseCsv(toCsv([]))).toHaveLength(1);
  });
});
