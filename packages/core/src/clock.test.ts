import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SimClock } from './clock.js';

/** A stand-in for the guest CPU's monotonic RAM access counts. */
function clockWithCounts(ramNs: number) {
  const counts = { ramReads: 0, ramWrites: 0 };
  const clock = new SimClock();
  clock.countRamAccessesOf(counts);
  clock.setRamAccessNs(ramNs);
  return { clock, counts };
}

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
    clock.setRamAccessNs(100);
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
    clock.setRamAccessNs(5);
    clock.add(2);
    clock.advance(3);
    expect(clock.now).toBe(5);
  });

  it('refuses a second guest CPU: its RAM accesses would go uncharged', () => {
    const { clock, counts } = clockWithCounts(1);
    clock.countRamAccessesOf(counts); // the same one again is fine
    expect(() => clock.countRamAccessesOf({ ramReads: 0, ramWrites: 0 })).toThrow(/one guest CPU per machine/);
  });

  it('property: counting then charging equals adding the cost per access, for integer costs', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1000 }),
        fc.array(fc.oneof(fc.constant('read' as const), fc.constant('write' as const), fc.constant('look' as const), fc.integer({ min: 0, max: 10_000 })), { maxLength: 200 }),
        (ramNs, steps) => {
          const { clock, counts } = clockWithCounts(ramNs);
          let eager = 0;
          for (const s of steps) {
            if (s === 'read' || s === 'write') {
              if (s === 'read') counts.ramReads++;
              else counts.ramWrites++;
              eager += ramNs;
            } else if (s === 'look') expect(clock.now).toBe(eager); // reading in between changes nothing
            else {
              clock.add(s);
              eager += s;
            }
          }
          expect(clock.now).toBe(eager);
        },
      ),
    );
  });
});
