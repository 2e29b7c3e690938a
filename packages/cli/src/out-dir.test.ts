/**
 * The result set directory: swapped in as one step, one writer at a time, never left mixed.
 * Failures are injected through the writer's seams, after real files are on disk.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openOutDir, resultSetDir } from './out-dir.js';

const tmp = mkdtempSync(join(tmpdir(), 'vhw-outdir-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(tmp, `set${n++}`);

const OLD: Array<[string, string]> = [
  ['results.json', '[{"old":1}]\n'],
  ['results.csv', 'old\n'],
  ['report.html', '<p>old</p>\n'],
  ['manifest.json', '{"old":true}\n'],
];
const NEW: Array<[string, string]> = [
  ['results.json', '[{"new":1}]\n'],
  ['results.csv', 'new\n'],
  ['chart.svg', '<svg/>'],
  ['report.html', '<p>new</p>\n'],
  ['manifest.json', '{"new":true}\n'],
];

function contents(dir: string): Record<string, string> {
  return Object.fromEntries(
    readdirSync(dir)
      .sort()
      .map((f) => [f, readFileSync(join(dir, f), 'utf8')]),
  );
}

/** Everything vhw left beside DIR: temporary sets, old sets, locks. */
const leftovers = (dir: string) => readdirSync(join(dir, '..')).filter((f) => f.startsWith(`.${dir.split('/').pop()}.`));

/** A directory holding the old set, written through the writer itself. */
function withOldSet(): string {
  const dir = fresh();
  const out = openOutDir(dir, '--out');
  out.writeSet(OLD);
  out.release();
  return dir;
}

describe('result set directory', () => {
  it('creates DIR, swaps the set in and leaves nothing beside it', () => {
    const dir = fresh();
    const out = openOutDir(dir, '--out');
    expect(existsSync(dir)).toBe(true);
    expect(out.hasResults()).toBe(false);
    out.writeSet(NEW);
    out.release();
    expect(contents(dir)).toEqual(Object.fromEntries([...NEW].sort()));
    expect(leftovers(dir)).toEqual([]);
  });

  it('a failure after the first file is written leaves the old set intact and no stray directory', () => {
    const dir = withOldSet();
    const before = contents(dir);
    const out = openOutDir(dir, '--out');
    expect(out.hasResults()).toBe(true);
    const written: string[] = [];
    expect(() =>
      out.writeSet(NEW, {
        afterFile: (name) => {
          written.push(name);
          throw new Error('disk full');
        },
      }),
    ).toThrow(/cannot write the result set .*disk full.*previous set is unchanged/);
    out.release();
    expect(written).toEqual(['results.json']);
    expect(contents(dir)).toEqual(before);
    expect(leftovers(dir)).toEqual([]);
  });

  it('a failure between the two renames puts the old set back', () => {
    const dir = withOldSet();
    const before = contents(dir);
    const out = openOutDir(dir, '--out');
    expect(() =>
      out.writeSet(NEW, {
        betweenRenames: () => {
          throw new Error('killed');
        },
      }),
    ).toThrow(/killed/);
    out.release();
    expect(contents(dir)).toEqual(before);
    expect(leftovers(dir)).toEqual([]);
  });

  it('after a kill between the renames, readers take the old set and the next writer restores it', () => {
    const dir = withOldSet();
    const before = contents(dir);
    // The state a kill -9 leaves there: DIR moved away, the new set complete beside it.
    const old = join(tmp, `.${dir.split('/').pop()}.vhw-old-1-dead`);
    renameSync(dir, old);
    const half = join(tmp, `.${dir.split('/').pop()}.vhw-new-1-dead`);
    mkdirSync(half);
    writeFileSync(join(half, 'results.json'), '[{"new":1}]');
    expect(resultSetDir(dir)).toBe(old);
    const out = openOutDir(dir, '--out');
    out.release();
    expect(contents(dir)).toEqual(before);
    expect(leftovers(dir)).toEqual([]);
  });

  it('refuses a second writer, naming the first', () => {
    const dir = fresh();
    const first = openOutDir(dir, '--out');
    try {
      expect(() => openOutDir(dir, '--out')).toThrow(
        new RegExp(`is being written by pid ${process.pid} on ${hostname()}.*remove .*vhw-lock`),
      );
    } finally {
      first.release();
    }
    openOutDir(dir, '--out').release();
  });

  it("takes over the lock of a process that is gone, and says so; refuses another host's", () => {
    const dir = fresh();
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const lock = join(tmp, `.${dir.split('/').pop()}.vhw-lock`);
    const holder = { pid: Number(dead.stdout), host: hostname(), started: '2026-01-01T00:00:00Z', command: ['sweep'], token: 'x' };
    writeFileSync(lock, JSON.stringify(holder));
    const warnings: string[] = [];
    const out = openOutDir(dir, '--out', (s) => warnings.push(s));
    expect(warnings.join('\n')).toMatch(new RegExp(`took over the lock of pid ${holder.pid} .*no longer running`));
    out.release();
    expect(existsSync(lock)).toBe(false);
    writeFileSync(lock, JSON.stringify({ ...holder, host: 'elsewhere' }));
    expect(() => openOutDir(dir, '--out')).toThrow(/is being written by pid \d+ on elsewhere/);
    rmSync(lock);
  });

  it('refuses a DIR that is a file, has no parent, or holds files vhw did not write', () => {
    const file = join(tmp, 'a-file');
    writeFileSync(file, 'x');
    expect(() => openOutDir(file, '--out')).toThrow(/--out .*a-file: is a file/);
    expect(() => openOutDir(join(tmp, 'no/such/dir'), '--out')).toThrow(/no such directory .*no\/such to create it in/);
    const mine = fresh();
    mkdirSync(mine);
    writeFileSync(join(mine, 'notes.txt'), 'mine');
    expect(() => openOutDir(mine, '--out')).toThrow(/holds files vhw did not write \(notes\.txt\)/);
    expect(leftovers(mine)).toEqual([]);
  });
});
