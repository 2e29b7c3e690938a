#!/usr/bin/env node
// The vhw command. Which form of the CLI runs is decided by what sits beside this file:
// - src/main.ts exists only in a checkout of the vhw workspace (the package's `files` ship
//   dist/ and bin/, never src/). There the TypeScript sources run through tsx with the
//   vhw-source condition, so `npm ci && npm start` needs no build and never runs a stale
//   dist/ left by an earlier `npm run build`.
// - Anywhere else (the package installed from its tarball) the built JavaScript of dist/
//   runs, with no TypeScript compiler loaded.
// VHW_BUILT=1 runs dist/ inside the workspace too (after `npm run build`: benchmarks of the
// built package, checking a build).
import { existsSync } from 'node:fs';

const fromSources = process.env.VHW_BUILT !== '1' && existsSync(new URL('../src/main.ts', import.meta.url));
if (fromSources) await import('./register.mjs');
const { main } = await import(fromSources ? '../src/main.ts' : '../dist/main.js');
process.exitCode = await main(process.argv);
