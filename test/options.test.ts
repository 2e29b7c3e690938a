/**
 * Every way a user can misconfigure a plugin, a scenario or a machine gives one VhwError
 * E_CONFIG that names who complains (the plugin, "machine" or "scenario"), the field,
 * and what is allowed (style guide §4: validate at load time, name the bad field).
 */
import { describe, expect, it } from 'vitest';
import { Machine, guestRam, simplePlatform } from '@vhw/core';
import { nicLite } from '@vhw/device-nic-lite';
import { nvmeLite } from '@vhw/device-nvme-lite';
import { genericPlatform } from '@vhw/platform-generic';
import { ppc64Platform } from '@vhw/platform-ppc64';
import { vfioPci } from '@vhw/vfio-pci';
import { vmm } from '@vhw/vmm';
import { defineScenario } from '@vhw/experiment';
import { expectVhwError } from '@vhw/test-support';

interface Row {
  /** Who must be named first in the message. */
  owner: string;
  what: string;
  call: () => unknown;
  /** The field as the message must name it. */
  field: string;
  /** What is allowed, as the message must say it. */
  allowed: RegExp;
}

const POW2 = /allowed: a power of two >= 4096/;
const bad = <T>(x: unknown): T => x as T;

const PLUGIN_ROWS: Row[] = [
  // simple-platform
  {
    owner: 'simple-platform',
    what: 'page size not a power of two',
    call: () => simplePlatform({ pageSize: 1000 }),
    field: '"pageSize"',
    allowed: POW2,
  },
  {
    owner: 'simple-platform',
    what: 'page size as a string',
    call: () => simplePlatform({ pageSize: bad('4k') }),
    field: '"pageSize"',
    allowed: /expected number/,
  },
  {
    owner: 'simple-platform',
    what: 'page size below 4 KiB',
    call: () => simplePlatform({ pageSize: 2048 }),
    field: '"pageSize"',
    allowed: POW2,
  },
  {
    owner: 'simple-platform',
    what: 'unknown unassigned policy',
    call: () => simplePlatform({ unassignedPolicy: bad('crash') }),
    field: '"unassignedPolicy"',
    allowed: /"ignore"\|"zero"\|"fault"/,
  },
  {
    owner: 'simple-platform',
    what: 'misspelt key',
    call: () => simplePlatform(bad({ pagesize: 4096 })),
    field: '"pagesize"',
    allowed: /allowed: pageSize, unassignedPolicy/,
  },
  // ram
  { owner: 'ram', what: 'size 0', call: () => guestRam({ size: 0 }), field: '"size"', allowed: />0/ },
  { owner: 'ram', what: 'size above 1 TiB', call: () => guestRam({ size: 2 ** 41 }), field: '"size"', allowed: /<=1099511627776/ },
  { owner: 'ram', what: 'fractional size', call: () => guestRam({ size: 4096.5 }), field: '"size"', allowed: /expected int/ },
  { owner: 'ram', what: 'negative base', call: () => guestRam({ base: -4096 }), field: '"base"', allowed: />=0/ },
  { owner: 'ram', what: 'empty name', call: () => guestRam({ name: '' }), field: '"name"', allowed: />=1 characters/ },
  { owner: 'ram', what: 'name as a number', call: () => guestRam({ name: bad(5) }), field: '"name"', allowed: /expected string/ },
  { owner: 'ram', what: 'misspelt key', call: () => guestRam(bad({ sise: 4096 })), field: '"sise"', allowed: /allowed: name, base, size/ },
  // platform-ppc64
  { owner: 'platform-ppc64', what: 'page size 65535', call: () => ppc64Platform({ pageSize: 65535 }), field: '"pageSize"', allowed: POW2 },
  { owner: 'platform-ppc64', what: 'one PE', call: () => ppc64Platform({ peCount: 1 }), field: '"peCount"', allowed: />=2/ },
  { owner: 'platform-ppc64', what: '5000 PEs', call: () => ppc64Platform({ peCount: 5000 }), field: '"peCount"', allowed: /<=4096/ },
  {
    owner: 'platform-ppc64',
    what: 'fractional PE count',
    call: () => ppc64Platform({ peCount: 2.5 }),
    field: '"peCount"',
    allowed: /expected int/,
  },
  {
    owner: 'platform-ppc64',
    what: 'unknown PE granularity',
    call: () => ppc64Platform({ peGranularity: bad('slot') }),
    field: '"peGranularity"',
    allowed: /"device"\|"bus"/,
  },
  {
    owner: 'platform-ppc64',
    what: 'eeh as a string',
    call: () => ppc64Platform({ eeh: bad('yes') }),
    field: '"eeh"',
    allowed: /expected boolean/,
  },
  {
    owner: 'platform-ppc64',
    what: 'patch 1 as a number',
    call: () => ppc64Platform({ alignBars: bad(1) }),
    field: '"alignBars"',
    allowed: /expected boolean/,
  },
  { owner: 'platform-ppc64', what: 'empty M32 window', call: () => ppc64Platform({ m32Size: 0 }), field: '"m32Size"', allowed: />0/ },
  { owner: 'platform-ppc64', what: 'negative M32 base', call: () => ppc64Platform({ m32Base: -1 }), field: '"m32Base"', allowed: />=0/ },
  {
    owner: 'platform-ppc64',
    what: 'misspelt key',
    call: () => ppc64Platform(bad({ pageAligned: true })),
    field: '"pageAligned"',
    allowed: /allowed: pageSize, alignBars, eeh/,
  },
  {
    owner: 'platform-ppc64',
    what: 'options as an array',
    call: () => ppc64Platform(bad([])),
    field: '(options)',
    allowed: /expected object/,
  },
  // platform-generic
  { owner: 'platform-generic', what: 'page size 3', call: () => genericPlatform({ pageSize: 3 }), field: '"pageSize"', allowed: POW2 },
  {
    owner: 'platform-generic',
    what: 'interrupt remapping as a number',
    call: () => genericPlatform({ interruptRemapping: bad(1) }),
    field: '"interruptRemapping"',
    allowed: /expected boolean/,
  },
  {
    owner: 'platform-generic',
    what: 'negative MMIO size',
    call: () => genericPlatform({ mmioSize: -1 }),
    field: '"mmioSize"',
    allowed: />0/,
  },
  {
    owner: 'platform-generic',
    what: 'an option of the other platform',
    call: () => genericPlatform(bad({ eeh: true })),
    field: '"eeh"',
    allowed: /allowed: pageSize, alignBars, interruptRemapping/,
  },
  // vfio-pci
  {
    owner: 'vfio-pci',
    what: 'unknown variant',
    call: () => vfioPci({ variant: bad('rfc-2016') }),
    field: '"variant"',
    allowed: /"rfc-2015"\|"upstream"/,
  },
  {
    owner: 'vfio-pci',
    what: 'patch 2 as a string',
    call: () => vfioPci({ subPageMmap: bad('on') }),
    field: '"subPageMmap"',
    allowed: /expected boolean/,
  },
  {
    owner: 'vfio-pci',
    what: 'patch 3 as null',
    call: () => vfioPci({ msixMmap: bad(null) }),
    field: '"msixMmap"',
    allowed: /expected boolean/,
  },
  {
    owner: 'vfio-pci',
    what: 'a device twice',
    call: () => vfioPci({ devices: ['a', 'a'] }),
    field: '"devices"',
    allowed: /each device name once/,
  },
  {
    owner: 'vfio-pci',
    what: 'an empty device name',
    call: () => vfioPci({ devices: [''] }),
    field: '"devices.0"',
    allowed: />=1 characters/,
  },
  {
    owner: 'vfio-pci',
    what: 'devices as a string',
    call: () => vfioPci({ devices: bad('a') }),
    field: '"devices"',
    allowed: /expected array/,
  },
  {
    owner: 'vfio-pci',
    what: 'misspelt key',
    call: () => vfioPci(bad({ patches: 'all' })),
    field: '"patches"',
    allowed: /allowed: variant, subPageMmap, msixMmap, devices/,
  },
  // vmm
  {
    owner: 'vmm',
    what: 'unknown guest BAR placement',
    call: () => vmm({ guestBarPlacement: bad('packed') }),
    field: '"guestBarPlacement"',
    allowed: /"page-aligned"\|"natural"/,
  },
  { owner: 'vmm', what: 'empty guest MMIO window', call: () => vmm({ guestMmioSize: 0 }), field: '"guestMmioSize"', allowed: />0/ },
  {
    owner: 'vmm',
    what: 'fractional guest MMIO base',
    call: () => vmm({ guestMmioBase: 1.5 }),
    field: '"guestMmioBase"',
    allowed: /expected int/,
  },
  { owner: 'vmm', what: 'negative MSI address', call: () => vmm({ guestMsiAddress: -1 }), field: '"guestMsiAddress"', allowed: />=0/ },
  {
    owner: 'vmm',
    what: 'misspelt key',
    call: () => vmm(bad({ guestBarPlacment: 'natural' })),
    field: '"guestBarPlacment"',
    allowed: /allowed: guestBarPlacement, guestMmioBase/,
  },
  // nvme-lite
  {
    owner: 'nvme-lite',
    what: 'unknown layout',
    call: () => nvmeLite({ layout: bad('bar0-32k') }),
    field: '"layout"',
    allowed: /"bar0-16k"\|"bar0-64k"/,
  },
  { owner: 'nvme-lite', what: '65 vectors', call: () => nvmeLite({ vectors: 65 }), field: '"vectors"', allowed: /<=64/ },
  { owner: 'nvme-lite', what: 'no vectors', call: () => nvmeLite({ vectors: 0 }), field: '"vectors"', allowed: />=1/ },
  {
    owner: 'nvme-lite',
    what: 'queue deeper than the controller',
    call: () => nvmeLite({ queueDepth: 1024 }),
    field: '"queueDepth"',
    allowed: /<=1023/,
  },
  { owner: 'nvme-lite', what: '64 I/O queues', call: () => nvmeLite({ ioQueues: 64 }), field: '"ioQueues"', allowed: /<=63/ },
  {
    owner: 'nvme-lite',
    what: 'coalescing 0',
    call: () => nvmeLite({ interruptCoalescing: 0 }),
    field: '"interruptCoalescing"',
    allowed: />=1/,
  },
  {
    owner: 'nvme-lite',
    what: 'negative latency',
    call: () => nvmeLite({ deviceLatencyNs: -1 }),
    field: '"deviceLatencyNs"',
    allowed: />=0/,
  },
  {
    owner: 'nvme-lite',
    what: 'a space in the name',
    call: () => nvmeLite({ name: 'nvme 0' }),
    field: '"name"',
    allowed: /allowed: letters, digits/,
  },
  {
    owner: 'nvme-lite',
    what: 'misspelt key',
    call: () => nvmeLite(bad({ layuot: 'bar0-16k' })),
    field: '"layuot"',
    allowed: /allowed: name, layout, vectors/,
  },
  // nic-lite
  { owner: 'nic-lite', what: 'ring of 12', call: () => nicLite({ ringSize: 12 }), field: '"ringSize"', allowed: /a multiple of 8/ },
  { owner: 'nic-lite', what: 'ring of 8192', call: () => nicLite({ ringSize: 8192 }), field: '"ringSize"', allowed: /<=4096/ },
  {
    owner: 'nic-lite',
    what: 'batch as large as the ring',
    call: () => nicLite({ ringSize: 16, interruptBatch: 16 }),
    field: '"interruptBatch"',
    allowed: /at most ringSize - 1 \(15\)/,
  },
  { owner: 'nic-lite', what: 'packet of 6 bytes', call: () => nicLite({ packetBytes: 6 }), field: '"packetBytes"', allowed: />=8/ },
  {
    owner: 'nic-lite',
    what: 'packet of 66 bytes',
    call: () => nicLite({ packetBytes: 66 }),
    field: '"packetBytes"',
    allowed: /a multiple of 4/,
  },
  {
    owner: 'nic-lite',
    what: 'vectors as a word',
    call: () => nicLite({ vectors: bad('three') }),
    field: '"vectors"',
    allowed: /expected number/,
  },
  {
    owner: 'nic-lite',
    what: 'misspelt key',
    call: () => nicLite(bad({ mtu: 1500 })),
    field: '"mtu"',
    allowed: /allowed: name, ringSize, interruptBatch, packetBytes, vectors/,
  },
];

