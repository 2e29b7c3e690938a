import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import type { AccessConstraints, MmioHandler } from './access.js';
import { AddressSpace } from './address-space.js';
import { SimClock } from './clock.js';
import { CORE_COST_PARAMETERS, CostModel } from './cost-model.js';
import { load64, store64 } from './cpu-bigint.js';
import { GuestCpu } from './cpu.js';
import type { TrapHandler } from './trap-handler.js';
import { MachineEvents } from './events.js';
import { Mmu } from './mmu.js';
import { type RoutedMmioHandler, WatchedFlag } from './mmio-route.js';
import { Path, Stats } from './stats.js';

const K = 1024;
// Round numbers so every expected charge is exact.
const COSTS = {
  'cpu.hz': 1e9,
  'mem.ramAccessNs': 2,
  'dev.mmioReadNs': 700,
  'dev.mmioWriteNs': 40,
  'exit.inKernelRoundTripCycles': 1000,
  'exit.userspaceFactor': 3,
  'irq.exitsPerInterrupt': 2,
};
const RAM_NS = 2;
const DIRECT_READ_NS = 700;
const DIRECT_WRITE_NS = 40;
const EXIT_NS = 3000;
const IRQ_NS = 2000;

const RAM = 0x0;
const BAR = 0x100000; // direct
const TRAP = 0x200000; // trap mapping
const HOLE = 0x300000; // unmapped

/** A device with 64 32-bit registers, logging every call. */
class Regs implements MmioHandler {
  readonly regs = new Uint32Array(64);
  readonly log: string[] = [];
  onWrite: ((offset: number, value: number) => void) | undefined;
  read(offset: number, size: 1 | 2 | 4): number {
    this.log.push(`r${size}@${offset}`);
    const v = this.regs[offset >>> 2]!;
    return size === 4 ? v : (v >>> ((offset & 3) * 8)) & (size === 2 ? 0xffff : 0xff);
  }
  write(offset: number, size: 1 | 2 | 4, value: number): void {
    this.log.push(`w${size}@${offset}=${value.toString(16)}`);
    if (size === 4) this.regs[offset >>> 2] = value;
    this.onWrite?.(offset, value);
  }
}

/** A VMM stand-in: trapped accesses dispatch through a core AddressSpace. */
class SpaceTrapHandler implements TrapHandler {
  high = 0;
  readonly reasons: number[] = [];
  constructor(readonly space: AddressSpace) {}
  read(gpa: number, size: number, reasonId: number): number {
    this.reasons.push(reasonId);
    const v = this.space.read(gpa, size);
    this.high = this.space.high;
    return v;
  }
  write(gpa: number, size: number, value: number, high: number, reasonId: number): void {
    this.reasons.push(reasonId);
    this.space.write(gpa, size, value, high);
  }
}

function setup(opts: { pageSize?: number; constraints?: AccessConstraints; handlerOffset?: number } = {}) {
  const pageSize = opts.pageSize ?? 4 * K;
  const stats = new Stats();
  const events = new MachineEvents();
  const clock = new SimClock();
  const costs = new CostModel(CORE_COST_PARAMETERS, {}, COSTS);
  const mmu = new Mmu(pageSize, stats, events);
  const ramBuffer = new ArrayBuffer(4 * pageSize);
  mmu.mapRam('ram', RAM, 4 * pageSize, ramBuffer);
  const dev = new Regs();
  mmu.mapDirect({
    name: 'bar0',
    gpa: BAR,
    size: pageSize,
    hostPa: 0x3fe000000000,
    handler: dev,
    handlerOffset: opts.handlerOffset ?? 0,
    constraints: opts.constraints,
  });
  mmu.mapTrap('bar0-msix', TRAP, pageSize, 'msix-table');
  const trapDev = new Regs();
  const space = new AddressSpace('vmm', 'ignore');
  space.mapMmio({ name: 'msix', base: TRAP, size: 0x100, handler: trapDev });
  const vmm = new SpaceTrapHandler(space);
  const cpu = new GuestCpu(mmu, clock, stats, events, costs);
  return { stats, events, clock, costs, mmu, cpu, dev, trapDev, space, vmm, ramBuffer, pageSize };
}

/** Where the property tests aim: RAM, the direct BAR page, the trap page, a hole. */
const BASES = [RAM, BAR, TRAP, HOLE];

/** Two identical set-ups with their trap handlers in place, for tests comparing two ways of doing the same accesses. */
function twinMachines() {
  const pair = [setup(), setup()] as const;
  for (const m of pair) m.cpu.setTrapHandler(m.vmm);
  return pair;
}

