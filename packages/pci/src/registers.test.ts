import { describe, expect, it } from 'vitest';
import { BarRegisterCounters, RegisterMap } from './registers.js';

describe('RegisterMap', () => {
  const map = new RegisterMap(
    'dev0',
    {
      0: [
        { name: 'CAP', offset: 0, size: 8 },
        { name: 'CSTS', offset: 0x1c, size: 4, hot: true },
      ],
      3: [{ name: 'DB', offset: 0x100, size: 4, hot: true }],
    },
    new Map([
      [0, 0x1000],
      [3, 0x1000],
    ]),
  );

  it('names the register covering a byte, and finds a register by name', () => {
    expect(map.nameAt(0, 0)).toBe('CAP');
    expect(map.nameAt(0, 4)).toBe('CAP');
    expect(map.nameAt(0, 8)).toBeUndefined();
    expect(map.nameAt(0, 0x1f)).toBe('CSTS');
    expect(map.nameAt(3, 0x100)).toBe('DB');
    expect(map.nameAt(1, 0)).toBeUndefined();
    expect(map.find('DB')).toEqual({ bar: 3, offset: 0x100, size: 4, name: 'DB', hot: true });
    expect(map.hot().map((r) => r.name)).toEqual(['CSTS', 'DB']);
  });

  it('refuses a table that does not fit the device', () => {
    const bars = new Map([[0, 0x100]]);
    expect(() => new RegisterMap('d', { 0: [{ name: 'X', offset: 0x100, size: 4 }] }, bars)).toThrow(/X at 0x100 lies outside the BAR/);
    expect(() => new RegisterMap('d', { 1: [] }, bars)).toThrow(/BAR1: the device declares no such BAR/);
    expect(() => new RegisterMap('d', { 0: [{ name: 'A', offset: 2, size: 4 }] }, bars)).toThrow(/offset 2; allowed: a multiple/);
    expect(
      () =>
        new RegisterMap(
          'd',
          {
            0: [
              { name: 'A', offset: 0, size: 4 },
              { name: 'A', offset: 4, size: 4 },
            ],
          },
          bars,
        ),
    ).toThrow(/A is named twice/);
    expect(() => new RegisterMap('d', { 0: [{ name: '9X', offset: 0, size: 4 }] }, bars)).toThrow(/name "9X"/);
  });
});

describe('BarRegisterCounters', () => {
  it('reports touched dwords with the largest size seen', () => {
    const c = new BarRegisterCounters(2, 16);
    c.reads[1] = 3;
    c.sizes[1] = 1 | 4;
    c.writes[3] = 1;
    c.sizes[3] = 2;
    expect(c.touched()).toEqual([
      { bar: 2, offset: 4, size: 4, reads: 3, writes: 0 },
      { bar: 2, offset: 12, size: 2, reads: 0, writes: 1 },
    ]);
    c.clear();
    expect(c.touched()).toEqual([]);
  });
});
