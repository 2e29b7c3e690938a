import { VMM_IDS, type VmmId, type VmmTraits } from './policy.js';

/**
 * The comparison of the five VMMs, one row per rule and one column per VMM (in `VMM_IDS`
 * order), as packages/vmm/VMM-POLICIES.md section 6 gives it: each policy's `traits`, and
 * what `explain` and the README print.
 */
const ROWS: Record<keyof VmmTraits, readonly [string, string, string, string, string]> = {
  sparse: [
    'used as given',
    'used as given (first of SPARSE_MMAP/MSIX_MAPPABLE in chain order); an MSI-X BAR without MSIX_MAPPABLE is not mapped',
    'used as given; marks the BAR MSI-X mappable (no holes)',
    'ignored (capabilities never read)',
    'checked (inside the BAR, whole pages; else rejected), then used as given',
  ],
  msixMappable: [
    'whole BAR mmapped, table still emulated on top (its pages exit)',
    'own holes around table and PBA',
    'whole BAR mapped, table page included, emulation bypassed',
    'ignored',
    'own holes around table and PBA',
  ],
  holes: [
    'table only, [down(to), up(to+16n)), in a single whole-BAR mmap',
    'table and PBA, [down(o), down(o)+up(len)) (may miss the last page); holes past the BAR skipped',
    'only without capabilities: table and PBA rounded out to host pages, per mmap area',
    'none: an MSI-X BAR is never mapped',
    'table and PBA, [down(o), up(o+len)), merged when they start on one page; past the BAR: rejected',
  ],
  pba: [
    'hardware (mapped or fd)',
    'fd (never emulated); dropped once relocated past the physical BAR',
    'emulated when trapped',
    'read from the device through the fd, writes ignored',
    'emulated',
  ],
  relocation: [
    'x-msix-relocation (off by default)',
    'automatic for 64-bit BARs whose table is not page aligned: BAR doubled, table at the middle',
    'none',
    'table always moved to offset 0 of its BAR',
    'none',
  ],
  subPage: [
    'grown to one page when the guest BAR is page aligned and its page free',
    'area at offset 0 expanded to one page; elsewhere: rejected',
    'KVM slot size rounded up to a host page',
    'KVM slot rounded up to a page when the guest address is page aligned',
    'not supported: KVM refuses a slot that is not whole pages (device fails)',
  ],
  unalignedGuestBar: [
    'partial pages exit, served from QEMU mmap',
    'KVM refuses the slot: device fails',
    'KVM refuses the slot; the BAR traps (fd)',
    'whole BAR traps (fd)',
    'cannot happen (Firecracker aligns BARs to max(page, size))',
  ],
  rejects: [
    'PBA outside its BAR; table and PBA overlapping or past their BARs',
    'MSIX_MAPPABLE BAR not 4 KiB aligned or sized; sub-page area off offset 0; slots KVM refuses',
    'nothing (an overlapping PBA clips the table)',
    'table (moved to 0) overlapping the PBA; PBA past its BAR; BARs not a power of two',
    'no MSI-X; table or PBA hole past its BAR; sparse areas out of range; slots not whole pages',
  ],
};

/** The comparison rows of one built-in VMM. */
export function vmmTraits(id: VmmId): VmmTraits {
  const col = VMM_IDS.indexOf(id);
  const out = {} as Record<keyof VmmTraits, string>;
  for (const [row, cells] of Object.entries(ROWS) as Array<[keyof VmmTraits, readonly string[]]>) out[row] = cells[col]!;
  return out;
}