describe('GuestCpu: RAM path', () => {
  it('loads and stores little-endian at every size, charging the RAM cost each time', () => {
    const { cpu, clock, stats, ramBuffer } = setup();
    cpu.store(0x10, 4, 0x11223344);
    expect(new Uint8Array(ramBuffer, 0x10, 4)).toEqual(Uint8Array.of(0x44, 0x33, 0x22, 0x11));
    expect(cpu.load(0x10, 1)).toBe(0x44);
    expect(cpu.load(0x12, 2)).toBe(0x1122);
    expect(cpu.load(0x10, 4)).toBe(0x11223344);
    cpu.store(0x20, 2, 0x1abcd); // truncated to 16 bits
    cpu.store(0x22, 1, 0x1ff);
    expect(cpu.load(0x20, 4)).toBe(0x00ffabcd);
    expect(clock.now).toBe(7 * RAM_NS);
    expect(stats.byPath[Path.Ram * 2]).toBe(4);
    expect(stats.byPath[Path.Ram * 2 + 1]).toBe(3);
    expect(stats.count(Path.Ram)).toBe(7);
    expect(stats.count(Path.Direct) + stats.count(Path.Trap)).toBe(0);
  });

  it('does 8-byte accesses as one access: low half returned, upper half in `high`', () => {
    const { cpu, clock, stats } = setup();
    cpu.store(0x40, 8, 0x89abcdef, 0x01234567);
    expect(cpu.load(0x40, 4)).toBe(0x89abcdef);
    expect(cpu.load(0x44, 4)).toBe(0x01234567);
    expect(cpu.load(0x40, 8)).toBe(0x89abcdef);
    expect(cpu.high).toBe(0x01234567);
    expect(stats.count(Path.Ram)).toBe(4);
    expect(clock.now).toBe(4 * RAM_NS);
    store64(cpu, 0x80, 0xfedcba9876543210n);
    expect(load64(cpu, 0x80)).toBe(0xfedcba9876543210n);
  });

  it('counts RAM accesses per path only: no page of RAM shows in the per-page counts', () => {
    const { cpu, stats, pageSize } = setup();
    cpu.load(0, 4);
    cpu.load(pageSize + 8, 4);
    cpu.store(pageSize + 12, 4, 1);
    cpu.store(3 * pageSize, 1, 1);
    expect(stats.summary().ram).toEqual({ reads: 2, writes: 2 });
    expect(stats.pages()).toEqual([]);
  });

  it('traps an access that runs off the end of a RAM mapping instead of reading past it', () => {
    const { cpu, stats, vmm, pageSize } = setup();
    cpu.setTrapHandler(vmm);
    cpu.load(4 * pageSize - 2, 4);
    expect(stats.count(Path.Ram)).toBe(0);
    expect(stats.count(Path.Trap)).toBe(1);
    expect(vmm.reasons).toEqual([stats.reasonId('unmapped')]);
  });
});

describe('GuestCpu: direct path', () => {
  it('calls the device handler at its own offset with no exit, charging the direct costs', () => {
    const { cpu, clock, stats, dev } = setup({ handlerOffset: 0x40 });
    cpu.store(BAR + 8, 4, 0xcafe);
    expect(dev.regs[(0x40 + 8) >>> 2]).toBe(0xcafe);
    expect(clock.now).toBe(DIRECT_WRITE_NS);
    expect(cpu.load(BAR + 8, 4)).toBe(0xcafe);
    expect(clock.now).toBe(DIRECT_WRITE_NS + DIRECT_READ_NS);
    expect(dev.log).toEqual(['w4@72=cafe', 'r4@72']);
    expect(stats.byPath[Path.Direct * 2]).toBe(1);
    expect(stats.byPath[Path.Direct * 2 + 1]).toBe(1);
    expect(stats.count(Path.Trap)).toBe(0);
    expect(stats.pages()).toEqual([]); // direct pages are counted per path
  });

  it('splits an 8-byte access into two 4-byte ones, low half first', () => {
    const { cpu, dev } = setup();
    cpu.store(BAR + 0x10, 8, 0x11111111, 0x22222222);
    expect(cpu.load(BAR + 0x10, 8)).toBe(0x11111111);
    expect(cpu.high).toBe(0x22222222);
    expect(dev.log).toEqual(['w4@16=11111111', 'w4@20=22222222', 'r4@16', 'r4@20']);
  });

  it('adapts a narrow access to the handler impl sizes', () => {
    const { cpu, dev } = setup({ constraints: { valid: { sizes: [1, 2, 4] }, impl: { min: 4, max: 4 } } });
    dev.regs[1] = 0xa1b2c3d4;
    expect(cpu.load(BAR + 5, 1)).toBe(0xc3);
    expect(dev.log).toEqual(['r4@4']);
  });

  it('answers an access the device does not accept with all-ones, counts it unassigned, and never calls the handler', () => {
    const { cpu, clock, stats, dev } = setup({ constraints: { valid: { sizes: [4] } } });
    expect(cpu.load(BAR, 2)).toBe(0xffff);
    expect(cpu.load(BAR + 2, 4)).toBe(0xffffffff); // misaligned
    expect(cpu.load(BAR, 8)).toBe(0xffffffff);
    expect(cpu.high).toBe(0xffffffff);
    cpu.store(BAR, 1, 5);
    expect(dev.log).toEqual([]);
    expect(stats.unassigned).toBe(4);
    expect(stats.count(Path.Direct)).toBe(4);
    expect(clock.now).toBe(3 * DIRECT_READ_NS + DIRECT_WRITE_NS);
  });

  it('property: the handler only ever sees sizes and alignments it declared, whatever the guest asks', () => {
    const sizes = [0, 1, 2, 3, 4, 6, 8, 12, 2.5] as Array<1 | 2 | 4 | 8>;
    fc.assert(
      fc.property(fc.constantFrom(...sizes), fc.integer({ min: 0, max: 64 }), fc.boolean(), (size, offset, isWrite) => {
        const { cpu, dev } = setup({ constraints: { valid: { sizes: [1, 2, 4, 8] }, impl: { min: 1, max: 4 } } });
        if (isWrite) cpu.store(BAR + offset, size, 1);
        else cpu.load(BAR + offset, size);
        for (const entry of dev.log) {
          const m = /^[rw](\d)@(\d+)/.exec(entry)!;
          const [s, o] = [Number(m[1]), Number(m[2])];
          expect([1, 2, 4]).toContain(s);
          expect(o % s).toBe(0);
        }
      }),
    );
  });
});

