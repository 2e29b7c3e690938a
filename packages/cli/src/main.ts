import { Command, CommanderError } from 'commander';
import { VhwError } from '@vhw/core';
import { addCompareCommand } from './commands/compare.js';
import { addExplainCommand } from './commands/explain.js';
import { addListCommand } from './commands/list.js';
import { addMapCommand } from './commands/map.js';
import { addMergeCommand } from './commands/merge.js';
import { addNewCommand } from './commands/new.js';
import { addRunCommand } from './commands/run.js';
import { addSweepCommand } from './commands/sweep.js';
import type { Io } from './output.js';
import { recordInvocation, vhwVersion } from './provenance.js';

/** Builds the commander program; `io` receives output so tests can capture it. */
export function buildProgram(io: Io): Command {
  const program = new Command('vhw')
    .description('vhw, the virtual-hardware workbench: run passthrough experiments on emulated PPC64 and control machines')
    .showHelpAfterError('(run with --help for usage)')
    .version(vhwVersion(), '--version', 'print the vhw version')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.replace(/\n$/, '')), writeErr: (s) => io.err(s.replace(/\n$/, '')) });
  // The order of `vhw --help`.
  addListCommand(program, io);
  addRunCommand(program, io);
  addSweepCommand(program, io);
  addMergeCommand(program, io);
  addMapCommand(program, io);
  addExplainCommand(program, io);
  addCompareCommand(program, io);
  addNewCommand(program, io);
  return program;
}

/** Runs the CLI; returns the exit code. Errors become one clear message, never a stack trace. */
export async function main(argv: string[], io: Io = { out: (s) => console.log(s), err: (s) => console.error(s) }): Promise<number> {
  recordInvocation(argv.slice(2));
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (VhwError.is(e)) {
      io.err(`vhw: ${e.message}`);
      return 2;
    }
    io.err(
      `vhw: internal error: ${(e as Error)?.message ?? String(e)}${process.env.VHW_DEBUG ? `\n${(e as Error)?.stack}` : ' (set VHW_DEBUG=1 for the stack)'}`,
    );
    return 70;
  }
}
