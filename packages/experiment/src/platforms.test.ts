import { VhwError, guestRam } from '@vhw/core';
import { genericPlatform } from '@vhw/platform-generic';
import { describe, expect, it } from 'vitest';
import { NO_PATCHES, PlatformRegistry, passthroughMachine, platforms } from './index.js';

const config = { patches: NO_PATCHES, variant: 'rfc-2015' as const, seed: 1 };

describe('platform registry', () => {
  it('knows ppc64, generic and arm64 by default', () => {
    expect(platforms.names()).toEqual(['arm64', 'generic', 'ppc64']);
    expect(passthroughMachine({ platform: 'arm64', devices: [] }, config)[0]).toMatchObject({ name: 'platform-arm64' });
    expect(passthroughMachine({ platform: 'ppc64', devices: [] }, config)[0]).toMatchObject({ name: 'platform-ppc64' });
    expect(passthroughMachine({ platform: 'generic', devices: [] }, config)[0]).toMatchObject({ name: 'platform-generic' });
  });

  it('refuses an unknown platform, naming the known ones, instead of falling back', () => {
    const bad = (): unknown => passthroughMachine({ platform: 'ppc6', devices: [] }, config);
    expect(bad).toThrow(VhwError);
    expect(bad).toThrow('unknown platform "ppc6"; known: arm64, generic, ppc64');
    try {
      bad();
    } catch (e) {
      expect(VhwError.is(e, 'E_CONFIG')).toBe(true);
    }
  });

  it('passes patch 1, the page-size override and the scenario options to the plugin', () => {
    const [p] = passthroughMachine(
      { platform: 'ppc64', devices: [], platformOptions: { peGranularity: 'bus' } },
      { ...config, patches: { ...NO_PATCHES, alignBars: true }, pageSize: 16384 },
    );
    expect(p!.options).toMatchObject({ alignBars: true, pageSize: 16384, peGranularity: 'bus' });
    // The options are typed per platform: a ppc64 option on generic does not compile (and the schema refuses it).
    // @ts-expect-error peGranularity is not an option of platform-generic
    expect(() => passthroughMachine({ platform: 'generic', devices: [], platformOptions: { peGranularity: 'bus' } }, config)).toThrow(
      /peGranularity/,
    );
  });

  it('takes a platform a user registers, and refuses a name twice', () => {
    const registry = new PlatformRegistry();
    registry.register<{ mmioBase?: number }>({
      name: 'control-16k',
      description: 'the generic host with 16 KiB pages',
      create: (o) => genericPlatform({ ...o, pageSize: o.pageSize ?? 16384 }),
    });
    expect(registry.names()).toEqual(['control-16k']);
    const plugin = registry.create('control-16k', { alignBars: false });
    expect(plugin.options).toMatchObject({ pageSize: 16384 });
    expect(() => registry.register({ name: 'control-16k', description: '', create: () => guestRam({ size: 4096 }) })).toThrow(
      /already registered/,
    );
    expect(() => registry.get('ppc64')).toThrow('unknown platform "ppc64"; known: control-16k');
  });
});
