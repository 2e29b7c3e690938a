import { VhwError, guestRam, simplePlatform } from '@vhw/core';
import { describe, expect, it } from 'vitest';
import { applyPluginSets, parseSetOptions } from './index.js';

/** Runs `fn`, expects a VhwError E_CONFIG whose message matches `pattern`. */
function expectConfigError(fn: () => unknown, pattern: RegExp): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(VhwError.is(error, 'E_CONFIG')).toBe(true);
  expect((error as Error).message).toMatch(pattern);
}

const machine = () => [simplePlatform(), guestRam({ name: 'ram0' }), guestRam({ name: 'ram1', base: 0x1000_0000 })];

describe('parseSetOptions', () => {
  it('splits cost overrides from plugin option sets', () => {
    const s = parseSetOptions(['cost.guest.ioStackNs=0', 'platform.unassignedPolicy=fault', 'ram0.size=4096']);
    expect(s.costs).toEqual({ 'guest.ioStackNs': 0 });
    expect(s.pluginSets.map((p) => [p.target, p.field, p.value])).toEqual([
      ['platform', 'unassignedPolicy', 'fault'],
      ['ram0', 'size', '4096'],
    ]);
  });

  it('refuses a malformed set, a nested field and the experiment own settings', () => {
    expectConfigError(() => parseSetOptions(['nonsense']), /allowed: cost\.FIELD=NUMBER, INSTANCE\.FIELD=VALUE/);
    expectConfigError(() => parseSetOptions(['nvme0.a.b=1']), /not a top-level option/);
    expectConfigError(() => parseSetOptions(['platform.alignBars=true']), /allowed: --patches \(align-bars\)/);
    expectConfigError(() => parseSetOptions(['vfio-pci.variant=upstream']), /allowed: --variant/);
    expectConfigError(() => parseSetOptions(['cost.x=abc']), /allowed: cost\.FIELD=NUMBER/);
  });
});

describe('applyPluginSets', () => {
  it('sets one instance by its name, every instance by the plugin name, the platform by its kind', () => {
    const sets = parseSetOptions(['ram1.size=8192', 'platform.unassignedPolicy=fault']).pluginSets;
    const { plugins, overrides } = applyPluginSets(machine(), sets, 't');
    expect(plugins.map((p) => p.options)).toMatchObject([
      { unassignedPolicy: 'fault' },
      { size: 67108864 },
      { size: 8192, base: 0x1000_0000 },
    ]);
    expect(overrides).toEqual({ ram1: { size: 8192 }, platform: { unassignedPolicy: 'fault' } });
    const all = applyPluginSets(machine(), parseSetOptions(['ram.size=4096']).pluginSets, 't').plugins;
    expect(all.slice(1).map((p) => p.options)).toMatchObject([{ size: 4096 }, { size: 4096 }]);
  });

  it('types a value by the schema: a JSON value first, else the text', () => {
    const { overrides } = applyPluginSets(machine(), parseSetOptions(['ram0.name="7"', 'ram1.name=42']).pluginSets, 't');
    expect(overrides).toEqual({ ram0: { name: '7' }, ram1: { name: '42' } });
  });

  it('leaves the plugins alone without sets', () => {
    const m = machine();
    expect(applyPluginSets(m, [], 't').plugins).toEqual(m);
  });

  it("refuses with the plugin's own message, naming the field and what is allowed", () => {
    const apply = (s: string) => applyPluginSets(machine(), parseSetOptions([s]).pluginSets, 'toy');
    expectConfigError(
      () => apply('platform.unassignedPolicy=maybe'),
      /"platform.unassignedPolicy=maybe": simple-platform: option "unassignedPolicy" is "maybe": .*"ignore"\|"zero"\|"fault"/,
    );
    expectConfigError(() => apply('ram0.colour=red'), /ram: unknown option "colour"; allowed: name, base, size/);
    expectConfigError(
      () => apply('gpu0.x=1'),
      /no plugin "gpu0" in scenario toy; allowed: cost, simple-platform, ram0, ram, ram1, platform/,
    );
  });
});
