import { VhwError, hex } from '@vhw/core';

/**
 * QEMU's `x-msix-relocation` property of vfio-pci (an OffAutoPCIBAR value): leave the MSI-X
 * table and PBA where the device has them (`off`), let the VMM choose a BAR (`auto`), or put
 * them in BAR 0 to 5. Relocation moves only the VMM's emulated table; the device keeps its own.
 */
export const MSIX_RELOCATION_MODES = ['off', 'auto', 'bar0', 'bar1', 'bar2', 'bar3', 'bar4', 'bar5'] as const;
/** One `x-msix-relocation` value. */
export type MsixRelocationMode = (typeof MSIX_RELOCATION_MODES)[number];

/** The VMM options of MSI-X relocation (part of the VMM plugin's options). */
export interface MsixRelocationOptions {
  /** QEMU's `x-msix-relocation` for every passed-through function; `off` when absent. */
  msixRelocation?: MsixRelocationMode;
}

/** Bytes of one MSI-X table entry (PCI_MSIX_ENTRY_SIZE). */
const ENTRY_BYTES = 16;
/** QEMU caps a 32-bit BAR it doubles at 1 GiB (the result must stay within 2 GiB). */
const MAX_DOUBLED_32BIT = 2 ** 30;

/**
 * The reasons MSI-X relocation adds to a BAR's areas. They are kept apart from `VmmReason`
 * so that runs without relocation list exactly the reasons they always did.
 */
export const MsixRelocationReason = {
  /**
   * The space the VMM added to a BAR for a relocated MSI-X table, outside the table: the PBA
   * and the padding up to a power of two. Emulated by the VMM, never backed by the device.
   */
  Relocated: 'msix-relocated',
  /**
   * Device registers that share a guest page with the space the VMM added for a relocated
   * table: the BAR was doubled, so its device part (smaller than a page) no longer fills a
   * page of its own and the whole page traps.
   */
  RelocatedPage: 'msix-relocation-page',
} as const;
/** One of the reasons MSI-X relocation adds. */
export type MsixRelocationReason = (typeof MsixRelocationReason)[keyof typeof MsixRelocationReason];

/** For each relocation reason: which setting would change it (`vhw explain` prints it). */
export const MSIX_RELOCATION_REMEDY: Readonly<Record<MsixRelocationReason, string>> = {
  [MsixRelocationReason.Relocated]: 'none needed: the guest does not use this space for device registers',
  [MsixRelocationReason.RelocatedPage]: 'relocate to a free BAR slot (--msix-relocation barN) or to a BAR of at least a page',
};

/** One BAR slot of a function as vfio reports it, the input of the relocation rules. */
export interface RelocationBarSlot {
  /** Bytes; 0 for an unimplemented BAR or the upper half of a 64-bit BAR. */
  readonly size: number;
  /** A 64-bit memory BAR (it consumes the next slot too). */
  readonly is64: boolean;
  /** An I/O port BAR. */
  readonly io: boolean;
}

/** What relocation decides for one function. */
export interface MsixRelocation {
  /** The BAR that holds the emulated table and PBA. */
  readonly bar: number;
  /** Whether the BAR is new (an unused slot) rather than an existing BAR enlarged. */
  readonly added: boolean;
  /** The BAR's size as the guest sees it. */
  readonly guestSize: number;
  /** The bytes of the BAR the device backs (0 for an added BAR): the lower part. */
  readonly deviceSize: number;
  /** Whether the BAR is 64-bit (an added BAR is when the next slot is free too). */
  readonly is64: boolean;
  /** Offset of the emulated table in the BAR: 0 in an added BAR, half the size in an enlarged one. */
  readonly tableOffset: number;
  /** Offset of the emulated PBA: right after the table. */
  readonly pbaOffset: number;
  /** The BAR of the PBA when it is not `bar` (kvmtool keeps a PBA in its own BAR). */
  readonly pbaBar?: number;
  /** Bytes of the relocated MSI-X space (`msixRelocationSize`). */
  readonly msixSize: number;
  /** Whether `auto` chose the BAR by vhw's own rule (QEMU has none, see `autoRelocationBar`). */
  readonly auto: boolean;
}

/**
 * The size of the space QEMU relocates the MSI-X structures into: the table
 * (16 bytes per vector) plus the PBA (one bit per vector, in whole 64-bit words), rounded up
 * to whole host pages (so the space never shares a page) and then to a power of two (a BAR
 * must be one).
 */
export function msixRelocationSize(vectors: number, pageSize: number): number {
  const bytes = vectors * ENTRY_BYTES + Math.ceil(vectors / 64) * 8;
  const pages = Math.ceil(bytes / pageSize) * pageSize;
  return 2 ** Math.ceil(Math.log2(pages));
}

/**
 * Whether slot `i` is the upper half of a 64-bit BAR (QEMU: the BAR "in the shadow" of a
 * 64-bit BAR: unimplemented, and the one before it is 64-bit).
 */