describe('GuestCpu: trap path', () => {
  it('exits to the trap handler with the guest-physical address and the reason, charging one exit', () => {
    const { cpu, clock, stats, vmm, trapDev } = setup();
    cpu.setTrapHandler(vmm);
    cpu.store(TRAP + 4, 4, 0x1234);
    expect(trapDev.regs[1]).toBe(0x1234);
    expect(cpu.load(TRAP + 4, 4)).toBe(0x1234);
    expect(clock.now).toBe(2 * EXIT_NS);
    expect(vmm.reasons).toEqual([stats.reasonId('msix-table'), stats.reasonId('msix-table')]);
    expect(stats.byPath[Path.Trap * 2]).toBe(1);
    expect(stats.byPath[Path.Trap * 2 + 1]).toBe(1);
    expect(stats.pages()).toEqual([{ page: TRAP, trap: 2 }]);
  });

  it('counts traps by the page reason when no trap handler is set', () => {
    const { cpu, stats } = setup();
    cpu.load(TRAP, 4);
    cpu.store(TRAP + 4, 4, 1);
    cpu.load(HOLE, 4);
    expect(stats.trapsByReason).toEqual({ 'msix-table': 2, unmapped: 1 });
    expect(stats.summary().trapsByReason).toEqual({ 'msix-table': 2, unmapped: 1 });
  });

  it('leaves reason counting to the trap handler, passing it the page reason (no double count)', () => {
    const { cpu, stats, vmm } = setup();
    cpu.setTrapHandler(vmm);
    cpu.load(TRAP, 4);
    cpu.store(TRAP, 4, 0);
    cpu.store(HOLE + 8, 4, 0);
    expect(vmm.reasons.map((id) => stats.reasonName(id))).toEqual(['msix-table', 'msix-table', 'unmapped']);
    expect(stats.trapsByReason).toEqual({});
    // a handler that counts, as the VMM does
    const counting: TrapHandler = {
      high: 0,
      read: (gpa, size, reason) => {
        stats.countTrap(reason);
        return vmm.read(gpa, size, reason);
      },
      write: (gpa, size, value, high, reason) => {
        stats.countTrap(reason);
        vmm.write(gpa, size, value, high, reason);
      },
    };
    cpu.setTrapHandler(counting);
    cpu.load(TRAP, 4);
    cpu.load(HOLE, 4);
    expect(stats.trapsByReason).toEqual({ 'msix-table': 1, unmapped: 1 });
  });

  it('passes 8-byte accesses to the handler whole, taking `high` from it', () => {
    const { cpu, vmm, trapDev } = setup();
    cpu.setTrapHandler(vmm);
    cpu.store(TRAP + 8, 8, 0xaaaa5555, 0x5555aaaa);
    expect([trapDev.regs[2], trapDev.regs[3]]).toEqual([0xaaaa5555, 0x5555aaaa]);
    expect(cpu.load(TRAP + 8, 8)).toBe(0xaaaa5555);
    expect(cpu.high).toBe(0x5555aaaa);
  });

  it('without a trap handler answers like a master abort and counts the access unassigned', () => {
    const { cpu, clock, stats } = setup();
    expect(cpu.load(HOLE, 1)).toBe(0xff);
    expect(cpu.load(HOLE, 8)).toBe(0xffffffff);
    expect(cpu.high).toBe(0xffffffff);
    cpu.store(TRAP, 4, 1);
    expect(stats.unassigned).toBe(3);
    expect(stats.count(Path.Trap)).toBe(3);
    expect(clock.now).toBe(3 * EXIT_NS);
  });

  it('charges every path exactly its cost-model value', () => {
    const { cpu, clock, vmm, costs } = setup();
    cpu.setTrapHandler(vmm);
    const charge = (fn: () => void) => {
      const t = clock.now;
      fn();
      return clock.now - t;
    };
    expect(charge(() => cpu.load(RAM, 4))).toBe(costs.ns('mem.ramAccessNs'));
    expect(charge(() => cpu.store(RAM, 8, 1, 2))).toBe(costs.ns('mem.ramAccessNs'));
    expect(charge(() => cpu.load(BAR, 4))).toBe(costs.ns('dev.mmioReadNs'));
    expect(charge(() => cpu.store(BAR, 4, 1))).toBe(costs.ns('dev.mmioWriteNs'));
    expect(charge(() => cpu.load(TRAP, 4))).toBe(costs.userspaceExitNs);
    expect(charge(() => cpu.store(HOLE, 4, 1))).toBe(costs.userspaceExitNs);
    expect(charge(() => cpu.work(123))).toBe(123);
    expect([RAM_NS, DIRECT_READ_NS, DIRECT_WRITE_NS, EXIT_NS]).toEqual([
      costs.ns('mem.ramAccessNs'),
      costs.ns('dev.mmioReadNs'),
      costs.ns('dev.mmioWriteNs'),
      costs.userspaceExitNs,
    ]);
  });

  it('re-reads costs when told the model changed', () => {
    const { cpu, clock } = setup();
    cpu.load(0, 4);
    expect(clock.now).toBe(RAM_NS);
    cpu.applyCosts(new CostModel(CORE_COST_PARAMETERS, {}, { 'mem.ramAccessNs': 10 }));
    cpu.load(0, 4);
    expect(clock.now).toBe(RAM_NS + 10);
  });
});

