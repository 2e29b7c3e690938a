/**
 * The experiment's vocabulary, defined once: the three patches of the series and the two
 * variants of their semantics. The CLI ids (`align-bars`), the short names the tables print
 * (`P1`), the JSON keys and plugin option names (`alignBars`) all come from this table, so a
 * new knob is one new row, not four new names.
 *
 * Core knows no PCI: these are names and a set of toggles. Which layer reads which toggle is
 * the layers' business (patch 1: the platform's BAR allocator; patches 2 and 3: vfio-pci's
 * mmap policy).
 */
import { VhwError } from './errors.js';

/** The three patches of the series, in the series' order. */
export const PATCHES = [
  {
    id: 'align-bars',
    key: 'alignBars',
    short: 'P1',
    title: 'powerpc/pci: Enforce all MMIO BARs to be page aligned',
  },
  {
    id: 'subpage-mmap',
    key: 'subPageMmap',
    short: 'P2',
    title: 'vfio-pci: Allow to mmap sub-page MMIO BARs if all MMIO BARs are page aligned',
  },
  {
    id: 'msix-mmap',
    key: 'msixMmap',
    short: 'P3',
    title: 'vfio-pci: Allow to mmap MSI-X table if EEH is supported',
  },
] as const;

/** One patch as the vocabulary describes it. */
export type PatchInfo = (typeof PATCHES)[number];
/** A patch's stable id, as the CLI takes it: `align-bars`, `subpage-mmap`, `msix-mmap`. */
export type PatchId = PatchInfo['id'];
/** A patch's key, as JSON results and plugin options name it: `alignBars`, ... */
export type PatchKey = PatchInfo['key'];
/** Which of the three patches are on. */
export type PatchSet = { [K in PatchKey]: boolean };

/** The series as posted in 2015 (`rfc-2015`) or as merged upstream later (`upstream`). */
export const VARIANTS = ['rfc-2015', 'upstream'] as const;
/** One of {@link VARIANTS}. */
export type Variant = (typeof VARIANTS)[number];

/** No patch on. */
export const NO_PATCHES: Readonly<PatchSet> = Object.freeze(patchSetOf(() => false));
/** All three patches on. */
export const ALL_PATCHES: Readonly<PatchSet> = Object.freeze(patchSetOf(() => true));

function patchSetOf(on: (p: PatchInfo, i: number) => boolean): PatchSet {
  const out = {} as PatchSet;
  PATCHES.forEach((p, i) => {
    out[p.key] = on(p, i);
  });
  return out;
}

/**
 * The 2^3 combinations, none first and all last (bit i of the index is patch i).
 *
 * @returns eight fresh patch sets.
 * @example
 * allPatchCombinations()[3]; // { alignBars: true, subPageMmap: true, msixMmap: false }
 */
export function allPatchCombinations(): PatchSet[] {
  const out: PatchSet[] = [];
  for (let n = 0; n < 1 << PATCHES.length; n++) out.push(patchSetOf((_, i) => (n & (1 << i)) !== 0));
  return out;
}

/**
 * Finds a patch by its id, its short name (`P1`, case-insensitive) or its key.
 *
 * @param name - `align-bars`, `P1`, `p1` or `alignBars`.
 * @returns the patch, or undefined when the name is none of these.
 */
export function findPatch(name: string): PatchInfo | undefined {
  const n = name.trim();
  return PATCHES.find((p) => p.id === n || p.key === n || p.short.toLowerCase() === n.toLowerCase());
}

/**
 * Parses a patch list: `none`, `all`, or a comma list of ids or short names.
 *
 * @param text - e.g. `align-bars,subpage-mmap` or `P1,P2`.
 * @param field - the option or field the text came from, for the error.
 * @returns a fresh patch set.
 * @throws VhwError E_CONFIG naming the field, the unknown patch and the allowed values.
 * @example
 * parsePatchList('P1,msix-mmap'); // { alignBars: true, subPageMmap: false, msixMmap: true }
 */
export function parsePatchList(text: string, field = '--patches'): PatchSet {
  const t = text.trim();
  if (t === 'none') return { ...NO_PATCHES };
  if (t === 'all') return { ...ALL_PATCHES };
  const out = { ...NO_PATCHES };
  for (const name of t
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    const p = findPatch(name);
    if (!p) {
      throw new VhwError(
        'E_CONFIG',
        `${field}: unknown patch "${name}"; allowed: none, all, or a comma list of ${PATCHES.map((x) => `${x.id} (${x.short})`).join(', ')}`,
      );
    }
    out[p.key] = true;
  }
  return out;
}

/**
 * The patch list a set was parsed from, in ids: `none`, `all`, or `align-bars,msix-mmap`.
 *
 * @param set - the toggles.
 * @returns the text `parsePatchList` turns back into `set`.
 */
export function patchListOf(set: PatchSet): string {
  const ids = PATCHES.filter((p) => set[p.key]).map((p) => p.id);
  return ids.length === 0 ? 'none' : ids.length === PATCHES.length ? 'all' : ids.join(',');
}

/**
 * Short label of a combination, as the tables print it: `none`, `P1`, `P2+P3`, `P1+P2+P3`.
 *
 * @param set - the toggles.
 * @returns the label.
 */
export function patchShortLabel(set: PatchSet): string {
  const on = PATCHES.filter((p) => set[p.key]).map((p) => p.short);
  return on.length === 0 ? 'none' : on.join('+');
}

/**
 * The help line of a plugin option that is a patch toggle: `P2 (subpage-mmap): vfio-pci: ...`.
 *
 * @param key - the option's name, which is the patch's key.
 * @returns the line `vhw list` prints.
 */
export function patchDoc(key: PatchKey): string {
  const p = PATCHES.find((x) => x.key === key) as PatchInfo;
  return `${p.short} (${p.id}): ${p.title}`;
}

/**
 * Checks a variant name.
 *
 * @param text - the name given.
 * @param field - the option or field it came from, for the error.
 * @returns the variant.
 * @throws VhwError E_CONFIG naming the field and the allowed values.
 */
export function parseVariant(text: string, field = '--variant'): Variant {
  const v = VARIANTS.find((x) => x === text);
  if (v === undefined) throw new VhwError('E_CONFIG', `${field} "${text}"; allowed: ${VARIANTS.join(', ')}`);
  return v;
}
