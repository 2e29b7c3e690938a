// Registers TypeScript loading (tsx) and the vhw-source condition for this thread: the
// workspace's way of running the sources with no build. tsx compiles them with the
// workspace's tsconfig.json (decorators), wherever the command is started from.
import { register } from 'node:module';
import { fileURLToPath } from 'node:url';
import { register as registerTsx } from 'tsx/esm/api';

register('./source-condition.mjs', import.meta.url);
registerTsx({ tsconfig: fileURLToPath(new URL('../../../tsconfig.json', import.meta.url)) });
