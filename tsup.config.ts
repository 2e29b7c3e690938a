import { defineConfig } from 'tsup';

// One ESM build per workspace package, from its src/index.ts. Types come from `tsc -b`.
// vhw packages and the DI libraries stay external so there is one copy of the DI metadata.
const packages = [
  'packages/core',
  'packages/pci',
  'packages/guest',
  'packages/vmm',
  'packages/experiment',
  'packages/cli',
  'plugins/platform-ppc64',
  'plugins/platform-generic',
  'plugins/vfio-pci',
  'plugins/device-nvme-lite',
  'plugins/device-nic-lite',
];

export default defineConfig(
  packages.map((dir) => ({
    entry: { index: `${dir}/src/index.ts` },
    outDir: `${dir}/dist`,
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    tsconfig: `${dir}/tsconfig.json`,
    dts: false,
    sourcemap: true,
    clean: false,
    splitting: false,
    external: [
      /^@vhw\//,
      'inversify',
      'reflect-metadata',
      'eventemitter3',
      'zod',
      'commander',
      'cli-table3',
      'cli-progress',
      'piscina',
      'vega',
      'vega-lite',
      'tsx',
    ],
  })),
);
