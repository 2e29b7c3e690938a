// The API reference: `npm run docs` writes docs/api, one module per package's public entry
// point, with the plugin-author guide as its front page. Every export must be documented:
// validation warnings are errors, so an undocumented export fails the build.

import { existsSync, readFileSync, readdirSync } from 'node:fs';

/**
 * The public packages: every workspace package under packages/ and plugins/ not marked
 * private (test-support is) that has an API entry point (@vhw/scenarios has none: its
 * modules are scenario files, loaded by name).
 */
const packages = ['packages', 'plugins'].flatMap((root) =>
  readdirSync(root)
    .map((name) => `${root}/${name}`)
    .filter(
      (dir) =>
        existsSync(`${dir}/src/index.ts`) &&
        existsSync(`${dir}/package.json`) &&
        !JSON.parse(readFileSync(`${dir}/package.json`, 'utf8')).private,
    )
    .sort(),
);

// zod's z.enum([...]) types carry an object of the values (`{ bus: "bus", device: "device" }`);
// typedoc lists it as properties of the option's type. The values are the documentation.
const zodEnumValues = {
  '@vhw/core.simplePlatform': { unassignedPolicy: ['fault', 'ignore', 'zero'] },
  '@vhw/vmm.vmm': {
    guestBarPlacement: ['natural', 'page-aligned'],
    msixRelocation: ['off', 'auto', 'bar0', 'bar1', 'bar2', 'bar3', 'bar4', 'bar5'],
  },
  '@vhw/vmm.vmmOptions': {
    guestBarPlacement: ['natural', 'page-aligned'],
    msixRelocation: ['off', 'auto', 'bar0', 'bar1', 'bar2', 'bar3', 'bar4', 'bar5'],
  },
  '@vhw/platform-ppc64.ppc64Platform': { peGranularity: ['bus', 'device'] },
  '@vhw/platform-ppc64.ppc64PlatformOptions': { peGranularity: ['bus', 'device'] },
  '@vhw/platform-arm64.arm64Platform': { smmuGrouping: ['acs', 'bus'] },
  '@vhw/platform-arm64.arm64PlatformOptions': { smmuGrouping: ['acs', 'bus'] },
  '@vhw/vfio-pci.vfioPci': { variant: ['rfc-2015', 'upstream'] },
  '@vhw/vfio-pci.vfioPciOptions': { variant: ['rfc-2015', 'upstream'] },
  '@vhw/device-nvme-lite.nvmeLite': { layout: ['bar0-16k', 'bar0-64k'], workload: ['io', 'mmio'] },
  '@vhw/device-nvme-lite.nvmeLiteSchema': { layout: ['bar0-16k', 'bar0-64k'], workload: ['io', 'mmio'] },
  '@vhw/device-nic-lite.nicLite': { workload: ['io', 'mmio'] },
  '@vhw/guest.mmioWorkloadFields': { workload: ['io', 'mmio'] },
  '@vhw/device-nic-lite.nicLiteSchema': { workload: ['io', 'mmio'] },
};

// notExported stays off: a package may name an internal type in a public one (nvme-lite's
// driver implements its queue pairs' callback interface) without making it API. Each
// package is converted with packageOptions, then the merged site is validated with the
// top-level options (where documentation is checked once, with the packages' full names).
const validation = { notExported: false, invalidLink: true, notDocumented: true };

/** @type {Partial<import('typedoc').TypeDocOptions>} */
export default {
  name: 'vhw',
  entryPointStrategy: 'packages',
  entryPoints: packages,
  packageOptions: {
    entryPoints: ['src/index.ts'],
    // The workspace's tsconfig resolves @vhw/* to their sources (vhw-source): no build needed.
    tsconfig: '../../tsconfig.json',
    excludeInternal: true,
    // The repository has no public remote to link source lines to.
    disableSources: true,
    validation: { ...validation, notDocumented: false },
  },
  readme: 'examples/custom-device/README.md',
  out: 'docs/api',
  excludePrivate: true,
  disableSources: true,
  validation,
  treatValidationWarningsAsErrors: true,
  intentionallyNotDocumented: Object.entries(zodEnumValues).flatMap(([owner, fields]) =>
    Object.entries(fields).flatMap(([field, values]) => values.map((v) => `${owner}.__type.${field}.__type.${v}`)),
  ),
};
