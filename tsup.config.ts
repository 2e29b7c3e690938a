import { copyFileSync, existsSync, readdirSync, rmSync } from 'node:fs';
import { defineConfig, type Options } from 'tsup';

// One ESM build per workspace package into its dist/, from its src/index.ts and the other
// entry points listed below. Types come from `tsc -b tsconfig.build.json`. vhw packages and
// every third-party dependency stay external, so there is one copy of the DI metadata and
// an installed package loads its dependencies from node_modules like any other.
const packages = [
  'packages/core',
  'packages/pci',
  'packages/guest',
  'packages/vmm',
  'packages/experiment',
  'packages/scenarios',
  'packages/cli',
  'plugins/platform-ppc64',
  'plugins/platform-generic',
  'plugins/platform-arm64',
  'plugins/vfio-pci',
  'plugins/device-nvme-lite',
  'plugins/device-nic-lite',
  'examples/custom-device',
];

/** Entry points beyond src/index.ts, by package. */
const entries: Record<string, () => Record<string, string>> = {
  // The command's entry (bin/vhw.mjs imports dist/main.js when installed).
  'packages/cli': () => ({ index: 'packages/cli/src/index.ts', main: 'packages/cli/src/main.ts' }),
  // The task module sweep worker threads import (through dist/worker-entry.mjs).
  'packages/experiment': () => ({ index: 'packages/experiment/src/index.ts', worker: 'packages/experiment/src/worker.ts' }),
  // One module per built-in scenario, found by name in dist/ (no index).
  'packages/scenarios': () =>
    Object.fromEntries(
      readdirSync('packages/scenarios/src')
        .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
        .map((f) => [f.slice(0, -3), `packages/scenarios/src/${f}`]),
    ),
};

/**
 * Libraries bundled into a package's dist/ instead of loaded from node_modules. zod and
 * inversify are hundreds of small ES modules (about 340 files), and loading them was most
 * of the command's start-up; bundled into @vhw/core, they load as one file. There is still
 * one copy of each per process, core's: no other package imports them at run time (they
 * use core's re-exports; `npm run lint:deps` enforces it), so the DI metadata stays shared.
 */
const bundled: Record<string, (string | RegExp)[]> = {
  'packages/core': ['zod', /^zod\//, 'inversify', /^@inversifyjs\//],
  // The command's own libraries (commander, cli-table3, cli-progress and theirs): CommonJS
  // that Node would otherwise load and scan file by file. Only the CLI uses them. The chart
  // libraries stay outside: they are imported only when a chart is drawn.
  'packages/cli': [/^(?!@vhw\/|vega)[^./]/],
};

/**
 * Bundled CommonJS calls `require` for Node's own modules; an ES module has none, so the
 * packages that bundle CommonJS get one made for the module.
 */
const requireShim: Record<string, string> = {
  'packages/cli': "import { createRequire as vhwCreateRequire } from 'node:module';\nconst require = vhwCreateRequire(import.meta.url);",
};

/** Files copied as they are into dist/ after a package's build. */
const copied: Record<string, string[]> = {
  // Plain JavaScript that works beside the sources and beside the built worker.js.
  'packages/experiment': ['worker-entry.mjs'],
};

/**
 * Removes the JavaScript of earlier builds from each dist/ (entry points and chunks, whose
 * names change with their content), so a tarball ships only what this build wrote; the
 * type declarations of `tsc -b` stay.
 */
function removeOldJs(): void {
  for (const dir of packages) {
    const dist = `${dir}/dist`;
    if (!existsSync(dist)) continue;
    for (const f of readdirSync(dist)) if (/\.(js|js\.map|mjs)$/.test(f)) rmSync(`${dist}/${f}`);
  }
}
removeOldJs();

export default defineConfig(
  packages.map(
    (dir): Options => ({
      entry: entries[dir]?.() ?? { index: `${dir}/src/index.ts` },
      outDir: `${dir}/dist`,
      format: ['esm'],
      target: 'node20',
      platform: 'node',
      tsconfig: `${dir}/tsconfig.json`,
      dts: false,
      sourcemap: true,
      // Not tsup's clean: it would delete the type declarations tsc -b wrote; see removeOldJs.
      clean: false,
      // Shared code of several entries goes to one chunk: one copy of each module per process.
      splitting: true,
      // Every bare import (vhw packages, third-party libraries, node builtins) stays external.
      external: [/^[^./]/],
      noExternal: bundled[dir],
      banner: requireShim[dir] ? { js: requireShim[dir] } : undefined,
      onSuccess: copied[dir]
        ? async () => {
            for (const f of copied[dir] ?? []) copyFileSync(`${dir}/src/${f}`, `${dir}/dist/${f}`);
          }
        : undefined,
    }),
  ),
);
