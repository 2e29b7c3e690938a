import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { expectVhwError } from '@vhw/test-support';
import type { MmioHandler } from './access.js';
import { VhwError } from './errors.js';
import { MachineEvents } from './events.js';
import { Mmu, PageKind } from './mmu.js';
import { Stats } from './stats.js';

const K = 1024;
const nullHandler: MmioHandler = { read: () => 0, write: () => {} };

function mmu(pageSize = 4 * K) {
  const stats = new Stats();
  const events = new MachineEvents();
  return { mmu: new Mmu(pageSize, stats, events), stats, events };
}

describe('Mmu', () => {
  it.each([0, 1000, 2048, 4097, 12 * K, Number.NaN])('refuses page size %s with E_CONFIG', (pageSize) => {
    expectVhwError(() => mmu(pageSize), 'E_CONFIG', /allowed: a power of two >= 4096/);
  });

  it.each([4 * K, 16 * K, 64 * K])('accepts page size %i and answers alignment questions in it', (pageSize) => {
    const { mmu: m } = mmu(pageSize);
    expect(m.pageSize).toBe(pageSize);
    expect(m.isPageAligned(pageSize * 3)).toBe(true);
    expect(m.isPageAligned(pageSize * 3 + 4096 / 2)).toBe(false);
    expect(m.pageOf(pageSize * 5 + 17)).toBe(pageSize * 5);
  });

  it('refuses RAM, direct and trap mappings that are not whole pages with E_ALIGNMENT', () => {
    const { mmu: m } = mmu(64 * K);
    const cases: Array<() => unknown> = [
      () => m.mapRam('ram', 4 * K, 64 * K),
      () => m.mapRam('ram', 0, 4 * K),
      () => m.mapTrap('t', 0x1000, 64 * K, 'why'),
      () => m.mapDirect({ name: 'd', gpa: 0x10000, size: 0x8000, hostPa: 0, handler: nullHandler, handlerOffset: 0 }),
    ];
    for (const c of cases) {
      expectVhwError(c, 'E_ALIGNMENT', 'whole 65536-byte pages');
    }
    expect(m.entries).toHaveLength(0);
  });

  it('refuses a direct mapping whose host address is not page aligned, naming the address', () => {
    const { mmu: m } = mmu(64 * K);
    const err = expectVhwError(
      () => m.mapDirect({ name: 'bar0', gpa: 0x10000, size: 0x10000, hostPa: 0x3fe00004000, handler: nullHandler, handlerOffset: 0 }),
      'E_ALIGNMENT',
    );
    expect(err.message).toBe('direct mapping "bar0": host address 0x3fe00004000 is not aligned to the 65536-byte page');
  });

  it('refuses bad names and ranges', () => {
    const { mmu: m } = mmu();
    expectVhwError(() => m.mapRam('', 0, 4 * K), 'E_CONFIG');
    expectVhwError(() => m.mapRam('r', -4 * K, 4 * K), 'E_RANGE');
    expectVhwError(() => m.mapRam('r', 0, 0), 'E_RANGE');
    expectVhwError(() => m.mapRam('r', 0, 8 * K, new ArrayBuffer(4 * K)), 'E_RANGE');
  });

  it('refuses overlapping mappings with E_OVERLAP and duplicate names with E_CONFIG', () => {
    const { mmu: m } = mmu();
    m.mapRam('ram', 0, 16 * K);
    expectVhwError(() => m.mapTrap('t', 12 * K, 8 * K, 'x'), 'E_OVERLAP', '"ram"');
    expectVhwError(() => m.mapTrap('ram', 64 * K, 4 * K, 'x'), 'E_CONFIG');
    expect(m.entries.map((e) => e.name)).toEqual(['ram']);
  });

  it('looks up and translates each kind of page; unmapped addresses trap', () => {
    const { mmu: m } = mmu();
    m.mapRam('ram', 0, 8 * K);
    m.mapDirect({ name: 'bar0', gpa: 0x10000, size: 8 * K, hostPa: 0x3f000, handler: nullHandler, handlerOffset: 0x100, owner: 'dev0' });
    m.mapTrap('msix', 0x20000, 4 * K, 'msix-table', 'dev0');
    expect(m.translate(0x10).path).toBe('ram');
    expect(m.translate(0x10).mapping?.name).toBe('ram');
    expect(m.translate(0x11234)).toMatchObject({ path: 'direct', hostPa: 0x40234 });
    expect(m.translate(0x20010).path).toBe('trap');
    expect(m.translate(0x20010).mapping?.name).toBe('msix');
    expect(m.translate(0x30000)).toEqual({ path: 'trap', mapping: undefined });
    const bar = m.lookup(0x10004)!;
    expect(bar.kind).toBe(PageKind.Direct);
    expect(bar.kindName).toBe('direct');
    expect(bar.handlerOffset).toBe(0x100);
    expect(bar.owner).toBe('dev0');
    expect(bar.end).toBe(0x12000);
  });

  it('gives each page of a mapping a stats slot and each trap reason a counter id', () => {
    const { mmu: m, stats } = mmu();
    const t = m.mapTrap('t', 0x8000, 12 * K, 'sub-page');
    expect([...t.pageSlots]).toEqual([stats.pageSlot(0x8000), stats.pageSlot(0x9000), stats.pageSlot(0xa000)]);
    expect(new Set(t.pageSlots).size).toBe(3);
    expect(t.reasonId).toBe(stats.reasonId('sub-page'));
    expect(stats.reasonName(t.reasonId)).toBe('sub-page');
  });

  it('emits map and unmap events and bumps the generation on every change', () => {
    const { mmu: m, events } = mmu();
    const onMap = vi.fn();
    events.on('map', onMap);
    const g0 = m.generation;
    m.mapRam('ram', 0, 4 * K);
    m.mapTrap('t', 4 * K, 4 * K, 'why');
    m.unmap('ram');
    expect(m.generation).toBe(g0 + 3);
    expect(onMap.mock.calls.map((c) => c[0])).toEqual([
      { action: 'map', kind: 'ram', name: 'ram', gpa: 0, size: 4 * K },
      { action: 'map', kind: 'trap', name: 't', gpa: 4 * K, size: 4 * K },
      { action: 'unmap', kind: 'ram', name: 'ram', gpa: 0, size: 4 * K },
    ]);
    expect(m.lookup(0)).toBeUndefined();
  });

  it('does not emit or bump the generation for a refused mapping', () => {
    const { mmu: m, events } = mmu();
    m.mapRam('ram', 0, 4 * K);
    const onMap = vi.fn();
    events.on('map', onMap);
    const g = m.generation;
    expect(() => m.mapRam('ram2', 0, 4 * K)).toThrow(VhwError);
    expect(onMap).not.toHaveBeenCalled();
    expect(m.generation).toBe(g);
  });

  it('refuses to unmap an unknown name, listing what is mapped', () => {
    const { mmu: m } = mmu();
    expect(() => m.unmap('x')).toThrow(/no mapping named "x"; mapped: none/);
    m.mapRam('ram', 0, 4 * K);
    expectVhwError(() => m.unmap('x'), 'E_NOT_FOUND', 'mapped: ram');
  });

  it.each([4 * K, 16 * K, 64 * K])('property: map then translate gives back the same host address (page size %i)', (pageSize) => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            gapPages: fc.integer({ min: 0, max: 4 }),
            pages: fc.integer({ min: 1, max: 4 }),
            hostPage: fc.integer({ min: 0, max: 2 ** 20 }),
          }),
          {
            minLength: 1,
            maxLength: 8,
          },
        ),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), { minLength: 1, maxLength: 8 }),
        (specs, fractions) => {
          const { mmu: m } = mmu(pageSize);
          let page = 0;
          const mapped = specs.map((s, i) => {
            const gpa = (page + s.gapPages) * pageSize;
            page += s.gapPages + s.pages;
            const hostPa = s.hostPage * pageSize;
            const size = s.pages * pageSize;
            m.mapDirect({ name: `d${i}`, gpa, size, hostPa, handler: nullHandler, handlerOffset: 0 });
            return { gpa, size, hostPa, name: `d${i}` };
          });
          for (const d of mapped) {
            for (const f of fractions) {
              const off = Math.floor(f * d.size);
              const t = m.translate(d.gpa + off);
              expect(t.path).toBe('direct');
              expect(t.mapping?.name).toBe(d.name);
              expect(t.hostPa).toBe(d.hostPa + off);
            }
            // the pages just outside are not this mapping
            expect(m.lookup(d.gpa + d.size)?.name).not.toBe(d.name);
            if (d.gpa > 0) expect(m.lookup(d.gpa - 1)?.name).not.toBe(d.name);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
