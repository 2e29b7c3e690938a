import { existsSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { VhwError } from '@vhw/core';

/** Where a command prints: its results (`out`, stdout) and its messages (`err`, stderr); tests capture both. */
export interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
}

/** Checks that `dir` exists and is a directory (we never create output trees silently). */
export function requireDir(dir: string, flag: string): string {
  const abs = resolve(dir);
  if (!existsSync(abs) || !statSync(abs).isDirectory()) {
    throw new VhwError('E_NOT_FOUND', `${flag} ${dir}: no such directory; create it first`);
  }
  return abs;
}

/**
 * Writes a file atomically: to a temporary file beside it, then renamed over the
 * target, so a failed run never leaves a partly written result.
 */
export function writeFileAtomic(file: string, data: string): void {
  const abs = resolve(file);
  requireDir(dirname(abs), 'output directory');
  const tmp = join(dirname(abs), `.${Date.now()}-${process.pid}.tmp`);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, abs);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* nothing to clean */
    }
    throw new VhwError('E_NOT_FOUND', `cannot write ${file}: ${(e as Error).message}`, { cause: e });
  }
}
