// Worker-thread entry for sweeps over `jobs` threads: loader hooks are per thread, so
// register TypeScript loading (tsx) and the vhw-source condition here before importing
// the task module (a scenario file may be TypeScript and import workspace sources).
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

register('./source-condition.mjs', import.meta.url);
registerTsx();

const mod = await import('./worker.ts');
export default mod.default;
