import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SimClock } from './clock.js';

describe('SimClock', () => {
  it('charges counted RAM accesses when `now` is read, at the RAM access cost', () => {
    const clock = new SimClock();
    clock.setRamAccessNs(3);
    clock.now += 10;
    clock.unchargedRamReads += 2;
    clock.unchargedRamWrites += 1;
    expect(clock.now).toBe(19);
    expect(clock.unchargedRamReads + clock.unchargedRamWrites).toBe(0);
    expect(clock.now).toBe(19); // charged once
  });

  it('`now += ns` keeps the RAM accesses before it; a plain set replaces the time', () => {
    const clock = new SimClock();
    clock.setRamAccessNs(2);
    clock.unchargedRamReads = 5;
    clock.now += 1;
    expect(clock.now).toBe(11);
    clock.unchargedRamWrites = 4;
    clock.now = 100;
    expect(clock.now).toBe(100);
  });

  it('a new RAM cost applies from then on: accesses made before are charged at the old one', () => {
    const clock = new SimClock();
    clock.setRamAccessNs(1);
    clock.unchargedRamReads = 10;
    clock.setRamAccessNs(100);
    clock.unchargedRamReads = 1;
    expect(clock.now).toBe(110);
  });

  it('reset drops the time and the uncharged accesses', () => {
    const clock = new SimClock();
    clock.setRamAccessNs(1);
    clock.now = 5;
    clock.unchargedRamWrites = 3;
    clock.reset();
    expect(clock.now).toBe(0);
  });

  it('property: counting then charging equals adding the cost per access, for integer costs', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), fc.array(fc.oneof(fc.constant('ram' as const), fc.integer({ min: 0, max: 10_000 })), { maxLength: 200 }), (ramNs, steps) => {
        const lazy = new SimClock();
        lazy.setRamAccessNs(ramNs);
        let eager = 0;
        for (const s of steps) {
          if (s === 'ram') {
            lazy.unchargedRamReads++;
            eager += ramNs;
          } else {
            lazy.now += s;
            eager += s;
          }
          if (steps.length % 7 === 0) expect(lazy.now).toBe(eager); // reading in between changes nothing
        }
        expect(lazy.now).toBe(eager);
      }),
    );
  });
});