const ok = { name: 'fine', description: 'a scenario', ops: 10, machine: () => [] };
const SCENARIO_ROWS: Row[] = [
  {
    owner: 'scenario',
    what: 'a space in the name',
    call: () => defineScenario({ ...ok, name: 'bad name' }),
    field: 'name',
    allowed: /allowed: letters, digits, dot, dash, underscore/,
  },
  {
    owner: 'scenario',
    what: 'no name',
    call: () => defineScenario(bad({ ...ok, name: undefined })),
    field: 'name',
    allowed: /allowed: letters, digits/,
  },
  {
    owner: 'scenario',
    what: 'zero ops',
    call: () => defineScenario({ ...ok, ops: 0 }),
    field: 'ops',
    allowed: /allowed: a positive integer/,
  },
  {
    owner: 'scenario',
    what: 'fractional ops',
    call: () => defineScenario({ ...ok, ops: 1.5 }),
    field: 'ops',
    allowed: /allowed: a positive integer/,
  },
  {
    owner: 'scenario',
    what: 'ops as a string',
    call: () => defineScenario({ ...ok, ops: bad('100') }),
    field: 'ops',
    allowed: /allowed: a positive integer/,
  },
  {
    owner: 'scenario',
    what: 'machine not a function',
    call: () => defineScenario({ ...ok, machine: bad([]) }),
    field: 'machine',
    allowed: /allowed: machine\(config\) => plugins/,
  },
  {
    owner: 'scenario',
    what: 'no description',
    call: () => defineScenario(bad({ ...ok, description: undefined })),
    field: 'description',
    allowed: /allowed: a string/,
  },
  {
    owner: 'scenario',
    what: 'not an object',
    call: () => defineScenario(bad(null)),
    field: 'is not an object',
    allowed: /allowed: defineScenario\(\{ name, description, ops, machine \}\)/,
  },
];

