import { ContainerModule } from 'inversify';
import { describe, expect, it, vi } from 'vitest';
import { expectVhwError } from '@vhw/test-support';
import { z } from 'zod';
import { guestRam, simplePlatform } from './builtin-plugins.js';
import type { CostParameter } from './cost-model.js';
import { VhwError } from './errors.js';
import { Machine, type MachineOptions } from './machine.js';
import { definePlugin, type VhwPlugin } from './plugin.js';
import { Path } from './stats.js';
import {
  CoreStage,
  CostParametersToken,
  GuestMemoryToken,
  LifecycleToken,
  MachineOptionsToken,
  PLAIN_PLATFORM_FACTS,
  type Platform,
  PlatformToken,
  token,
} from './tokens.js';

/** Stages of layers above core, as their packages would declare them. */
const VMM_STAGE = 400;
const GUEST_STAGE = 500;

/** A plugin contributing one lifecycle that logs its hooks. */
const probe = definePlugin({
  name: 'probe',
  kind: 'other',
  description: 'logs lifecycle hooks',
  schema: z.strictObject({ name: z.string(), stage: z.number(), fail: z.enum(['none', 'plain', 'vhw']).default('none') }),
  instance: (o) => o.name,
  module: (o) =>
    new ContainerModule(({ bind }) => {
      bind(LifecycleToken).toConstantValue({
        name: o.name,
        stage: o.stage,
        configure: () => log.push(`configure ${o.name}`),
        realize: () => {
          if (o.fail === 'plain') throw new Error('no device at that address');
          if (o.fail === 'vhw') throw new VhwError('E_ALLOCATION', 'window full');
          log.push(`realize ${o.name}`);
        },
        reset: () => log.push(`reset ${o.name}`),
        dispose: () => log.push(`dispose ${o.name}`),
      });
    }),
});
let log: string[] = [];

const otherPlatform = definePlugin({
  name: 'other-platform',
  kind: 'platform',
  description: 'a second platform',
  schema: z.strictObject({}),
  module: () =>
    new ContainerModule(({ bind }) => {
      bind(PlatformToken).toConstantValue({
        name: 'other',
        pageSize: 65536,
        unassignedPolicy: 'zero',
        costDefaults: { 'dev.mmioReadNs': 1000, 'toy.opNs': 7 },
        ...PLAIN_PLATFORM_FACTS,
      } satisfies Platform);
    }),
});

const costly = definePlugin({
  name: 'costly',
  kind: 'other',
  description: 'contributes a cost parameter',
  schema: z.strictObject({}),
  module: () =>
    new ContainerModule(({ bind }) => {
      bind(CostParametersToken).toConstantValue([
        { name: 'toy.opNs', default: 3, unit: 'ns', description: 'd', source: 's', confidence: 'low' },
      ] satisfies CostParameter[]);
    }),
});

