import { type OptionDoc, guestRam, simplePlatform } from '@vhw/core';
import { genericPlatform } from '@vhw/platform-generic';
import { ppc64Platform } from '@vhw/platform-ppc64';
import { vfioPci } from '@vhw/vfio-pci';
import { vmm } from '@vhw/vmm';

/** The plugins that ship with vhw, for `vhw list`. */
export function listPlugins(): Array<{ name: string; kind: string; package: string; description: string; options: OptionDoc[] }> {
  const entries: Array<[string, { pluginName: string; kind: string; description: string; describeOptions(): OptionDoc[] }]> = [
    ['@vhw/core', simplePlatform],
    ['@vhw/core', guestRam],
    ['@vhw/platform-ppc64', ppc64Platform],
    ['@vhw/platform-generic', genericPlatform],
    ['@vhw/vfio-pci', vfioPci],
    ['@vhw/vmm', vmm],
  ];
  return entries.map(([pkg, f]) => ({ name: f.pluginName, kind: f.kind, package: pkg, description: f.description, options: f.describeOptions() }));
}
