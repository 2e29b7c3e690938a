// Registers TypeScript loading (tsx) and the vhw-source condition for this thread.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

register('./source-condition.mjs', import.meta.url);
registerTsx();
