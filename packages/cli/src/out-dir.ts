/**
 * A result set directory (`--out DIR`): results.json, results.csv, charts, report.html and
 * manifest.json, replaced as a whole, by one writer at a time.
 *
 * How the set is swapped in, and why this way: the new set is written into a fresh directory
 * beside DIR (`.NAME.vhw-new-*`, a dot name in DIR's parent, never inside DIR), flushed, and
 * then renamed into place: `rename(DIR, .NAME.vhw-old-*)`, `rename(new, DIR)`, and the old one
 * removed. A rename is atomic, so a reader of DIR sees the old complete set or the new one,
 * never files of both. Node has no atomic exchange of two directories (Linux's
 * renameat2(RENAME_EXCHANGE)), so for the instant between the two renames DIR does not exist;
 * a kill -9 exactly there leaves the old complete set in `.NAME.vhw-old-*` and the new one in
 * `.NAME.vhw-new-*`. The next writer (holding the lock) renames the old set back before it does
 * anything else, and {@link resultSetDir} (what `vhw merge` uses to read a DIR) reads the old set
 * while DIR is missing. Nothing ever reads a `vhw-new` directory: it is complete only once it is
 * DIR. A manifest written last inside DIR was the other choice; it was not taken because
 * README users open DIR/report.html and DIR/results.json directly, and those files must never
 * be a mix of two sets whatever reads them.
 *
 * The lock is a file beside DIR (`.NAME.vhw-lock`, beside because DIR itself is swapped),
 * created exclusively and naming its holder (pid, host, start time, command line). A lock whose
 * pid is no longer running on this host is taken over, one taker at a time (a guard directory
 * serialises takers, and the lock is checked again inside it), and the take-over is reported;
 * a lock of another host, or of a live process, is refused with how to remove it.
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  rmdirSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
  accessSync,
  constants as fsConstants,
} from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { randomBytes } from 'node:crypto';
import { VhwError } from '@vhw/core';
import { provenance } from './provenance.js';

/** The files vhw writes into a result set; a DIR holding anything else is not vhw's to replace. */
export const RESULT_SET_FILES: readonly string[] = [
  'results.json',
  'results.csv',
  'chart.svg',
  'vary.svg',
  'heatmap.svg',
  'report.html',
  'manifest.json',
];

/** Who holds a result directory's lock, as written in the lock file. */
export interface LockHolder {
  pid: number;
  host: string;
  /** ISO time the holder started writing. */
  started: string;
  command: string[];
  /** Random token, so a holder removes only its own lock. */
  token: string;
}

/** Points where a test can make the writer fail, to show a failure leaves the old set intact. */
export interface ResultSetSeams {
  /** Called after each file of the new set is written (before the swap). */
  afterFile?: (name: string) => void;
  /** Called between moving the old set away and moving the new one in. */
  betweenRenames?: () => void;
}

/** An output directory opened for writing: checked, locked, ready to take a set. */
export interface OutDir {
  /** Absolute path of DIR. */
  readonly dir: string;
  /** Whether DIR held a non-empty results.json when it was opened. */
  hasResults(): boolean;
  /** Writes the set (file name to content) and swaps it in as one step. */
  writeSet(files: ReadonlyArray<readonly [string, string]>, seams?: ResultSetSeams): void;
  /** Removes the lock (only this holder's); also done when the process exits. */
  release(): void;
}

const siblings = (dir: string, kind: 'new' | 'old') => {
  const parent = dirname(dir);
  const prefix = `.${basename(dir)}.vhw-${kind}-`;
  return existsSync(parent)
    ? readdirSync(parent)
        .filter((f) => f.startsWith(prefix))
        .map((f) => join(parent, f))
    : [];
};

const lockFileOf = (dir: string) => join(dirname(dir), `.${basename(dir)}.vhw-lock`);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but is someone else's.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(file: string): LockHolder | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
}

function describeHolder(h: LockHolder | undefined): string {
  if (!h) return 'an unreadable lock';
  return `pid ${h.pid} on ${h.host} (started ${h.started}: vhw ${h.command.join(' ')})`;
}

