import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectVhwError } from '@vhw/test-support';
import { CORE_COST_PARAMETERS, type CostParameter, CostModel } from './cost-model.js';

const extra: CostParameter[] = [
  { name: 'vfio.fdRwCycles', default: 2000, unit: 'cycles', description: 'd', source: 's', confidence: 'low' },
  { name: 'dev.resetMs', default: 2, unit: 'ms', description: 'd', source: 's', confidence: 'low' },
];

describe('CostModel', () => {
  it('starts from the declared defaults', () => {
    const m = new CostModel(CORE_COST_PARAMETERS);
    for (const p of CORE_COST_PARAMETERS) expect(m.get(p.name)).toBe(p.default);
    expect(m.names).toEqual([...CORE_COST_PARAMETERS.map((p) => p.name)].sort());
    expect(m.has('cpu.hz')).toBe(true);
    expect(m.has('cpu.nope')).toBe(false);
  });

  it('every core parameter cites a source and has a non-negative default', () => {
    for (const p of CORE_COST_PARAMETERS) {
      expect(p.source.length).toBeGreaterThan(0);
      expect(p.default).toBeGreaterThanOrEqual(p.min ?? 0);
    }
  });

  it('refuses a parameter declared twice', () => {
    const err = expectVhwError(() => new CostModel([...CORE_COST_PARAMETERS, CORE_COST_PARAMETERS[0]!]), 'E_CONFIG');
    expect(err.message).toBe('cost parameter "cpu.hz" is declared twice');
  });

  it('converts cycles at cpu.hz, ms and ns to nanoseconds', () => {
    const m = new CostModel([...CORE_COST_PARAMETERS, ...extra], {}, { 'cpu.hz': 2e9 });
    expect(m.ns('vfio.fdRwCycles')).toBe(1000);
    expect(m.cyclesToNs(3)).toBe(1.5);
    expect(m.ns('dev.resetMs')).toBe(2e6);
    expect(m.ns('dev.mmioReadNs')).toBe(800);
  });

  it('refuses to read a non-time parameter as time', () => {
    const m = new CostModel(CORE_COST_PARAMETERS);
    const err = expectVhwError(() => m.ns('exit.userspaceFactor'), 'E_CONFIG');
    expect(err.message).toBe('cost.exit.userspaceFactor is in x, not a time');
  });

  it('refuses to get an unknown parameter with E_NOT_FOUND listing the known ones', () => {
    const m = new CostModel(CORE_COST_PARAMETERS);
    expectVhwError(() => m.get('cpu.mhz'), 'E_NOT_FOUND', 'allowed: cost.cpu.hz, ');
  });

  it('derives the exit and interrupt costs from their parameters', () => {
    const m = new CostModel(
      CORE_COST_PARAMETERS,
      {},
      {
        'cpu.hz': 1e9,
        'exit.inKernelRoundTripCycles': 1000,
        'exit.userspaceFactor': 4,
        'irq.exitsPerInterrupt': 3,
      },
    );
    expect(m.userspaceExitNs).toBe(4000);
    expect(m.interruptNs).toBe(3000);
  });

  it('applies platform defaults, then overrides, and marks only overrides as overridden', () => {
    const m = new CostModel(CORE_COST_PARAMETERS, { 'dev.mmioReadNs': 1200, 'dev.mmioWriteNs': 70 }, { 'dev.mmioReadNs': 900 });
    expect(m.get('dev.mmioReadNs')).toBe(900);
    expect(m.get('dev.mmioWriteNs')).toBe(70);
    const rows = Object.fromEntries(m.rows().map((r) => [r.name, r]));
    expect(rows['dev.mmioReadNs']).toMatchObject({ value: 900, overridden: true, default: 800, unit: 'ns' });
    expect(rows['dev.mmioWriteNs']).toMatchObject({ value: 70, overridden: false });
    expect(m.toJSON()['dev.mmioReadNs']).toBe(900);
    expect(Object.keys(m.toJSON())).toEqual(m.names);
  });

  it('refuses a platform default for an unknown parameter, saying where it came from', () => {
    expectVhwError(
      () => new CostModel(CORE_COST_PARAMETERS, { 'mem.ramNs': 2 }),
      'E_CONFIG',
      /^cost\.mem\.ramNs \(platform default\) is not a cost parameter; allowed: /,
    );
  });

  it.each([
    ['cpu.hz', 0, '>= 1 (Hz)'],
    ['exit.userspaceFactor', 0.5, '>= 1 (x)'],
    ['dev.mmioReadNs', Number.NaN, '>= 0 (ns)'],
    ['dev.mmioReadNs', Number.POSITIVE_INFINITY, '>= 0 (ns)'],
    ['dev.mmioReadNs', '5' as unknown as number, '>= 0 (ns)'],
  ])('refuses %s = %s, naming the field and the allowed range', (name, value, allowed) => {
    expectVhwError(
      () => new CostModel(CORE_COST_PARAMETERS, {}, { [name]: value }),
      'E_CONFIG',
      `cost.${name} (override) is ${String(value)}; allowed: a finite number ${allowed}`,
    );
  });

  it('property: an unknown override name is refused with E_CONFIG naming it and listing every allowed name', () => {
    const params = [...CORE_COST_PARAMETERS, ...extra];
    const known = new Set(params.map((p) => p.name));
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 20 }).filter((s) => !known.has(s) && s !== '__proto__'),
        fc.double({ min: 0, max: 1e6, noNaN: true }),
        (name, value) => {
          const err = expectVhwError(() => new CostModel(params, {}, { [name]: value }), 'E_CONFIG');
          const msg = err.message;
          expect(msg.startsWith(`cost.${name} (override) is not a cost parameter; allowed: `)).toBe(true);
          for (const k of known) expect(msg).toContain(`cost.${k}`);
        },
      ),
    );
  });

  it('property: a negative value for any parameter is refused with E_CONFIG naming the field', () => {
    const params = [...CORE_COST_PARAMETERS, ...extra];
    fc.assert(
      fc.property(
        fc.constantFrom(...params.map((p) => p.name)),
        fc.double({ max: -Number.MIN_VALUE, noNaN: true, noDefaultInfinity: true }),
        (name, value) => {
          expectVhwError(
            () => new CostModel(params, {}, { [name]: value }),
            'E_CONFIG',
            `cost.${name} (override) is ${String(value)}; allowed: a finite number >= `,
          );
        },
      ),
    );
  });

  it('property: any finite value at or above the minimum is accepted and read back', () => {
    fc.assert(
      fc.property(fc.constantFrom(...CORE_COST_PARAMETERS), fc.double({ min: 0, max: 1e12, noNaN: true }), (p, extraValue) => {
        const value = (p.min ?? 0) + extraValue;
        const m = new CostModel(CORE_COST_PARAMETERS, {}, { [p.name]: value });
        expect(m.get(p.name)).toBe(value);
      }),
    );
  });
});
