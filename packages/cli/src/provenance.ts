/**
 * Provenance of a command's output: the vhw version, the command line and the Node.js
 * version, recorded in a result set's manifest and report so a result can be traced back to
 * how it was made and run again (as gem5 writes config.json beside its stats).
 */
import { readFileSync } from 'node:fs';

let version: string | undefined;

/** The version of the `vhw` package (packages/cli/package.json; the same path from src/ and from a build in dist/). */
export function vhwVersion(): string {
  if (version === undefined) {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    version = typeof pkg.version === 'string' ? pkg.version : 'unknown';
  }
  return version;
}

let args: string[] = [];

/** Records the arguments the CLI was started with (after `node vhw`); `main` calls it first. */
export function recordInvocation(argv: readonly string[]): void {
  args = [...argv];
}

/** What a result records about how it was made. */
export interface Provenance {
  vhw: string;
  node: string;
  /** The arguments after `vhw`, e.g. `["sweep", "ppc64-nvme", "--ops", "64", "--out", "res"]`. */
  command: string[];
  /** The working directory the command ran in (relative paths in `command` are relative to it). */
  cwd: string;
}

/** The provenance of the running command. */
export function provenance(): Provenance {
  return { vhw: vhwVersion(), node: process.version, command: [...args], cwd: process.cwd() };
}