function inShadow(bars: readonly RelocationBarSlot[], i: number): boolean {
  return bars[i]!.size === 0 && i > 0 && bars[i - 1]!.is64 && bars[i - 1]!.size > 0;
}

/**
 * Why BAR `i` cannot hold the relocated MSI-X structures (QEMU's refusals in
 * `vfio_pci_relocate_msix()`), or undefined when it can: an I/O port BAR; a slot consumed by
 * the 64-bit BAR before it; a 32-bit BAR above 1 GiB, which could not be doubled within 2 GiB.
 */
export function relocationRefusal(bars: readonly RelocationBarSlot[], i: number): string | undefined {
  const b = bars[i]!;
  if (b.io) return `BAR${i} is an I/O port BAR`;
  if (inShadow(bars, i)) return `BAR${i} is consumed by 64-bit BAR${i - 1}`;
  if (b.size > MAX_DOUBLED_32BIT && !b.is64) return `no space to extend 32-bit BAR${i} (${hex(b.size)} bytes)`;
  return undefined;
}

/**
 * vhw's rule for `auto`. QEMU leaves `auto` as a to-do (a lookup table of devices known to
 * work, so far empty) and refuses it; vhw chooses instead: the first unused slot QEMU would
 * accept (a new BAR, which leaves every device BAR as it is), else the BAR that holds the
 * device's table, doubled, else the first memory BAR QEMU would accept, doubled.
 * @returns the chosen BAR, or undefined when no slot is acceptable.
 */
export function autoRelocationBar(bars: readonly RelocationBarSlot[], tableBar: number): number | undefined {
  for (let i = 0; i < bars.length; i++) if (bars[i]!.size === 0 && relocationRefusal(bars, i) === undefined) return i;
  if (bars[tableBar]!.size > 0 && relocationRefusal(bars, tableBar) === undefined) return tableBar;
  for (let i = 0; i < bars.length; i++) if (bars[i]!.size > 0 && relocationRefusal(bars, i) === undefined) return i;
  return undefined;
}

/** The input of `relocateMsix`: one function's BARs and MSI-X capability. */
export interface MsixRelocationInput {
  readonly mode: MsixRelocationMode;
  /** The host page size. */
  readonly pageSize: number;
  /** The function's name, for messages. */
  readonly device: string;
  /** The six BAR slots as vfio reports them. */
  readonly bars: readonly RelocationBarSlot[];
  /** The device's MSI-X capability, if it has one. */
  readonly msix: { readonly vectors: number; readonly tableBar: number } | undefined;
}

/**
 * QEMU's `vfio_pci_relocate_msix()`: where the VMM puts the emulated MSI-X table and PBA.
 * Nothing moves when the mode is `off` or the function has no MSI-X. An unused slot becomes
 * a new BAR of exactly the relocated size (64-bit when the slot after it is unused too,
 * prefetchable), with the table at 0; an existing BAR is doubled (at least to twice the
 * relocated size) and the table goes at its middle, so it starts on a page of its own. The
 * PBA follows the table.
 * @returns the relocation, or undefined when nothing moves.
 * @throws VhwError E_CONFIG when the chosen BAR is one QEMU refuses (I/O port, consumed by a
 *   64-bit BAR, a 32-bit BAR too large to double) or `auto` finds none.
 */
export function relocateMsix(input: MsixRelocationInput): MsixRelocation | undefined {
  const { mode, bars, msix } = input;
  if (mode === 'off' || !msix) return undefined;
  const msixSize = msixRelocationSize(msix.vectors, input.pageSize);
  const auto = mode === 'auto';
  const target = auto ? autoRelocationBar(bars, msix.tableBar) : Number(mode.slice(3));
  if (target === undefined) {
    throw new VhwError('E_CONFIG', `vmm: ${input.device}: no BAR can hold the relocated MSI-X table (msixRelocation auto); allowed: off`);
  }
  const refusal = relocationRefusal(bars, target);
  if (refusal) {
    const ok = MSIX_RELOCATION_MODES.filter(
      (m) => m === 'off' || m === 'auto' || relocationRefusal(bars, Number(m.slice(3))) === undefined,
    );
    throw new VhwError('E_CONFIG', `vmm: ${input.device}: invalid MSI-X relocation BAR${target}: ${refusal}; allowed: ${ok.join(', ')}`);
  }
  const slot = bars[target]!;
  const tableBytes = msix.vectors * ENTRY_BYTES;
  if (slot.size === 0) {
    const is64 = target < bars.length - 1 && bars[target + 1]!.size === 0;
    return { bar: target, added: true, guestSize: msixSize, deviceSize: 0, is64, tableOffset: 0, pbaOffset: tableBytes, msixSize, auto };
  }
  const guestSize = Math.max(slot.size * 2, msixSize * 2);
  const tableOffset = guestSize / 2;
  return {
    bar: target,
    added: false,
    guestSize,
    deviceSize: slot.size,
    is64: slot.is64,
    tableOffset,
    pbaOffset: tableOffset + tableBytes,
    msixSize,
    auto,
  };
}