describe('Machine.create: composition errors', () => {
  it.each([
    [undefined, /options\.plugins must be an array/],
    [{}, /options\.plugins must be an array/],
    [{ plugins: 'simple' }, /options\.plugins must be an array/],
  ])('refuses options %o', (options, message) => {
    expectVhwError(() => Machine.create(options as unknown as MachineOptions), 'E_CONFIG', message);
  });

  it.each([
    ['a factory (not called)', simplePlatform],
    ['null', null],
    ['a plain object', { name: 'x', kind: 'device', instance: 'x', options: {}, module: {} }],
  ])('refuses a non-plugin entry: %s, naming its index', (_what, entry) => {
    const err = expectVhwError(() => Machine.create({ plugins: [simplePlatform(), entry as unknown as VhwPlugin] }), 'E_CONFIG');
    expect(err.message).toBe('machine: plugins[1] is not a plugin; call a plugin factory, e.g. ppc64Platform({...})');
  });

  it('refuses a machine without a platform', () => {
    const err = expectVhwError(() => Machine.create({ plugins: [guestRam()] }), 'E_CONFIG');
    expect(err.message).toBe('machine: no platform plugin; add exactly one (e.g. ppc64Platform(), genericPlatform() or simplePlatform())');
  });

  it('refuses two platforms, naming them', () => {
    const err = expectVhwError(() => Machine.create({ plugins: [simplePlatform(), otherPlatform()] }), 'E_CONFIG');
    expect(err.message).toBe('machine: 2 platform plugins (simple-platform, other-platform); allowed: exactly one');
  });

  it('reports the same platform given twice as two platforms, not as a name clash', () => {
    expectVhwError(
      () => Machine.create({ plugins: [simplePlatform(), simplePlatform({ pageSize: 65536 })] }),
      'E_CONFIG',
      /^machine: 2 platform plugins/,
    );
  });

  it('refuses duplicate instance names, naming the instance and both plugins', () => {
    const err = expectVhwError(
      () => Machine.create({ plugins: [simplePlatform(), guestRam({ name: 'm' }), probe({ name: 'm', stage: 0 })] }),
      'E_CONFIG',
    );
    expect(err.message).toBe('machine: two plugins use the instance name "m" (ram and probe); give each device a distinct name');
  });

  it('refuses an unknown cost override, listing the known parameters', () => {
    expectVhwError(
      () => Machine.create({ plugins: [simplePlatform()], costs: { 'dev.mmioReadNS': 1 } }),
      'E_CONFIG',
      /^cost\.dev\.mmioReadNS \(override\) is not a cost parameter; allowed: .*cost\.dev\.mmioReadNs/,
    );
  });
});

describe('Machine: services', () => {
  it('binds core services from the platform and the plugins', () => {
    const m = Machine.create({ name: 'm1', plugins: [otherPlatform(), costly()], costs: { 'toy.opNs': 11 } });
    expect(m.name).toBe('m1');
    expect(m.platform.name).toBe('other');
    expect(m.mmu.pageSize).toBe(65536);
    expect(m.costs.get('dev.mmioReadNs')).toBe(1000); // platform default
    expect(m.costs.get('toy.opNs')).toBe(11); // plugin parameter, overridden
    expect(m.get(MachineOptionsToken)).toEqual({
      name: 'm1',
      costs: { 'toy.opNs': 11 },
    });
    expect(m.getAll(token<unknown>('vhw.test.nothing'))).toEqual([]);
    expect(m.plugins).toHaveLength(2);
  });

  it('maps guest RAM at realize time and makes it reachable as guest memory and by the CPU', () => {
    const m = Machine.create({ plugins: [simplePlatform(), guestRam({ base: 0x100000, size: 0x10000 })] });
    expect(m.mmu.translate(0x100000).path).toBe('ram');
    m.cpu.store(0x100010, 4, 0xfeedf00d);
    expect(m.get(GuestMemoryToken).read32(0x100010)).toBe(0xfeedf00d);
    expect(m.stats.count(Path.Ram)).toBe(1);
    expect(m.clock.now).toBe(m.costs.ns('mem.ramAccessNs'));
  });

  it('shares one guest memory between two RAM plugins', () => {
    const m = Machine.create({
      plugins: [simplePlatform(), guestRam({ name: 'lo', size: 0x1000 }), guestRam({ name: 'hi', base: 0x10000, size: 0x1000 })],
    });
    expect(m.get(GuestMemoryToken).entries.map((b) => b.name)).toEqual(['lo', 'hi']);
  });

  it('turns tracing on from the options and off again', () => {
    const m = Machine.create({ plugins: [simplePlatform(), guestRam({ size: 0x1000 })], tracing: true });
    const listener = vi.fn();
    m.events.on('access', listener);
    m.cpu.load(0, 4);
    expect(listener).toHaveBeenCalledTimes(1);
    m.trace(false);
    m.cpu.load(0, 4);
    expect(listener).toHaveBeenCalledTimes(1);
  });

  it('does not trace by default', () => {
    const m = Machine.create({ plugins: [simplePlatform(), guestRam({ size: 0x1000 })] });
    expect(m.events.tracing).toBe(false);
  });
});

