/**
 * QEMU's MSI-X relocation rules (hw/vfio/pci.c, vfio_pci_relocate_msix()), each test named
 * after the behaviour of the source it checks, and vhw's own rule for `auto`.
 */
import { describe, expect, it } from 'vitest';
import { VhwError } from '@vhw/core';
import { type RelocationBarSlot, autoRelocationBar, msixRelocationSize, relocateMsix, relocationRefusal } from './msix-relocation.js';

const K = 1024;
const none: RelocationBarSlot = { size: 0, is64: false, io: false };
const mem = (size: number, is64 = false): RelocationBarSlot => ({ size, is64, io: false });
const io = (size: number): RelocationBarSlot => ({ size, is64: false, io: true });
/** Six slots: the given ones, the rest unimplemented. */
const slots = (...given: RelocationBarSlot[]): RelocationBarSlot[] => [...given, ...Array(6 - given.length).fill(none)];

const relocate = (
  mode: Parameters<typeof relocateMsix>[0]['mode'],
  bars: RelocationBarSlot[],
  vectors = 32,
  tableBar = 0,
  pageSize = 64 * K,
) => relocateMsix({ mode, pageSize, device: 'd0', bars, msix: { vectors, tableBar } });

describe('msixRelocationSize (table + PBA, whole host pages, then a power of two)', () => {
  it('counts 16 bytes per vector and the PBA in whole 64-bit words', () => {
    // 32 vectors: 512 + 8 bytes, one 4 KiB page.
    expect(msixRelocationSize(32, 4 * K)).toBe(4 * K);
    // 256 vectors: 4096 + 32 bytes spill into a second 4 KiB page.
    expect(msixRelocationSize(256, 4 * K)).toBe(8 * K);
  });

  it('rounds to whole host pages before the power of two', () => {
    expect(msixRelocationSize(1, 64 * K)).toBe(64 * K);
    expect(msixRelocationSize(1, 16 * K)).toBe(16 * K);
    // 2048 vectors: 32 KiB + 256 bytes: three 16 KiB pages, then the power of two: 64 KiB.
    expect(msixRelocationSize(2048, 16 * K)).toBe(64 * K);
  });
});

describe('relocateMsix (vfio_pci_relocate_msix)', () => {
  it('does nothing when off, or when the device has no MSI-X', () => {
    expect(relocate('off', slots(mem(16 * K)))).toBeUndefined();
    expect(relocateMsix({ mode: 'auto', pageSize: 4096, device: 'd', bars: slots(mem(16 * K)), msix: undefined })).toBeUndefined();
  });

  it('an unused BAR becomes a new BAR of the relocated size with the table at 0 and the PBA after it', () => {
    const r = relocate('bar2', slots(mem(16 * K)), 32)!;
    expect(r).toMatchObject({ bar: 2, added: true, guestSize: 64 * K, deviceSize: 0, tableOffset: 0, pbaOffset: 32 * 16 });
  });

  it('a new BAR is 64-bit when the slot after it is unused too, 32-bit otherwise', () => {
    expect(relocate('bar2', slots(mem(16 * K)))!.is64).toBe(true);
    expect(relocate('bar2', slots(mem(16 * K), none, none, mem(4 * K)))!.is64).toBe(false);
    // BAR5 has no slot after it.
    expect(relocate('bar5', slots(mem(16 * K)))!.is64).toBe(false);
  });

  it('an existing BAR is doubled (at least to twice the relocated size) and the table starts at its middle', () => {
    const big = relocate('bar0', slots(mem(1024 * K)))!;
    expect(big).toMatchObject({ bar: 0, added: false, guestSize: 2048 * K, deviceSize: 1024 * K, tableOffset: 1024 * K });
    const small = relocate('bar0', slots(mem(16 * K)), 32, 0, 64 * K)!;
    expect(small).toMatchObject({ guestSize: 128 * K, deviceSize: 16 * K, tableOffset: 64 * K, pbaOffset: 64 * K + 512 });
  });

  it('refuses an I/O port BAR', () => {
    expect(() => relocate('bar1', slots(mem(16 * K), io(256)))).toThrow(/BAR1 is an I\/O port BAR/);
  });

  it('refuses the slot in the shadow of a 64-bit BAR', () => {
    expect(() => relocate('bar1', slots(mem(16 * K, true)))).toThrow(/consumed by 64-bit BAR0/);
  });

  it('refuses to double a 32-bit BAR above 1 GiB, but doubles a 64-bit one', () => {
    expect(() => relocate('bar0', slots(mem(2 * 1024 * 1024 * K)))).toThrow(/no space to extend 32-bit BAR0/);
    expect(relocate('bar0', slots(mem(2 * 1024 * 1024 * K, true)))!.guestSize).toBe(4 * 1024 * 1024 * K);
    // Exactly 1 GiB may still double.
    expect(relocate('bar0', slots(mem(1024 * 1024 * K)))!.guestSize).toBe(2 * 1024 * 1024 * K);
  });

  it('names the BARs that are allowed in a refusal, as an E_CONFIG error', () => {
    try {
      relocate('bar1', slots(mem(16 * K, true), none, io(256)));
      expect.unreachable();
    } catch (e) {
      expect(VhwError.is(e, 'E_CONFIG')).toBe(true);
      expect((e as Error).message).toMatch(/allowed: off, auto, bar0, bar3, bar4, bar5$/);
    }
  });
});

describe("vhw's auto rule (QEMU refuses auto: its lookup table is empty)", () => {
  it('takes the first unused slot QEMU accepts', () => {
    // BAR1 is in BAR0's shadow, BAR2 is I/O: BAR3 is the first free acceptable slot.
    expect(autoRelocationBar(slots(mem(16 * K, true), none, io(256)), 0)).toBe(3);
  });

  it('without a free slot doubles the BAR that holds the table', () => {
    const full = [mem(16 * K), mem(16 * K), mem(16 * K), mem(16 * K), mem(16 * K), mem(16 * K)];
    expect(autoRelocationBar(full, 3)).toBe(3);
    expect(relocate('auto', full, 32, 3)).toMatchObject({ bar: 3, added: false, auto: true });
  });

  it('falls back to the first memory BAR QEMU accepts when the table BAR cannot be doubled', () => {
    const full = [io(256), mem(2 * 1024 * 1024 * K), mem(16 * K), mem(16 * K), mem(16 * K), mem(16 * K)];
    expect(autoRelocationBar(full, 1)).toBe(2);
  });

  it('fails with E_CONFIG when no BAR is acceptable', () => {
    const full = [io(256), io(256), io(256), io(256), io(256), io(256)];
    expect(autoRelocationBar(full, 0)).toBeUndefined();
    expect(() => relocate('auto', full)).toThrow(/no BAR can hold the relocated MSI-X table/);
  });

  it('refusals are exactly QEMU three checks', () => {
    const b = slots(mem(16 * K, true), none, io(256), mem(2 ** 31));
    expect([0, 1, 2, 3, 4, 5].map((i) => relocationRefusal(b, i) !== undefined)).toEqual([false, true, true, true, false, false]);
  });
});