const MACHINE_ROWS: Row[] = [
  {
    owner: 'machine',
    what: 'two platforms',
    call: () => Machine.create({ plugins: [simplePlatform(), ppc64Platform(), guestRam()] }),
    field: 'platform',
    allowed: /allowed: exactly one/,
  },
  {
    owner: 'machine',
    what: 'the same platform twice',
    call: () => Machine.create({ plugins: [genericPlatform(), genericPlatform()] }),
    field: 'platform',
    allowed: /allowed: exactly one/,
  },
  {
    owner: 'machine',
    what: 'no platform',
    call: () => Machine.create({ plugins: [guestRam()] }),
    field: 'platform',
    allowed: /add exactly one/,
  },
  {
    owner: 'machine',
    what: 'two devices with one name',
    call: () =>
      Machine.create({ plugins: [ppc64Platform(), guestRam(), nvmeLite({ name: 'dev' }), nicLite({ name: 'dev' }), vfioPci(), vmm()] }),
    field: 'instance name "dev"',
    allowed: /distinct name/,
  },
  {
    owner: 'machine',
    what: 'two RAM blocks with the default name',
    call: () => Machine.create({ plugins: [simplePlatform(), guestRam(), guestRam({ base: 1 << 30 })] }),
    field: 'instance name "ram0"',
    allowed: /distinct name/,
  },
  {
    owner: 'machine',
    what: 'a non-plugin entry',
    call: () => Machine.create({ plugins: [simplePlatform(), bad({ name: 'fake', kind: 'device' })] }),
    field: 'plugins[1]',
    allowed: /call a plugin factory/,
  },
  {
    owner: 'machine',
    what: 'a factory instead of a plugin',
    call: () => Machine.create({ plugins: [simplePlatform(), bad(guestRam)] }),
    field: 'plugins[1]',
    allowed: /call a plugin factory/,
  },
  {
    owner: 'machine',
    what: 'plugins not an array',
    call: () => Machine.create(bad({ plugins: guestRam() })),
    field: 'options.plugins',
    allowed: /must be an array of plugins/,
  },
];