describe('GuestCpu: map changes', () => {
  it('sees a remapped page at once (the MMU invalidates the translation cache)', () => {
    const { cpu, mmu, stats, dev, pageSize } = setup();
    expect(cpu.load(BAR, 4)).toBe(0);
    mmu.unmap('bar0');
    const buffer = new ArrayBuffer(pageSize);
    new DataView(buffer).setUint32(0, 0x5a5a5a5a, true);
    mmu.mapRam('bar0-as-ram', BAR, pageSize, buffer);
    expect(cpu.load(BAR, 4)).toBe(0x5a5a5a5a);
    expect(dev.log).toEqual(['r4@0']);
    mmu.unmap('bar0-as-ram');
    cpu.load(BAR, 4);
    expect(stats.count(Path.Direct)).toBe(1);
    expect(stats.count(Path.Ram)).toBe(1);
    expect(stats.count(Path.Trap)).toBe(1);
  });
});

/**
 * A host page reached through a gate whose route follows a state flag (as a PE's freeze):
 * open, plain accesses go to `dev` without calling the page; closed, to `blocked`. Bytes
 * past `routeEnd` always go through the page.
 */
class GatedPage implements RoutedMmioHandler {
  readonly log: string[] = [];
  readonly blocked: MmioHandler = { read: () => 0xffffffff, write: () => {} };
  readonly flag = new WatchedFlag(false);
  readonly routeSizes = 4 | 2 | 1;
  constructor(
    readonly dev: Regs,
    readonly routeEnd: number,
  ) {}
  get route(): MmioHandler {
    return this.flag.on ? this.blocked : this.dev;
  }
  watchRoute(onChange: () => void): () => void {
    return this.flag.add(onChange);
  }
  read(offset: number, size: 1 | 2 | 4): number {
    this.log.push(`r${size}@${offset}`);
    return offset + size <= this.routeEnd ? this.route.read(offset, size) : 0xdead;
  }
  write(offset: number, size: 1 | 2 | 4, value: number): void {
    this.log.push(`w${size}@${offset}`);
    if (offset + size <= this.routeEnd) this.route.write(offset, size, value);
  }
}

