import { describe, expect, it } from 'vitest';
import { HostResources } from './host-resources.js';
import type { HostOwner } from './pci-function.js';
import type { HostBridgePolicy } from './platform-policy.js';

const SEG = 0x10000;
const BASE = 0x8000_0000;

/** Two functions: `a` in group g0, `b` in g1; segments of SEG bytes, the first owned by g0, the second by g1, the rest unowned. */
function setup(withSegments = true) {
  const groups: Record<string, string> = { a: 'g0', b: 'g1' };
  const segmentOwner = (i: number) => (i === 0 ? 'g0' : i === 1 ? 'g1' : undefined);
  const policy: HostBridgePolicy = withSegments
    ? {
        segmentsIn: (base, size) => {
          const out: HostOwner[] = [];
          for (let i = Math.floor((base - BASE) / SEG); BASE + i * SEG < base + size; i++) {
            const group = segmentOwner(i);
            out.push({ kind: 'segment', owner: group ?? 'unowned', group, base: BASE + i * SEG, size: SEG });
          }
          return out;
        },
      }
    : {};
  const r = new HostResources('hb', 'ignore', policy, (n) => groups[n]);
  const handler = { read: () => 0, write: () => {} };
  r.space.mapMmio({ name: 'a:BAR0', base: BASE, size: 0x4000, handler, owner: 'a', tag: 0 });
  r.space.mapMmio({ name: 'b:BAR0', base: BASE + SEG, size: 0x4000, handler, owner: 'b', tag: 0 });
  return r;
}

describe('HostResources: the isolation rule (foreignOwners)', () => {
  it("finds nothing foreign in a page holding only the claimant's own BAR inside its group's segment", () => {
    expect(setup().foreignOwners(BASE, SEG, { name: 'a', group: 'g0' })).toEqual([]);
  });

  it("names another function's BAR and another group's segment", () => {
    const foreign = setup().foreignOwners(BASE, 2 * SEG, { name: 'a', group: 'g0' });
    expect(foreign.map((o) => [o.kind, o.owner])).toEqual([
      ['bar', 'b'],
      ['segment', 'g1'],
    ]);
  });

  it('counts a BAR of the same group but another function as foreign, and an unowned segment too', () => {
    const r = setup(false);
    expect(r.foreignOwners(BASE, SEG, { name: 'c', group: 'g0' }).map((o) => o.owner)).toEqual(['a']);
    expect(setup().foreignOwners(BASE + 2 * SEG, 4, { name: 'a', group: 'g0' })).toMatchObject([{ kind: 'segment', owner: 'unowned' }]);
  });

  it("treats another function's reservation as foreign and the claimant's own as its", () => {
    const r = setup(false);
    expect(r.claim('rb', 'b', BASE + 0x8000, 0x1000)).toBe(true);
    expect(r.foreignOwners(BASE, SEG, { name: 'a', group: 'g0' })).toMatchObject([{ kind: 'reservation', owner: 'b' }]);
    expect(r.foreignOwners(BASE + 0x8000, 0x1000, { name: 'b', group: 'g1' })).toEqual([]);
  });
});

describe('HostResources: claims (request_resource)', () => {
  it("refuses a range holding any BAR, the claimant's own included", () => {
    const r = setup();
    expect(r.claim('x', 'a', BASE + 0x3000, 0x2000)).toBe(false);
    expect(r.claim('x', 'a', BASE + 0x4000, 0xc000)).toBe(true);
  });

  it("refuses a range reaching into another group's segment, and lets an unknown owner take only unowned segments", () => {
    const r = setup();
    expect(r.claim('x', 'a', BASE + SEG + 0x8000, 0x1000)).toBe(false);
    expect(r.claim('y', 'nobody', BASE + 0x8000, 0x1000)).toBe(false);
    expect(r.claim('y', 'nobody', BASE + 2 * SEG, 0x1000)).toBe(true);
  });

  it('refuses an empty range and any overlap with a reservation, and frees the range on release', () => {
    const r = setup(false);
    expect(r.claim('e', 'a', BASE + 0x8000, 0)).toBe(false);
    expect(r.claim('r', 'a', BASE + 0x8000, 0x1000)).toBe(true);
    expect(r.claim('r2', 'a', BASE + 0x8fff, 1)).toBe(false);
    r.release('r');
    expect(r.reservationList).toEqual([]);
    expect(r.claim('r2', 'a', BASE + 0x8fff, 1)).toBe(true);
  });
});

describe('HostResources: host MMIO', () => {
  it('hands an access no BAR decodes to the platform, with its reason, after the policy answered it', () => {
    const seen: string[] = [];
    const r = new HostResources(
      'hb',
      'ignore',
      { unassignedAccess: (addr, _s, w, why) => seen.push(`${addr.toString(16)} ${w} ${why}`) },
      () => undefined,
    );
    expect(r.space.read(BASE, 4)).toBe(0xffffffff);
    expect(seen).toEqual(['80000000 false no-region']);
  });
});
