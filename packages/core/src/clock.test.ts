import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SimClock } from './clock.js';

/** A stand-in for the guest CPU's monotonic counts of RAM and direct accesses. */
function clockWithCounts(ramNs: number, directReadNs = 0, directWriteNs = 0, trapExitNs = 0) {
  const counts = { ramReads: 0, ramWrites: 0, directReads: 0, directWrites: 0, trapReads: 0, trapWrites: 0 };
  const clock = new SimClock();
  clock.countAccessesOf(counts);
  clock.setCountedAccessCosts({ ramNs, directReadNs, directWriteNs, trapExitNs });
  return { clock, counts };
}

const costs = (ramNs: number, directReadNs = 0, directWriteNs = 0, trapExitNs = 0) => ({ ramNs, directReadNs, directWriteNs, trapExitNs });

describe('SimClock', () => {
  it('charges the counted RAM accesses when `now` is read, at the RAM access cost, once', () => {
    const { clock, counts } = clockWithCounts(3);
    clock.add(10);
    counts.ramReads += 2;
    counts.ramWrites += 1;
    expect(clock.now).toBe(19);
    expect(clock.now).toBe(19);
  });

  it('`add` and `now += ns` keep the RAM accesses before them; a plain set replaces the time', () => {
    const { clock, counts } = clockWithCounts(2);
    counts.ramReads = 5;
    clock.now += 1;
    expect(clock.now).toBe(11);
    counts.ramWrites = 4;
    clock.add(1);
    expect(clock.now).toBe(20);
    counts.ramWrites = 10;
    clock.now = 100;
    expect(clock.now).toBe(100);
  });

  it('a new RAM cost applies from then on: accesses made before are charged at the old one', () => {
    const { clock, counts } = clockWithCounts(1);
    counts.ramReads = 10;
    clock.setCountedAccessCosts(costs(100));
    counts.ramReads = 11;
    expect(clock.now).toBe(110);
  });

  it('reset drops the time, and the accesses made before it', () => {
    const { clock, counts } = clockWithCounts(1);
    clock.now = 5;
    counts.ramWrites = 3;
    clock.reset();
    expect(clock.now).toBe(0);
    counts.ramReads = 1;
    expect(clock.now).toBe(1);
  });

  it('with no counts registered, RAM costs nothing and the clock is a plain sum', () => {
    const clock = new SimClock();
    clock.setCountedAccessCosts(costs(5));
    clock.add(2);
    clock.advance(3);
    expect(clock.now).toBe(5);
  });

  it('refuses a second guest CPU: its RAM accesses would go uncharged', () => {
    const { clock, counts } = clockWithCounts(1);
    clock.countAccessesOf(counts); // the same one again is fine
    expect(() =>
      clock.countAccessesOf({ ramReads: 0, ramWrites: 0, directReads: 0, directWrites: 0, trapReads: 0, trapWrites: 0 }),
    ).toThrow(/one guest CPU per machine/);
  });

  it('property: counting then charging equals adding the cost per access, for integer costs', () => {
    const kinds = ['ramRead', 'ramWrite', 'directRead', 'directWrite', 'trapRead', 'trapWrite', 'look', 'recost'] as const;
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 1000 }), { minLength: 4, maxLength: 4 }),
        fc.array(fc.oneof(fc.constantFrom(...kinds), fc.integer({ min: 0, max: 10_000 })), { maxLength: 200 }),
        ([ramNs, readNs, writeNs, exitNs], steps) => {
          const { clock, counts } = clockWithCounts(ramNs!, readNs, writeNs, exitNs);
          let c = costs(ramNs!, readNs, writeNs, exitNs);
          let eager = 0;
          for (const s of steps) {
            if (s === 'ramRead' || s === 'ramWrite') {
              if (s === 'ramRead') counts.ramReads++;
              else counts.ramWrites++;
              eager += c.ramNs;
            } else if (s === 'directRead') {
              counts.directReads++;
              eager += c.directReadNs;
            } else if (s === 'directWrite') {
              counts.directWrites++;
              eager += c.directWriteNs;
            } else if (s === 'trapRead' || s === 'trapWrite') {
              if (s === 'trapRead') counts.trapReads++;
              else counts.trapWrites++;
              eager += c.trapExitNs;
            } else if (s === 'look')
              expect(clock.now).toBe(eager); // reading in between changes nothing
            else if (s === 'recost') {
              // new costs apply from here on: accesses before are charged at the old ones
              c = costs(c.directWriteNs, c.trapExitNs, c.directReadNs + 1, c.ramNs);
              clock.setCountedAccessCosts(c);
            } else {
              clock.add(s);
              eager += s;
            }
          }
          expect(clock.now).toBe(eager);
        },
      ),
    );
  });

  it('property: with fractional costs the time differs from per-access charging by rounding only', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 5000, noNaN: true }), { minLength: 5, maxLength: 5 }),
        fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 2000 }),
        ([ramNs, readNs, writeNs, exitNs, addNs], steps) => {
          const { clock, counts } = clockWithCounts(ramNs!, readNs, writeNs, exitNs);
          let eager = 0;
          for (const s of steps) {
            if (s === 0) counts.ramReads++, (eager += ramNs!);
            else if (s === 1) counts.directReads++, (eager += readNs!);
            else if (s === 2) counts.directWrites++, (eager += writeNs!);
            else if (s === 3) counts.trapWrites++, (eager += exitNs!);
            else if (s === 4) clock.add(addNs!), (eager += addNs!);
            else expect(Math.abs(clock.now - eager)).toBeLessThanOrEqual(Math.max(1, eager) * 1e-12);
          }
          expect(Math.abs(clock.now - eager)).toBeLessThanOrEqual(Math.max(1, eager) * 1e-12);
        },
      ),
    );
  });

  it('refuses a cost that is not a finite number of nanoseconds >= 0, naming it, and keeps the old ones', () => {
    const { clock, counts } = clockWithCounts(1, 2, 3);
    expect(() => clock.setCountedAccessCosts(costs(1, Number.NaN, 3))).toThrow(/directReadNs is NaN/);
    expect(() => clock.setCountedAccessCosts(costs(-1, 2, 3))).toThrow(/ramNs is -1/);
    counts.directWrites = 2;
    expect(clock.now).toBe(6);
  });
});
