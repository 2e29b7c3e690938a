/**
 * Runs the CLI in-process for tests, as `bin/vhw` runs it, capturing what it prints.
 */
import { main } from '../src/main.js';

/** What one in-process `vhw` printed and returned. */
export interface VhwRun {
  /** The exit code. */
  code: number;
  /** stdout as the terminal gets it: each printed line ends with a line feed, as `console.log` ends it. */
  raw: string;
  /** stderr, lines joined by line feeds. */
  err: string;
}

/**
 * Runs `vhw ARGS` through `main` with captured output.
 *
 * @param args - the arguments after `vhw`.
 * @returns the exit code and the captured output.
 * @example
 * const r = await vhw('map', 'ppc64-nvme', '--format', 'json');
 */
export async function vhw(...args: string[]): Promise<VhwRun> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(['node', 'vhw', ...args], { out: (s) => out.push(`${s}\n`), err: (s) => err.push(s) });
  return { code, raw: out.join(''), err: err.join('\n') };
}