function fsyncPath(path: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    fsyncSync(fd);
  } catch {
    /* some file systems cannot fsync a directory; the renames are still atomic */
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Creates the lock file exclusively; false when it exists. */
function tryCreateLock(file: string, holder: LockHolder): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    writeSync(fd, `${JSON.stringify(holder)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

function acquireLock(dir: string, flag: string, warn: (s: string) => void): LockHolder {
  const file = lockFileOf(dir);
  const me: LockHolder = {
    pid: process.pid,
    host: hostname(),
    started: new Date().toISOString(),
    command: provenance().command,
    token: randomBytes(8).toString('hex'),
  };
  try {
    if (tryCreateLock(file, me)) return me;
  } catch (e) {
    throw new VhwError('E_CONFIG', `${flag} ${dir}: cannot write beside it in ${dirname(dir)}: ${(e as Error).message}`);
  }
  const held = readHolder(file);
  const how = `if no vhw is writing there, remove ${file} and run again`;
  if (!held || held.host !== me.host || alive(held.pid)) {
    throw new VhwError('E_CONFIG', `${flag} ${dir} is being written by ${describeHolder(held)}; ${how}`);
  }
  // Take the stale lock over, one taker at a time; check it again under the guard.
  const guard = `${file}.takeover`;
  try {
    mkdirSync(guard);
  } catch {
    throw new VhwError('E_CONFIG', `${flag} ${dir}: another vhw is taking over the stale lock ${file}; ${how} (and ${guard})`);
  }
  try {
    const again = readHolder(file);
    if (again?.token !== held.token) throw new VhwError('E_CONFIG', `${flag} ${dir} is being written by ${describeHolder(again)}; ${how}`);
    unlinkSync(file);
    if (!tryCreateLock(file, me)) throw new VhwError('E_CONFIG', `${flag} ${dir} is being written by ${describeHolder(readHolder(file))}`);
  } finally {
    rmdirSync(guard);
  }
  warn(`vhw: took over the lock of ${describeHolder(held)}, which is no longer running`);
  return me;
}

/**
 * Puts DIR back in order after a writer was killed: the old set back in place when DIR is
 * missing, leftover old and new directories removed. Only the lock holder calls this.
 */
function recover(dir: string): void {
  const olds = siblings(dir, 'old');
  if (!existsSync(dir) && olds.length > 0) renameSync(olds[0]!, dir);
  for (const d of [...siblings(dir, 'old'), ...siblings(dir, 'new')]) rmSync(d, { recursive: true, force: true });
}

/**
 * The directory to read a result set from: DIR, or while DIR is missing because a writer was
 * killed between its two renames, the complete old set beside it. Never a set being written.
 * @returns undefined when there is no set
 */
export function resultSetDir(dir: string): string | undefined {
  const abs = resolve(dir);
  if (existsSync(abs)) return abs;
  return siblings(abs, 'old')[0];
}

/**
 * Opens `--out DIR` before any run: checks that DIR is (or can be created as) a directory
 * that vhw may replace, takes its lock, puts it back in order after a killed writer and
 * creates it if missing.
 * @throws VhwError E_CONFIG with what is wrong: DIR is a file, its parent is missing or not
 *   writable, it holds files vhw did not write, or another vhw is writing it
 */
export function openOutDir(dirArg: string, flag: string, warn: (s: string) => void = () => {}): OutDir {
  const dir = resolve(dirArg);
  const parent = dirname(dir);
  const bad = (what: string) => new VhwError('E_CONFIG', `${flag} ${dirArg}: ${what}`);
  if (dir === parent) throw bad('is the root directory; give a directory of its own');
  const cwdRel = relative(dir, process.cwd());
  if (cwdRel === '' || (!cwdRel.startsWith('..') && !cwdRel.startsWith(sep)))
    throw bad('holds the working directory; vhw replaces DIR as a whole, give a directory of its own');
  if (!existsSync(parent) || !statSync(parent).isDirectory()) throw bad(`no such directory ${parent} to create it in`);
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw bad('is a file; give a directory');
  try {
    accessSync(parent, fsConstants.W_OK);
  } catch {
    throw bad(`cannot be written: ${parent} is not writable (vhw writes the new set beside DIR and renames it into place)`);
  }
  const holder = acquireLock(dir, flag, warn);
  const lockFile = lockFileOf(dir);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.removeListener('exit', release);
    if (readHolder(lockFile)?.token === holder.token) rmSync(lockFile, { force: true });
  };
  process.on('exit', release);
  try {
    recover(dir);
    if (existsSync(dir)) {
      const foreign = readdirSync(dir).filter((f) => !RESULT_SET_FILES.includes(f));
      if (foreign.length > 0)
        throw bad(
          `holds files vhw did not write (${foreign.slice(0, 3).join(', ')}); vhw replaces DIR as a whole, give an empty or new directory`,
        );
      accessSync(dir, fsConstants.W_OK);
    } else {
      mkdirSync(dir);
    }
  } catch (e) {
    release();
    if (VhwError.is(e)) throw e;
    throw bad(`cannot be written: ${(e as Error).message}`);
  }
  return {
    dir,
    hasResults: () => hasResults(dir),
    writeSet: (files, seams) => writeSet(dir, files, seams),
    release,
  };
}

function hasResults(dir: string): boolean {
  try {
    const rows: unknown = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
    return !Array.isArray(rows) || rows.length > 0;
  } catch {
    return existsSync(join(dir, 'results.json'));
  }
}

function writeSet(dir: string, files: ReadonlyArray<readonly [string, string]>, seams: ResultSetSeams = {}): void {
  const parent = dirname(dir);
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const fresh = join(parent, `.${basename(dir)}.vhw-new-${tag}`);
  const old = join(parent, `.${basename(dir)}.vhw-old-${tag}`);
  let movedAway = false;
  try {
    mkdirSync(fresh);
    for (const [name, data] of files) {
      const fd = openSync(join(fresh, name), 'w');
      try {
        writeFileSync(fd, data);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      seams.afterFile?.(name);
    }
    fsyncPath(fresh);
    if (existsSync(dir)) {
      renameSync(dir, old);
      movedAway = true;
    }
    seams.betweenRenames?.();
    renameSync(fresh, dir);
    fsyncPath(parent);
  } catch (e) {
    rmSync(fresh, { recursive: true, force: true });
    if (movedAway && !existsSync(dir)) renameSync(old, dir);
    throw new VhwError('E_CONFIG', `cannot write the result set to ${dir}: ${(e as Error).message}; the previous set is unchanged`, {
      cause: e,
    });
  }
  rmSync(old, { recursive: true, force: true });
}
