import { ContainerModule } from 'inversify';
import { describe, expect, it, vi } from 'vitest';
import { expectVhwError } from '@vhw/test-support';
import { z } from 'zod';
import { guestRam, simplePlatform } from './builtin-plugins.js';
import { definePlugin, optionsError } from './plugin.js';

const uart = definePlugin({
  name: 'toy-uart',
  kind: 'device',
  description: 'a toy UART',
  schema: z.strictObject({
    name: z.string().min(1).default('uart0'),
    base: z.number().int().nonnegative().describe('guest-physical base address'),
    baud: z.number().int().min(300).max(115200).default(9600),
    parity: z.enum(['none', 'even', 'odd']).default('none'),
    fifo: z
      .strictObject({ depth: z.number().int().positive().default(16), threshold: z.number().int().default(8) })
      .default({ depth: 16, threshold: 8 }),
  }),
  instance: (o) => o.name,
  module: () => new ContainerModule(() => {}),
});

describe('definePlugin', () => {
  it('refuses a plugin name that is not lowercase-dashed', () => {
    const err = expectVhwError(
      () =>
        definePlugin({
          name: 'My_Plugin',
          kind: 'other',
          description: '',
          schema: z.strictObject({}),
          module: () => new ContainerModule(() => {}),
        }),
      'E_CONFIG',
    );
    expect(err.message).toBe('plugin name "My_Plugin": allowed: lowercase letters, digits and dashes');
  });

  it('exposes name, kind, description and schema on the factory', () => {
    expect(uart.pluginName).toBe('toy-uart');
    expect(uart.kind).toBe('device');
    expect(uart.description).toBe('a toy UART');
    expect(uart.schema).toBeInstanceOf(z.ZodObject);
  });

  it('validates options, applies defaults and builds the module from the validated options', () => {
    const module = vi.fn(() => new ContainerModule(() => {}));
    const dev = definePlugin({
      name: 'dev',
      kind: 'device',
      description: '',
      schema: z.strictObject({ at: z.number(), width: z.number().default(4) }),
      module,
    });
    const p = dev({ at: 0x1000 });
    expect(p.options).toEqual({ at: 0x1000, width: 4 });
    expect(module).toHaveBeenCalledWith({ at: 0x1000, width: 4 });
    expect(p.module).toBe(module.mock.results[0]!.value);
    expect(p).toMatchObject({ name: 'dev', kind: 'device', instance: 'dev' });
    expect(Object.isFrozen(p)).toBe(true);
  });

  it('takes the instance name from the options when the definition says how', () => {
    expect(uart({ base: 0, name: 'console' }).instance).toBe('console');
    expect(uart({ base: 0 }).instance).toBe('uart0');
  });

  it('names plugin, field, value and what is allowed for a bad value', () => {
    const err = expectVhwError(() => uart({ base: 0, baud: 50 }), 'E_CONFIG');
    expect(err.message).toMatch(/^toy-uart: option "baud" is 50: .*>=300/);
    expect(err.cause).toBeInstanceOf(z.ZodError);
  });

  it('shows enum choices and string values quoted', () => {
    expectVhwError(
      () => uart({ base: 0, parity: 'mark' as never }),
      'E_CONFIG',
      /^toy-uart: option "parity" is "mark": .*"none"\|"even"\|"odd"/,
    );
  });

  it('says a required option is missing', () => {
    expectVhwError(() => uart(), 'E_CONFIG', /^toy-uart: option "base" is missing: /);
  });

  it('refuses an unknown key and lists the allowed keys', () => {
    const err = expectVhwError(() => uart({ base: 0, bauds: 9600 } as never), 'E_CONFIG');
    expect(err.message).toBe('toy-uart: unknown option "bauds"; allowed: name, base, baud, parity, fifo');
  });

  it('lists the allowed keys of a nested object for an unknown nested key', () => {
    const err = expectVhwError(() => uart({ base: 0, fifo: { depth: 8, treshold: 4 } } as never), 'E_CONFIG');
    expect(err.message).toBe('toy-uart: unknown option "fifo.treshold"; allowed: depth, threshold');
  });

  it('names a nested field by its dotted path', () => {
    expectVhwError(() => uart({ base: 0, fifo: { depth: -1, threshold: 1 } }), 'E_CONFIG', /^toy-uart: option "fifo\.depth" is -1: /);
  });

  it('reports every issue at once', () => {
    const msg = expectVhwError(() => uart({ base: -1, baud: 1, extra: true } as never), 'E_CONFIG').message;
    expect(msg).toContain('unknown option "extra"');
    expect(msg).toContain('option "base" is -1');
    expect(msg).toContain('option "baud" is 1');
    expect(msg.split('; ').length).toBeGreaterThanOrEqual(3);
  });

  it('shortens long values in messages', () => {
    expectVhwError(() => uart({ base: 0, name: 7 as never }), 'E_CONFIG', /option "name" is 7: /);
    const long = optionsError('p', z.strictObject({ s: z.number() }).safeParse({ s: 'x'.repeat(200) }).error!, { s: 'x'.repeat(200) });
    expect(long.message).toMatch(/option "s" is "x{56}\.\.\.: /);
  });

  it('makes the same plugin with options changed, validated again, as data only', () => {
    const p = uart({ base: 0x1000, baud: 300 });
    const q = p.withOptions({ parity: 'odd' });
    expect(q.options).toMatchObject({ base: 0x1000, baud: 300, parity: 'odd' });
    expect(p.options.parity).toBe('none');
    expect(Object.keys(q)).not.toContain('withOptions');
    expectVhwError(() => p.withOptions({ baud: 1 }), 'E_CONFIG', /toy-uart: option "baud" is 1: /);
  });

  it('describes its options for listings', () => {
    const rows = Object.fromEntries(uart.describeOptions().map((r) => [r.field, r]));
    expect(Object.keys(rows)).toEqual(['name', 'base', 'baud', 'parity', 'fifo']);
    expect(rows.baud).toMatchObject({ type: 'integer 300..115200', default: 9600 });
    // int() alone bounds by the safe-integer range: not shown, as it says nothing to a reader.
    expect(rows.base!.type).toBe('integer >= 0');
    expect(rows.parity!.type).toBe('"none" | "even" | "odd"');
    expect(rows.base!.description).toBe('guest-physical base address');
  });
});

describe('built-in plugins', () => {
  it('simplePlatform defaults to 4 KiB pages and the ignore policy', () => {
    const p = simplePlatform();
    expect(p).toMatchObject({ name: 'simple-platform', kind: 'platform', instance: 'simple-platform' });
    expect(p.options).toEqual({ pageSize: 4096, unassignedPolicy: 'ignore' });
  });

  it.each([
    [{ pageSize: 5000 }, 'simple-platform: option "pageSize" is 5000: allowed: a power of two >= 4096 (4096, 16384, 65536, ...)'],
    [{ pageSize: 2048 }, 'simple-platform: option "pageSize" is 2048: allowed: a power of two >= 4096 (4096, 16384, 65536, ...)'],
    [{ unassignedPolicy: 'drop' }, 'simple-platform: option "unassignedPolicy" is "drop": '],
    [{ pagesize: 4096 }, 'simple-platform: unknown option "pagesize"; allowed: pageSize, unassignedPolicy'],
  ])('simplePlatform refuses %o', (input, message) => {
    const err = expectVhwError(() => simplePlatform(input as never), 'E_CONFIG');
    expect(err.message.startsWith(message)).toBe(true);
  });

  it('guestRam uses its name as the instance and refuses a bad size', () => {
    expect(guestRam({ name: 'hi', base: 1 << 30, size: 1 << 20 }).instance).toBe('hi');
    expectVhwError(() => guestRam({ size: 0 }), 'E_CONFIG', /^ram: option "size" is 0: /);
  });
});
