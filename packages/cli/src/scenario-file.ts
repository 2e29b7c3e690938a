import { type Scenario, loadScenario } from '@vhw/experiment';
import type { Io } from './output.js';

/** Node's exit code when the event loop empties while a top-level await is still pending. */
const UNSETTLED_TOP_LEVEL_AWAIT = 13;

/**
 * Loads the scenario a command names (`loadScenario`), and says what went wrong when its file
 * never finishes loading: a top-level await in it that never settles leaves node nothing to
 * run, and node would exit 13 with nothing printed. The message names the file and the exit
 * status becomes 2, as for any other scenario file that fails to load.
 * @param io - where the message goes
 * @param ref - the built-in name or file path the user gave
 */
export async function loadScenarioOf(io: Io, ref: string): Promise<Scenario> {
  // Node sets the code in process.exitCode and emits 'exit' with 0: look at both.
  const onExit = (code: number) => {
    if (code !== UNSETTLED_TOP_LEVEL_AWAIT && process.exitCode !== UNSETTLED_TOP_LEVEL_AWAIT) return;
    io.err(
      `vhw: scenario file ${ref} never finished loading: a top-level await in it never settles; allowed: top-level awaits that settle (or none)`,
    );
    process.exitCode = 2;
  };
  process.on('exit', onExit);
  try {
    return await loadScenario(ref);
  } finally {
    process.off('exit', onExit);
  }
}
