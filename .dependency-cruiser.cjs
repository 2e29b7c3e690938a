/**
 * The layer rules of vhw (see the README's architecture section): who may import whom.
 * Run by `npm run lint:deps` in CI, over the packages, their tests, the whole-stack tests
 * under test/, the examples and the benchmarks.
 */
const pkg = (p) => `^(packages|plugins)/${p}/`;
// A test file, or a fixture in a package's own test/ folder.
const TEST = '(\\.test\\.ts$|\\btest/)';
/** Where the shared test helpers may be used: tests, the whole-stack tests and fixtures under test/, the helpers themselves. */
const TEST_ONLY = [TEST, '^test/', '^packages/test-support/'];
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'core-imports-no-vhw',
      comment: 'core knows no PCI, no platform, no plugin',
      severity: 'error',
      from: { path: pkg('core') },
      to: { path: '^(packages|plugins)/(?!core/)' },
    },
    {
      name: 'pci-only-core',
      comment: 'PCI as the spec defines it: it knows no guest OS, no vfio, no VMM, no platform',
      severity: 'error',
      from: { path: pkg('pci') },
      to: { path: '^(packages|plugins)/(?!(core|pci)/)' },
    },
    {
      name: 'guest-only-core-pci',
      comment: 'the guest OS sees PCI as a guest kernel does; it knows nothing of the host, vfio or the VMM',
      severity: 'error',
      from: { path: pkg('guest') },
      to: { path: '^(packages|plugins)/(?!(core|pci|guest)/)' },
    },
    {
      name: 'devices-only-core-pci-guest',
      comment: 'a device (and its guest driver) does not know it is passed through, nor where it runs, nor other devices',
      severity: 'error',
      from: { path: '^plugins/(device-[^/]+)/' },
      to: { path: '^(packages|plugins)/', pathNot: ['^packages/(core|pci|guest)/', '^plugins/$1/'] },
    },
    {
      name: 'platforms-only-core-pci',
      severity: 'error',
      from: { path: '^plugins/(platform-[^/]+)/' },
      to: { path: '^(packages|plugins)/', pathNot: ['^packages/(core|pci)/', '^plugins/$1/'] },
    },
    {
      name: 'vfio-not-vmm',
      comment: 'the kernel does not call up into userspace',
      severity: 'error',
      from: { path: pkg('vfio-pci') },
      to: { path: '^(packages|plugins)/(?!(core|pci|vfio-pci)/)' },
    },
    {
      name: 'vmm-below-cli',
      severity: 'error',
      from: { path: pkg('vmm') },
      to: { path: '^(packages|plugins)/(?!(core|pci|guest|vfio-pci|vmm)/)' },
    },
    {
      name: 'experiment-not-cli',
      comment: 'the experiment API is what the CLI stands on; it may import anything but the CLI',
      severity: 'error',
      from: { path: pkg('experiment') },
      to: { path: pkg('cli') },
    },
    {
      name: 'scenarios-use-the-experiment-api',
      comment: 'the built-in scenarios are scenario files as a user writes them: the experiment API, core and device plugins',
      severity: 'error',
      from: { path: pkg('scenarios') },
      to: { path: '^(packages|plugins)/', pathNot: ['^packages/(core|experiment|scenarios)/', '^plugins/device-[^/]+/'] },
    },
    {
      name: 'nothing-imports-scenarios',
      comment: "@vhw/experiment's loadScenario finds the built-in scenarios by their package's location; an import would be a cycle",
      severity: 'error',
      from: { pathNot: pkg('scenarios') },
      to: { path: pkg('scenarios') },
    },
    {
      name: 'only-core-loads-zod-and-inversify',
      comment:
        "the built @vhw/core carries zod and inversify inside it (start-up time); everyone else uses core's re-exports, so a process holds one copy and one set of DI metadata",
      severity: 'error',
      from: { pathNot: pkg('core') },
      to: { path: 'node_modules/(zod|inversify|@inversifyjs)/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-src-deep-imports',
      comment: 'packages import each other only through their exports',
      severity: 'error',
      from: { path: '^(packages|plugins)/([^/]+)/' },
      to: { path: '^(packages|plugins)/([^/]+)/src/', pathNot: ['^(packages|plugins)/$2/', '^(packages|plugins)/[^/]+/src/index\\.ts$'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)dist/' },
    tsPreCompilationDeps: true,
    combinedDependencies: true,
    preserveSymlinks: false,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { conditionNames: ['vhw-source', 'import', 'types', 'default'], exportsFields: ['exports'] },
  },
};

/**
 * Tests obey the layer rule of the package they sit in, so every rule above that names who
 * may import whom is checked twice: once for a package's code, once for its tests. A test may
 * also import what TEST_MAY_ALSO_USE lists; a vfio-pci test also runs on a platform, the way
 * the kernel's vfio-pci binds devices behind a real host bridge.
 */
const TEST_MAY_ALSO_USE = {
  all: [
    '^packages/test-support/',
    // The experiment API, by name: how a plugin's tests (ours or an outside author's) run
    // the whole passthrough stack around the plugin.
    '^packages/experiment/src/index\\.ts$',
  ],
  'vfio-not-vmm': ['^plugins/platform-[^/]+/'],
};
const layerRuleForCodeAndTests = (rule) => {
  if (!rule.from.path || !rule.to.path) return [rule];
  const also = [...TEST_MAY_ALSO_USE.all, ...(TEST_MAY_ALSO_USE[rule.name] ?? [])];
  return [
    { ...rule, from: { ...rule.from, pathNot: TEST } },
    {
      ...rule,
      name: `${rule.name}-in-tests`,
      from: { ...rule.from, path: `${rule.from.path}(?=.*${TEST})` },
      to: { ...rule.to, pathNot: [...[rule.to.pathNot ?? []].flat(), ...also] },
    },
  ];
};

/** Rules for tests, examples and benchmarks as a whole, and for the test helpers. */
const TEST_AND_EXAMPLE_RULES = [
  {
    name: 'cross-package-imports-by-name',
    comment:
      'code, tests, examples and benchmarks reach another package by its name, through its exports; ' +
      'never by a relative path into it (no ../../../test/support, no path into the CLI)',
    severity: 'error',
    from: { path: '^((packages|plugins)/[^/]+|test|examples|bench)/' },
    to: { path: '^(packages|plugins)/', pathNot: '^$1/', dependencyTypesNot: ['aliased-workspace'] },
  },
  {
    name: 'no-src-deep-imports-from-outside',
    comment: 'tests, examples and benchmarks import only what a package exports',
    severity: 'error',
    from: { path: '^(test|examples|bench)/' },
    to: { path: '^(packages|plugins)/[^/]+/src/', pathNot: '^(packages|plugins)/[^/]+/src/index\\.ts$' },
  },
  {
    name: 'test-support-only-for-tests',
    comment: '@vhw/test-support holds test helpers: no package, example or benchmark code depends on it',
    severity: 'error',
    from: { pathNot: TEST_ONLY },
    to: { path: '^packages/test-support/' },
  },
  {
    name: 'test-support-only-core-pci',
    comment: 'the test helpers sit just above pci, so that the tests of every package from pci up can use them',
    severity: 'error',
    from: { path: pkg('test-support') },
    to: { path: '^(packages|plugins)/(?!(core|pci|test-support)/)' },
  },
];

module.exports.forbidden = [...module.exports.forbidden.flatMap(layerRuleForCodeAndTests), ...TEST_AND_EXAMPLE_RULES];
