#!/usr/bin/env node
// The vhw command. Loads the TypeScript sources directly (tsx), so `npx vhw` works
// right after `npm ci` with no build step.
import './register.mjs';

const { main } = await import('../src/main.ts');
process.exitCode = await main(process.argv);