describe('GuestCpu: routed direct mappings (state changes, not per-access checks)', () => {
  function routed() {
    const s = setup();
    const regs = new Regs();
    const page = new GatedPage(regs, 0x100);
    const gpa = BAR + 4 * s.pageSize;
    s.mmu.mapDirect({ name: 'routed', gpa, size: s.pageSize, hostPa: 0x3fe000100000, handler: page, handlerOffset: 0 });
    return { ...s, regs, page, gpa };
  }

  it('sends plain accesses to the route, the rest of the page and other accesses through the handler', () => {
    const { cpu, regs, page, gpa, stats } = routed();
    cpu.mmioStore(gpa + 8, 4, 0x1234);
    expect(cpu.mmioLoad(gpa + 8, 4)).toBe(0x1234);
    expect(page.log).toEqual([]);
    expect(regs.log).toEqual(['w4@8=1234', 'r4@8']);
    // Past the route's end: the page's own handler answers (twice: the entry stays).
    expect(cpu.mmioLoad(gpa + 0x100, 4)).toBe(0xdead);
    expect(cpu.mmioLoad(gpa + 0x104, 4)).toBe(0xdead);
    // An 8-byte access takes the checked path, through the handler.
    cpu.mmioLoad(gpa + 0x10, 8);
    expect(page.log).toEqual(['r4@256', 'r4@260', 'r4@16', 'r4@20']);
    expect(stats.summary().direct).toMatchObject({ reads: 4, writes: 1 });
  });

  it('follows the route when the state changes, with no access testing the state', () => {
    const { cpu, regs, page, gpa } = routed();
    regs.regs[1] = 7;
    expect(cpu.mmioLoad(gpa + 4, 4)).toBe(7);
    page.flag.set(true);
    expect(cpu.mmioLoad(gpa + 4, 4)).toBe(0xffffffff);
    page.flag.set(false);
    expect(cpu.mmioLoad(gpa + 4, 4)).toBe(7);
    expect(page.log).toEqual([]);
  });

  it('stops following the route once unmapped', () => {
    const { mmu, page } = routed();
    expect(page.flag.size).toBe(1);
    mmu.unmap('routed');
    expect(page.flag.size).toBe(0);
  });
});

