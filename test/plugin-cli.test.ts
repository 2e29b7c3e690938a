/**
 * Plugins from the command line: `vhw list` finds them by their package manifest (the "vhw"
 * field), first-party or not, `vhw list PLUGIN` prints one plugin's options as a person
 * reads them, and `--set INSTANCE.FIELD=VALUE`, `PLUGIN.FIELD=VALUE` and
 * `platform.FIELD=VALUE` set them, validated by the plugin's own schema and recorded in results.
 */
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '..');
const BIN = join(ROOT, 'packages/cli/bin/vhw.mjs');

function vhw(...args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

describe('vhw list by manifest', () => {
  it('lists every package that declares plugins, the example third-party device too', () => {
    const r = vhw('list', '--format', 'json');
    expect(r.code).toBe(0);
    const { plugins } = JSON.parse(r.out) as { plugins: Array<{ name: string; package: string }> };
    const byName = Object.fromEntries(plugins.map((p) => [p.name, p.package]));
    expect(byName).toMatchObject({
      'platform-ppc64': '@vhw/platform-ppc64',
      'platform-generic': '@vhw/platform-generic',
      'nvme-lite': '@vhw/device-nvme-lite',
      'nic-lite': '@vhw/device-nic-lite',
      'vfio-pci': '@vhw/vfio-pci',
      vmm: '@vhw/vmm',
      ram: '@vhw/core',
      'rng-lite': 'vhw-example-custom-device',
    });
    // A package without the manifest is not listed, even in the @vhw scope.
    expect(byName['toy-device']).toBeUndefined();
  }, 180_000);

  it('prints one plugin with types, readable ranges, defaults and descriptions', () => {
    const r = vhw('list', 'platform-ppc64');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/peCount=<integer 2\.\.4096> +PEs of the PHB .*\(default: 256\)/);
    expect(r.out).toMatch(/peGranularity=<"device" \| "bus">.*\(default: "device"\)/);
    expect(r.out).toMatch(/m32Base=<integer >= 0>/);
    expect(r.out).toMatch(/pageSize=<integer> /);
    expect(r.out).toContain('--set platform-ppc64.FIELD=VALUE or platform.FIELD=VALUE');
    expect(r.out).not.toMatch(/9007199254740991/);
    expect(vhw('list', 'rng-lite').out).toMatch(/poolWords=<integer 1\.\.1024> +random words per refill \(default: 16\)/);
  }, 180_000);

  it('refuses an unknown plugin with the installed ones', () => {
    const r = vhw('list', 'warp-drive');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown plugin "warp-drive"; installed: .*nvme-lite/);
  }, 180_000);
});

describe('vhw --set for plugin options', () => {
  it('changes the machine and records what it set beside the costs', () => {
    const r = vhw(
      'run',
      'ppc64-mixed',
      '--ops',
      '64',
      '--format',
      'json',
      '--set',
      'platform.peGranularity=bus',
      '--set',
      'nvme0.layout=bar0-64k',
    );
    expect(r.code).toBe(0);
    const result = JSON.parse(r.out) as { pluginOverrides: unknown; bars: Array<{ device: string; size: number }> };
    expect(result.pluginOverrides).toEqual({ platform: { peGranularity: 'bus' }, nvme0: { layout: 'bar0-64k' } });
    expect(result.bars.find((b) => b.device === 'nvme0')?.size).toBe(65536);
  }, 180_000);

  it('refuses a bad value with exit 2, naming the field and the allowed values, before any worker starts', () => {
    const r = vhw('sweep', 'ppc64-nvme', '--jobs', '2', '--ops', '16', '--set', 'nvme-lite.layout=bar0-99k');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--set "nvme-lite\.layout=bar0-99k": nvme-lite: option "layout" is "bar0-99k": .*"bar0-16k"\|"bar0-64k"/);
    const u = vhw('run', 'ppc64-nvme', '--ops', '16', '--set', 'gpu0.x=1');
    expect(u.code).toBe(2);
    expect(u.err).toMatch(/no plugin "gpu0" in scenario ppc64-nvme; allowed: cost, platform-ppc64, .*nvme0/);
  }, 180_000);
});
