// A scenario file for the vhw CLI: `vhw run examples/custom-device/scenario.ts --patches all`.
// It lives outside src/: it is a user of the package, not part of it, and it imports the
// experiment API from the `vhw` CLI package.
import { defineScenario, passthroughMachine } from '@vhw/experiment';
import { rngLite } from 'vhw-example-custom-device';

export default defineScenario({
  name: 'ppc64-rng-lite',
  description: 'PPC64 64 KiB pages passing through rng-lite: 4 KiB register BAR, 4 KiB MSI-X BAR',
  ops: 2000,
  machine: (config) => passthroughMachine({ platform: 'ppc64', devices: [rngLite({ poolWords: 32 })] }, config),
});
