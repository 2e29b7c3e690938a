// Worker-thread entry for sweeps over `jobs` threads. The build copies this file next to the
// built worker.js, so the same file serves both forms of the package:
// - beside worker.ts (the sources, inside the vhw workspace): loader hooks are per thread, so
//   register TypeScript loading (tsx) and the vhw-source condition before importing the
//   task module, as bin/vhw.mjs does for the main thread;
// - beside worker.js (dist/, an installed package): import the built task module as it is.
import { existsSync } from 'node:fs';

const fromSources = existsSync(new URL('./worker.ts', import.meta.url));
if (fromSources) {
  const { register } = await import('node:module');
  const { fileURLToPath } = await import('node:url');
  const { register: registerTsx } = await import('tsx/esm/api');
  register('./source-condition.mjs', import.meta.url);
  // The workspace's tsconfig.json (decorators), wherever the command was started from.
  registerTsx({ tsconfig: fileURLToPath(new URL('../../../tsconfig.json', import.meta.url)) });
}
const mod = await import(fromSources ? './worker.ts' : './worker.js');
export default mod.default;