function expectConfigError(row: Row): void {
  const msg = expectVhwError(row.call, 'E_CONFIG').message;
  expect(msg.startsWith(`${row.owner}`), msg).toBe(true);
  expect(msg, msg).toContain(row.field);
  expect(msg, msg).toMatch(row.allowed);
  // One error, one line: no stack or zod dump in the message.
  expect(msg).not.toMatch(/\n/);
}

describe('invalid plugin options: one E_CONFIG naming the plugin, the field and what is allowed', () => {
  it.each(PLUGIN_ROWS.map((r) => [r.owner, r.what, r] as const))('%s: %s', (_owner, _what, row) => expectConfigError(row));

  it('covers every plugin factory', () => {
    expect(new Set(PLUGIN_ROWS.map((r) => r.owner))).toEqual(
      new Set(['simple-platform', 'ram', 'platform-ppc64', 'platform-generic', 'vfio-pci', 'vmm', 'nvme-lite', 'nic-lite']),
    );
  });

  it('names the value that was given', () => {
    expectVhwError(() => nvmeLite({ vectors: 65 }), 'E_CONFIG', /option "vectors" is 65/);
    expectVhwError(() => ppc64Platform({ peGranularity: bad('slot') }), 'E_CONFIG', /is "slot"/);
  });

  it('valid options build a plugin with the defaults filled in', () => {
    expect(ppc64Platform().options).toMatchObject({ pageSize: 65536, peCount: 256, peGranularity: 'device', eeh: true });
    expect(nicLite({ ringSize: 16, interruptBatch: 15 }).options).toMatchObject({ ringSize: 16, interruptBatch: 15 });
  });
});

describe('invalid scenario definitions', () => {
  it.each(SCENARIO_ROWS.map((r) => [r.what, r] as const))('%s', (_what, row) => expectConfigError(row));
});

describe('invalid machine compositions', () => {
  it.each(MACHINE_ROWS.map((r) => [r.what, r] as const))('%s', (_what, row) => expectConfigError(row));
});
