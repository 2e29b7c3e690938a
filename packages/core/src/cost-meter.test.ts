import { describe, expect, it } from 'vitest';
import { guestRam, simplePlatform } from './builtin-plugins.js';
import { SimClock } from './clock.js';
import { DEVICE_READ, DEVICE_WRITE, USERSPACE_EXIT } from './cost-meter.js';
import { CORE_COST_PARAMETERS, CostModel } from './cost-model.js';
import { Machine } from './machine.js';
import { Stats } from './stats.js';
import { expectVhwError } from '@vhw/test-support';

const model = (overrides: Record<string, number> = {}) => new CostModel(CORE_COST_PARAMETERS, {}, overrides);

/** A stand-in for the guest CPU's counts. */
const zeroCounts = () => ({ ramReads: 0, ramWrites: 0, directReads: 0, directWrites: 0, trapReads: 0, trapWrites: 0 });

describe('CostMeter', () => {
  it('resolves a named charge once from its parameters, and every resolver shares the handle', () => {
    const clock = new SimClock();
    const read = clock.meter.resolve(DEVICE_READ, model({ 'dev.mmioReadNs': 700 }));
    expect(read.ns).toBe(700);
    expect(read.parameters).toEqual(['dev.mmioReadNs']);
    expect(clock.meter.resolve(DEVICE_READ, model({ 'dev.mmioReadNs': 700 }))).toBe(read);
    const exit = clock.meter.resolve(USERSPACE_EXIT, model());
    expect(exit.ns).toBeCloseTo(model().userspaceExitNs, 9);
  });

  it('charges the clock through the handle: once, n times as one addition, or a time the caller gives', () => {
    const clock = new SimClock();
    const read = clock.meter.resolve(DEVICE_READ, model());
    read.add();
    expect(clock.now).toBe(800);
    read.addTimes(3);
    expect(clock.now).toBe(3200);
    read.addNs(5);
    expect(clock.now).toBe(3205);
  });

  it('keeps no attribution while the switch is off', () => {
    const clock = new SimClock();
    const read = clock.meter.resolve(DEVICE_READ, model());
    read.add();
    expect(read.count).toBe(0);
    expect(clock.meter.attribution).toBe(false);
    expect(clock.meter.breakdown()).toEqual([]);
  });

  it('with the switch on, counts each named charge and its time; a combined charge attributes to its parts', () => {
    const clock = new SimClock();
    const meter = clock.meter;
    const read = meter.resolve(DEVICE_READ, model());
    const write = meter.resolve(DEVICE_WRITE, model());
    const exit = meter.resolve(USERSPACE_EXIT, model());
    const exitAndRead = meter.combine([exit, read]);
    expect(exitAndRead.ns).toBe(exit.ns + read.ns);
    meter.attribution = true;
    read.add();
    write.addTimes(2);
    exitAndRead.add();
    expect(clock.now).toBeCloseTo(800 + 100 + exit.ns + 800, 9);
    expect(meter.breakdown()).toEqual([
      { name: 'device.read', parameters: ['dev.mmioReadNs'], nsEach: 800, count: 2, ns: 1600 },
      { name: 'device.write', parameters: ['dev.mmioWriteNs'], nsEach: 50, count: 2, ns: 100 },
      { name: 'exit.userspace', parameters: USERSPACE_EXIT.parameters, nsEach: exit.ns, count: 1, ns: exit.ns },
    ]);
    meter.attribution = false;
    read.add();
    expect(read.count).toBe(2);
    clock.reset();
    expect(meter.breakdown()).toEqual([]);
  });

  it('reports the counted guest accesses at their resolved costs', () => {
    const clock = new SimClock();
    const counts = zeroCounts();
    clock.countAccessesOf(counts);
    clock.meter.countedAccessCharges(model());
    counts.ramReads = 100; // before the switch: not in the breakdown
    clock.meter.attribution = true;
    counts.ramReads += 3;
    counts.directReads += 2;
    counts.trapWrites += 1;
    const rows = clock.meter.breakdown();
    expect(rows.map((r) => [r.name, r.count])).toEqual([
      ['counted.directRead', 2],
      ['counted.ramAccess', 3],
      ['counted.trapExit', 1],
    ]);
    expect(rows[0]!.ns).toBe(1600);
    expect(clock.now).toBeCloseTo(103 + 1600 + model().userspaceExitNs, 9);
  });

  it('refuses a charge whose time is not a finite number of ns >= 0', () => {
    const clock = new SimClock();
    expectVhwError(() => clock.meter.resolve({ name: 'x', parameters: [], ns: () => -1 }, model()), 'E_CONFIG');
  });

  it("follows the machine's tracing", () => {
    const machine = Machine.create({ plugins: [simplePlatform(), guestRam({ size: 0x10000 })] });
    expect(machine.clock.meter.attribution).toBe(false);
    machine.trace(true);
    expect(machine.clock.meter.attribution).toBe(true);
    machine.cpu.work(10);
    expect(machine.clock.meter.breakdown().find((r) => r.name === 'guest.work')).toMatchObject({ count: 1, ns: 10 });
    machine.trace(false);
    expect(machine.clock.meter.attribution).toBe(false);
    machine.dispose();
  });
});

describe('Stats.countTrap', () => {
  it('counts traps by reason, the only writer of the per-reason counts', () => {
    const stats = new Stats();
    const r = stats.reasonId('msix-table');
    stats.countTrap(r);
    stats.countTrap(r);
    expect(stats.trapsOfReason(r)).toBe(2);
    expect(stats.trapsByReason).toEqual({ 'msix-table': 2 });
    stats.reset();
    expect(stats.trapsOfReason(r)).toBe(0);
  });
});