describe('Machine: lifecycle', () => {
  it('configures everything, then realizes everything, in stage order (plugin order within a stage)', () => {
    log = [];
    Machine.create({
      plugins: [
        probe({ name: 'guest', stage: GUEST_STAGE }),
        probe({ name: 'dev-a', stage: CoreStage.Device }),
        simplePlatform(),
        probe({ name: 'plat', stage: CoreStage.Platform }),
        probe({ name: 'dev-b', stage: CoreStage.Device }),
        probe({ name: 'vmm', stage: VMM_STAGE }),
      ],
    });
    expect(log).toEqual([
      'configure plat',
      'configure dev-a',
      'configure dev-b',
      'configure vmm',
      'configure guest',
      'realize plat',
      'realize dev-a',
      'realize dev-b',
      'realize vmm',
      'realize guest',
    ]);
  });

  it('resets in stage order along with the clock, statistics and CPU, and disposes in reverse', () => {
    log = [];
    const m = Machine.create({
      plugins: [simplePlatform(), guestRam({ size: 0x1000 }), probe({ name: 'b', stage: 300 }), probe({ name: 'a', stage: 100 })],
    });
    m.cpu.load(0, 4);
    m.cpu.raiseInterrupt(1);
    const irq = vi.fn();
    m.cpu.onInterrupt(irq);
    log = [];
    m.reset();
    expect(log).toEqual(['reset a', 'reset b']);
    expect(m.clock.now).toBe(0);
    expect(m.stats.count(Path.Ram)).toBe(0);
    expect(m.cpu.pendingInterrupts).toBe(0);
    log = [];
    const listener = vi.fn();
    m.events.on('map', listener);
    m.dispose();
    m.dispose();
    expect(log).toEqual(['dispose b', 'dispose a']);
    expect(m.events.listenerCount('map')).toBe(0);
    const err = expectVhwError(() => m.reset(), 'E_STATE');
    expect(err.message).toBe('machine machine is disposed');
    expect(irq).not.toHaveBeenCalled();
  });

  it('wraps a plain error from a hook in E_STATE naming the contribution and phase', () => {
    const err = expectVhwError(
      () => Machine.create({ plugins: [simplePlatform(), probe({ name: 'uart', stage: 200, fail: 'plain' })] }),
      'E_STATE',
    );
    expect(err.message).toBe('uart: realize failed: no device at that address');
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('lets a VhwError from a hook through with its own code', () => {
    const err = expectVhwError(
      () => Machine.create({ plugins: [simplePlatform(), probe({ name: 'uart', stage: 200, fail: 'vhw' })] }),
      'E_ALLOCATION',
    );
    expect(err.message).toBe('window full');
  });

  it('stops realizing at the first failure and disposes what it built', () => {
    log = [];
    expect(() =>
      Machine.create({
        plugins: [simplePlatform(), probe({ name: 'first', stage: 100, fail: 'plain' }), probe({ name: 'later', stage: 200 })],
      }),
    ).toThrow(VhwError);
    expect(log.filter((l) => !l.startsWith('dispose'))).toEqual(['configure first', 'configure later']);
  });

  it('refuses a RAM size that is not whole pages with E_CONFIG naming ram and size', () => {
    expectVhwError(() => Machine.create({ plugins: [simplePlatform(), guestRam({ size: 1000 })] }), 'E_CONFIG', /^ram: .*"size"/);
  });

  it('refuses overlapping RAM at realize time with E_OVERLAP', () => {
    expectVhwError(
      () =>
        Machine.create({
          plugins: [simplePlatform(), guestRam({ name: 'a', size: 0x2000 }), guestRam({ name: 'b', base: 0x1000, size: 0x2000 })],
        }),
      'E_OVERLAP',
    );
  });
});
