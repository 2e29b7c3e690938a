import type { VhwPlugin } from '@vhw/core';
import { toyDevice } from './toy-device.js';

/** A toy device shaped like an NVMe-16K: one 16 KiB 64-bit BAR, the MSI-X table at 0x2000 and the PBA at 0x3000. */
export function toyNvme16k(name: string, vectors: number): VhwPlugin {
  return toyDevice({
    name,
    bars: [{ index: 0, size: 0x4000, kind: 'mem64' }],
    msix: { vectors, tableBar: 0, tableOffset: 0x2000, pbaBar: 0, pbaOffset: 0x3000 },
  });
}

/** A toy device shaped like an igbvf: BAR0 16 KiB registers, BAR3 16 KiB holding the table at 0 and the PBA at 0x2000. */
export function toyIgbvf(name: string): VhwPlugin {
  return toyDevice({
    name,
    bars: [
      { index: 0, size: 0x4000 },
      { index: 3, size: 0x4000 },
    ],
    msix: { vectors: 3, tableBar: 3, tableOffset: 0, pbaBar: 3, pbaOffset: 0x2000 },
  });
}