describe('GuestCpu: translation cache', () => {
  it('keeps a RAM and a direct translation at once: alternating between them never looks up', () => {
    const { cpu, mmu, stats, dev } = setup();
    cpu.load(RAM, 4);
    cpu.load(BAR, 4);
    const lookup = vi.spyOn(mmu, 'lookup');
    for (let i = 0; i < 10; i++) {
      cpu.store(RAM + 4 * i, 4, i);
      cpu.store(BAR + 4 * i, 4, i);
    }
    expect(lookup).not.toHaveBeenCalled();
    expect(stats.summary().ram.writes).toBe(10);
    expect(stats.summary().direct.writes).toBe(10);
    expect(dev.regs.slice(0, 10)).toEqual(Uint32Array.from({ length: 10 }, (_, i) => i));
  });

  it('caches the last trapped mapping for the miss path: a second trap on it does not look up', () => {
    const { cpu, mmu, vmm } = setup();
    cpu.setTrapHandler(vmm);
    cpu.load(TRAP, 4);
    const lookup = vi.spyOn(mmu, 'lookup');
    cpu.load(TRAP + 4, 4);
    cpu.store(TRAP + 8, 4, 1);
    expect(lookup).not.toHaveBeenCalled();
  });

  it('never caches across the end of a mapping: an access straddling it traps as unmapped', () => {
    const { cpu, stats, vmm, pageSize } = setup();
    cpu.setTrapHandler(vmm);
    cpu.load(4 * pageSize - 4, 4); // the last word of RAM: cached
    cpu.load(4 * pageSize - 2, 4); // runs off the end
    expect(stats.count(Path.Ram)).toBe(1);
    expect(stats.count(Path.Trap)).toBe(1);
    expect(vmm.reasons).toEqual([stats.reasonId('unmapped')]);
  });

  it('drops the cache when tracing is switched on, so a page cached before is traced', () => {
    const { cpu, events } = setup();
    cpu.load(RAM, 4);
    cpu.load(BAR, 4);
    const access = vi.fn();
    events.on('access', access);
    events.tracing = true;
    cpu.load(RAM, 4);
    cpu.store(BAR, 4, 7);
    expect(access.mock.calls.map((c) => [c[0].path, c[0].isWrite])).toEqual([
      ['ram', false],
      ['direct', true],
    ]);
    events.tracing = false;
    cpu.load(RAM, 4);
    expect(access).toHaveBeenCalledTimes(2);
  });

  it('property: any interleaving of accesses and map changes reads what a cache-less model reads', () => {
    // The model: a CPU whose translations are dropped before every access always looks up.
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('load' as const), where: fc.integer({ min: 0, max: 3 }), word: fc.integer({ min: 0, max: 15 }) }),
            fc.record({
              op: fc.constant('store' as const),
              where: fc.integer({ min: 0, max: 3 }),
              word: fc.integer({ min: 0, max: 15 }),
              value: fc.nat(),
            }),
            fc.record({ op: fc.constant('remap' as const), asRam: fc.boolean() }),
          ),
          { maxLength: 60 },
        ),
        (ops) => {
          const [a, b] = twinMachines();
          let barIsRam = false;
          for (const op of ops) {
            if (op.op === 'remap') {
              if (op.asRam === barIsRam) continue;
              for (const m of [a, b]) {
                m.mmu.unmap(barIsRam ? 'bar0-ram' : 'bar0');
                if (op.asRam) m.mmu.mapRam('bar0-ram', BAR, m.pageSize);
                else
                  m.mmu.mapDirect({ name: 'bar0', gpa: BAR, size: m.pageSize, hostPa: 0x3fe000000000, handler: m.dev, handlerOffset: 0 });
              }
              barIsRam = op.asRam;
              continue;
            }
            const gpa = BASES[op.where]! + op.word * 4;
            b.cpu.invalidateTranslations();
            if (op.op === 'load') expect(a.cpu.load(gpa, 4)).toBe(b.cpu.load(gpa, 4));
            else {
              a.cpu.store(gpa, 4, op.value);
              b.cpu.store(gpa, 4, op.value);
            }
          }
          expect(a.stats.summary()).toEqual(b.stats.summary());
          expect(a.clock.now).toBe(b.clock.now);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('GuestCpu: per-page trap counts', () => {
  it('property: per-page trap counts equal a naive count, across pages, straddles, holes, map changes, tracing and resets', () => {
    const WIDE = 0x400000; // a two-page trap mapping
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            {
              weight: 6,
              arbitrary: fc.record({
                op: fc.constant('access' as const),
                at: fc.constantFrom(TRAP, TRAP + 0x10, WIDE, WIDE + 0xffe, WIDE + 0x1000, WIDE + 0x1ffe, HOLE, RAM, BAR),
                size: fc.constantFrom<1 | 2 | 4 | 8>(1, 2, 4, 8),
                isWrite: fc.boolean(),
              }),
            },
            { weight: 1, arbitrary: fc.constantFrom('look' as const, 'reset' as const, 'tracing' as const, 'remap' as const) },
          ),
          { maxLength: 80 },
        ),
        (ops) => {
          const { cpu, stats, mmu, events, pageSize, vmm } = setup();
          cpu.setTrapHandler(vmm);
          mmu.mapTrap('wide', WIDE, 2 * pageSize, 'wide');
          let model = new Map<number, number>();
          let reads = 0;
          let writes = 0;
          const pagesOfModel = () =>
            [...model]
              .filter(([, n]) => n > 0)
              .sort(([a], [b]) => a - b)
              .map(([page, trap]) => ({ page, trap }));
          for (const op of ops) {
            if (op === 'look') expect(stats.pages()).toEqual(pagesOfModel());
            else if (op === 'reset') {
              stats.reset();
              model = new Map();
              reads = 0;
              writes = 0;
            } else if (op === 'tracing') events.tracing = !events.tracing;
            else if (op === 'remap') {
              mmu.unmap('bar0-msix'); // a map change drops the cached page, whose count must survive
              mmu.mapTrap('bar0-msix', TRAP, pageSize, 'msix-table');
            } else {
              const { at, size, isWrite } = op;
              if (isWrite) cpu.store(at, size, 1, 0);
              else cpu.load(at, size);
              const inTrap = at >= TRAP && at + size <= TRAP + pageSize;
              const inWide = at >= WIDE && at + size <= WIDE + 2 * pageSize;
              const trapped = inTrap || inWide || at === HOLE || (at >= WIDE && !inWide);
              if (trapped) {
                if (isWrite) writes++;
                else reads++;
              }
              if (inTrap || inWide) {
                const page = at - (at % pageSize);
                model.set(page, (model.get(page) ?? 0) + 1);
              }
            }
          }
          expect(stats.pages()).toEqual(pagesOfModel());
          expect([stats.trapReads, stats.trapWrites]).toEqual([reads, writes]);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('GuestCpu: one per machine', () => {
  it('refuses a second CPU on the same statistics and clock (its RAM accesses would go uncounted)', () => {
    const { mmu, clock, stats, events, costs } = setup();
    expect(() => new GuestCpu(mmu, clock, stats, events, costs)).toThrow(/one guest CPU per machine/);
  });

  it('a refused second CPU leaves the costs of the first one alone', () => {
    const { mmu, clock, stats, events, cpu, vmm } = setup();
    cpu.setTrapHandler(vmm);
    const cheap = new CostModel(CORE_COST_PARAMETERS, {}, { ...COSTS, 'dev.mmioReadNs': 1, 'exit.userspaceFactor': 1 });
    expect(() => new GuestCpu(mmu, clock, stats, events, cheap)).toThrow(/one guest CPU per machine/);
    const t = clock.now;
    cpu.load(BAR, 4);
    cpu.load(TRAP, 4);
    expect(clock.now - t).toBe(DIRECT_READ_NS + EXIT_NS);
  });
});

describe('GuestCpu: register accessors', () => {
  it('property: mmioLoad/mmioStore make the same access as load/store, whatever the address', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            where: fc.integer({ min: 0, max: 3 }),
            word: fc.integer({ min: 0, max: 15 }),
            size: fc.constantFrom(1, 2, 4, 8) as fc.Arbitrary<1 | 2 | 4 | 8>,
            isWrite: fc.boolean(),
            value: fc.nat(),
            viaMmio: fc.boolean(),
          }),
          { maxLength: 60 },
        ),
        (ops) => {
          const [a, b] = twinMachines();
          for (const op of ops) {
            const gpa = BASES[op.where]! + op.word * 4;
            if (op.isWrite) {
              a.cpu.store(gpa, op.size, op.value, op.value ^ 0x5a5a);
              if (op.viaMmio) b.cpu.mmioStore(gpa, op.size, op.value, op.value ^ 0x5a5a);
              else b.cpu.store(gpa, op.size, op.value, op.value ^ 0x5a5a);
            } else {
              const va = a.cpu.load(gpa, op.size);
              const vb = op.viaMmio ? b.cpu.mmioLoad(gpa, op.size) : b.cpu.load(gpa, op.size);
              expect(vb).toBe(va);
              if (op.size === 8) expect(b.cpu.high).toBe(a.cpu.high);
            }
          }
          expect(b.stats.summary()).toEqual(a.stats.summary());
          expect(b.clock.now).toBe(a.clock.now);
          expect(b.dev.log).toEqual(a.dev.log);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('GuestCpu: interrupts', () => {
  it('queues an interrupt raised during an access and delivers it after the access completed', () => {
    const { cpu, clock, stats, dev } = setup();
    const order: string[] = [];
    let inDevice = false;
    dev.onWrite = () => {
      inDevice = true;
      cpu.raiseInterrupt(33);
      expect(cpu.pendingInterrupts).toBe(1);
      order.push('device write');
      inDevice = false;
    };
    cpu.onInterrupt((vector) => {
      expect(inDevice).toBe(false);
      // the store that caused it is complete: counted, charged and visible
      expect(stats.count(Path.Direct)).toBe(1);
      expect(clock.now).toBe(DIRECT_WRITE_NS + IRQ_NS);
      expect(dev.regs[0]).toBe(7);
      order.push(`irq ${vector}`);
    });
    cpu.store(BAR, 4, 7);
    expect(order).toEqual(['device write', 'irq 33']);
    expect(stats.interrupts).toBe(1);
    expect(cpu.pendingInterrupts).toBe(0);
    expect(clock.now).toBe(DIRECT_WRITE_NS + IRQ_NS);
  });

  it('delivers an interrupt raised during a trapped load after the value is back', () => {
    const { cpu, vmm, trapDev, stats, clock } = setup();
    trapDev.regs[0] = 99;
    cpu.setTrapHandler({
      high: 0,
      read(gpa, size, reason) {
        cpu.raiseInterrupt(1);
        return vmm.read(gpa, size, reason);
      },
      write: (...a) => vmm.write(...a),
    });
    const seen: Array<[number, number]> = [];
    cpu.onInterrupt(() => seen.push([stats.count(Path.Trap), clock.now]));
    expect(cpu.load(TRAP, 4)).toBe(99);
    expect(seen).toEqual([[1, EXIT_NS + IRQ_NS]]);
  });

  it('does not nest: an interrupt raised by the interrupt handler is delivered after it returns', () => {
    const { cpu, dev } = setup();
    const order: string[] = [];
    cpu.onInterrupt((v) => {
      order.push(`enter ${v}`);
      if (v === 1) cpu.store(BAR, 4, 0); // the device raises 2 from this access
      order.push(`leave ${v}`);
    });
    dev.onWrite = () => {
      if (order.length > 0) cpu.raiseInterrupt(2);
    };
    cpu.raiseInterrupt(1);
    cpu.load(RAM, 4);
    expect(order).toEqual(['enter 1', 'leave 1', 'enter 2', 'leave 2']);
  });

  it('keeps interrupts raised between accesses pending until the next access or deliverPending', () => {
    const { cpu, stats, clock } = setup();
    const got: number[] = [];
    cpu.onInterrupt((v) => got.push(v));
    cpu.raiseInterrupt(5);
    cpu.raiseInterrupt(6);
    expect(got).toEqual([]);
    expect(cpu.pendingInterrupts).toBe(2);
    cpu.deliverPending();
    expect(got).toEqual([5, 6]);
    expect(stats.interrupts).toBe(2);
    expect(clock.now).toBe(2 * IRQ_NS);
    cpu.raiseInterrupt(7);
    cpu.load(RAM, 1);
    expect(got).toEqual([5, 6, 7]);
  });

  it('counts interrupts that arrive with the queue full instead of losing them silently', () => {
    const { cpu } = setup();
    for (let i = 0; i < 4096 + 3; i++) cpu.raiseInterrupt(i);
    expect(cpu.pendingInterrupts).toBe(4096);
    expect(cpu.droppedInterrupts).toBe(3);
    const got: number[] = [];
    cpu.onInterrupt((v) => got.push(v));
    cpu.deliverPending();
    expect(got).toHaveLength(4096);
    expect(got[0]).toBe(0);
    expect(got[4095]).toBe(4095);
  });

  it('reset drops pending interrupts', () => {
    const { cpu } = setup();
    const handler = vi.fn();
    cpu.onInterrupt(handler);
    cpu.raiseInterrupt(1);
    cpu.reset();
    cpu.load(RAM, 4);
    expect(handler).not.toHaveBeenCalled();
    expect(cpu.pendingInterrupts).toBe(0);
  });
});

describe('GuestCpu: tracing', () => {
  it('times a trap from where the guest stopped when a handler resolved for its page serves it', () => {
    const { cpu, events, mmu, vmm, clock } = setup();
    cpu.setTrapHandler(vmm);
    // A handler resolved for the page (as the VMM gives a vfio-fd page) is called instead of the CPU's own.
    const VMM_NS = 1234;
    mmu.resolveTrap('bar0-msix', {
      high: 0,
      read: () => 0,
      write: () => {
        clock.now += VMM_NS;
      },
    });
    events.tracing = true;
    const trap = vi.fn();
    events.on('trap', trap);
    const before = clock.now;
    cpu.store(TRAP, 4, 3);
    const e = trap.mock.calls[0]![0] as { startNs: number; timeNs: number };
    expect(e.startNs).toBe(before);
    expect(e.timeNs - e.startNs).toBe(EXIT_NS + VMM_NS);
  });

  it('emits access and trap events when tracing is on', () => {
    const { cpu, events, vmm, clock } = setup();
    cpu.setTrapHandler(vmm);
    events.tracing = true;
    const access = vi.fn();
    const trap = vi.fn();
    const interrupt = vi.fn();
    events.on('access', access);
    events.on('trap', trap);
    events.on('interrupt', interrupt);
    cpu.store(RAM + 4, 4, 9);
    cpu.load(BAR, 4);
    cpu.store(TRAP, 4, 3);
    cpu.raiseInterrupt(12);
    expect(access.mock.calls.map((c) => c[0])).toEqual([
      { path: 'ram', gpa: 4, size: 4, isWrite: true, value: 9, timeNs: RAM_NS },
      { path: 'direct', gpa: BAR, size: 4, isWrite: false, value: 0, timeNs: RAM_NS + DIRECT_READ_NS },
      { path: 'trap', gpa: TRAP, size: 4, isWrite: true, value: 3, timeNs: RAM_NS + DIRECT_READ_NS + EXIT_NS },
    ]);
    // The trap's slice starts where the guest stopped, before the exit was charged.
    expect(trap.mock.calls.map((c) => c[0])).toEqual([
      { gpa: TRAP, size: 4, isWrite: true, reason: 'msix-table', startNs: RAM_NS + DIRECT_READ_NS, timeNs: clock.now },
    ]);
    expect(interrupt).toHaveBeenCalledTimes(1);
    expect(interrupt.mock.calls[0]![0]).toMatchObject({ source: 'guest', vector: 12 });
  });

  it('emits nothing per access when tracing is off', () => {
    const { cpu, events, vmm } = setup();
    cpu.setTrapHandler(vmm);
    const listener = vi.fn();
    events.on('access', listener);
    events.on('trap', listener);
    events.on('interrupt', listener);
    events.on('unassigned', listener);
    cpu.store(RAM, 4, 1);
    cpu.load(RAM, 8);
    cpu.load(BAR, 4);
    cpu.store(BAR, 4, 1);
    cpu.load(TRAP, 4);
    cpu.store(HOLE, 4, 1);
    cpu.raiseInterrupt(3);
    cpu.deliverPending();
    expect(listener).not.toHaveBeenCalled();
  });
});
