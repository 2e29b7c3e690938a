/**
 * The layer rules of vhw (see the README's architecture section): who may import whom.
 * Run by `npm run lint:deps` in CI.
 */
const pkg = (p) => `^(packages|plugins)/${p}/`;
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
      name: 'no-src-deep-imports',
      comment: 'packages import each other only through their exports',
      severity: 'error',
      from: { path: '^(packages|plugins)/([^/]+)/' },
      to: { path: '^(packages|plugins)/([^/]+)/src/', pathNot: ['^(packages|plugins)/$2/', '^(packages|plugins)/[^/]+/src/index\\.ts$'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(node_modules|dist|\\.test\\.ts$)' },
    tsPreCompilationDeps: true,
    combinedDependencies: true,
    preserveSymlinks: false,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { conditionNames: ['vhw-source', 'import', 'types', 'default'], exportsFields: ['exports'] },
  },
};
