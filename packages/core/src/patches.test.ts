import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VhwError } from './errors.js';
import {
  ALL_PATCHES,
  NO_PATCHES,
  PATCHES,
  type PatchSet,
  allPatchCombinations,
  findPatch,
  parsePatchList,
  parseVariant,
  patchDoc,
  patchListOf,
  patchShortLabel,
} from './patches.js';

const set = (alignBars: boolean, subPageMmap: boolean, msixMmap: boolean): PatchSet => ({ alignBars, subPageMmap, msixMmap });

function errorOf(fn: () => unknown): VhwError {
  try {
    fn();
  } catch (e) {
    if (VhwError.is(e)) return e;
    throw e;
  }
  throw new Error('expected a VhwError');
}

describe('the patch vocabulary', () => {
  it('names the series in order with ids, short names and keys', () => {
    expect(PATCHES.map((p) => [p.short, p.id, p.key])).toEqual([
      ['P1', 'align-bars', 'alignBars'],
      ['P2', 'subpage-mmap', 'subPageMmap'],
      ['P3', 'msix-mmap', 'msixMmap'],
    ]);
  });

  it('parses ids, short names in either case, keys, none and all', () => {
    expect(parsePatchList('none')).toEqual(set(false, false, false));
    expect(parsePatchList('all')).toEqual(set(true, true, true));
    expect(parsePatchList('align-bars,msix-mmap')).toEqual(set(true, false, true));
    expect(parsePatchList('P1,P2')).toEqual(set(true, true, false));
    expect(parsePatchList(' p3 , subpage-mmap ')).toEqual(set(false, true, true));
    expect(parsePatchList('alignBars')).toEqual(set(true, false, false));
    expect(findPatch('P4')).toBeUndefined();
  });

  it('refuses an unknown patch naming the field and every allowed name', () => {
    const e = errorOf(() => parsePatchList('align-bars,P4', '--patches'));
    expect(e.code).toBe('E_CONFIG');
    expect(e.message).toContain('--patches');
    expect(e.message).toContain('"P4"');
    for (const p of PATCHES) {
      expect(e.message).toContain(p.id);
      expect(e.message).toContain(p.short);
    }
    expect(errorOf(() => parseVariant('rfc', 'variant')).message).toMatch(/variant "rfc"; allowed: rfc-2015, upstream/);
  });

  it('does not let a caller change the shared none/all sets', () => {
    const p = parsePatchList('none');
    p.alignBars = true;
    expect(NO_PATCHES.alignBars).toBe(false);
    expect(Object.isFrozen(ALL_PATCHES)).toBe(true);
  });

  it('lists the eight combinations once each, none first and all last', () => {
    const all = allPatchCombinations();
    expect(all).toHaveLength(8);
    expect(new Set(all.map(patchShortLabel)).size).toBe(8);
    expect(all[0]).toEqual(NO_PATCHES);
    expect(all[7]).toEqual(ALL_PATCHES);
    expect(patchShortLabel(set(true, false, true))).toBe('P1+P3');
    expect(patchShortLabel(NO_PATCHES)).toBe('none');
  });

  it('prints a set as the list that parses back to it (property)', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), fc.boolean(), (a, b, c) => {
        const s = set(a, b, c);
        expect(parsePatchList(patchListOf(s))).toEqual(s);
      }),
      { verbose: true },
    );
  });

  it('describes a patch option with its short name, id and title', () => {
    expect(patchDoc('subPageMmap')).toBe(`P2 (subpage-mmap): ${PATCHES[1].title}`);
  });
});
