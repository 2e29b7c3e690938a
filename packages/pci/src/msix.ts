import { VhwError } from '@vhw/core';

/** Bytes per MSI-X table entry: address low, address high, data, vector control. */
export const MSIX_ENTRY_SIZE = 16;
export const VectorControl = { Masked: 1 } as const;

/** Where an MSI goes: a memory write of `data` to `address` on the platform's interrupt controller. */
export type MsiSink = (addressLo: number, addressHi: number, data: number) => void;

/**
 * The MSI-X table and PBA of one function. Entries start masked; a vector raised while
 * masked (by its entry or by the function mask) sets its pending bit and is sent when
 * unmasked, as the PCI spec requires. Disabled MSI-X drops the interrupt and counts it.
 */
export class MsixTable {
  readonly vectors: number;
  private readonly table: Uint32Array;
  private readonly pba: Uint32Array;
  enabled = false;
  functionMasked = false;
  sink: MsiSink | undefined;
  /** Interrupts raised while MSI-X was disabled (nowhere to send them). */
  droppedWhileDisabled = 0;
  sent = 0;

  constructor(vectors: number) {
    this.vectors = vectors;
    this.table = new Uint32Array(vectors * 4);
    // PBA is an array of QWORDs.
    this.pba = new Uint32Array(Math.ceil(vectors / 64) * 2);
    this.reset();
  }

  get tableSize(): number {
    return this.vectors * MSIX_ENTRY_SIZE;
  }

  get pbaSize(): number {
    return this.pba.length * 4;
  }

  reset(): void {
    this.table.fill(0);
    for (let v = 0; v < this.vectors; v++) this.table[v * 4 + 3] = VectorControl.Masked;
    this.pba.fill(0);
    this.enabled = false;
    this.functionMasked = false;
  }

  entry(v: number): { addressLo: number; addressHi: number; data: number; masked: boolean } {
    if (!Number.isInteger(v) || v < 0 || v >= this.vectors) {
      throw new VhwError('E_RANGE', `MSI-X: no vector ${v}; the table has vectors 0..${this.vectors - 1}`);
    }
    return {
      addressLo: this.table[v * 4]!,
      addressHi: this.table[v * 4 + 1]!,
      data: this.table[v * 4 + 2]!,
      masked: (this.table[v * 4 + 3]! & VectorControl.Masked) !== 0,
    };
  }

  isPending(v: number): boolean {
    return (this.pba[v >>> 5]! & (1 << (v & 31))) !== 0;
  }

  /** Table register read at a byte offset within the table (dword granular). */
  readTable(offset: number, size: 1 | 2 | 4): number {
    const i = offset >>> 2;
    if (i >= this.table.length) return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
    const v = this.table[i]! >>> ((offset & 3) * 8);
    return size === 4 ? v >>> 0 : v & ((1 << (size * 8)) - 1);
  }

  writeTable(offset: number, size: 1 | 2 | 4, value: number): void {
    const i = offset >>> 2;
    if (i >= this.table.length) return;
    const shift = (offset & 3) * 8;
    const m = size === 4 ? 0xffffffff : ((1 << (size * 8)) - 1) << shift;
    const old = this.table[i]!;
    let next = ((old & ~m) | ((value << shift) & m)) >>> 0;
    if ((i & 3) === 3) next &= VectorControl.Masked; // only the mask bit is defined
    this.table[i] = next;
    if ((i & 3) === 3 && (old & VectorControl.Masked) !== 0 && (next & VectorControl.Masked) === 0) {
      this.deliverIfPending(i >>> 2);
    }
  }

  readPba(offset: number, size: 1 | 2 | 4): number {
    const i = offset >>> 2;
    if (i >= this.pba.length) return 0;
    const v = this.pba[i]! >>> ((offset & 3) * 8);
    return size === 4 ? v >>> 0 : v & ((1 << (size * 8)) - 1);
  }

  /** PBA is read-only; writes are ignored (PCI spec). */
  writePba(): void {}

  /** Updates enable / function mask from the capability's message control. */
  setControl(enabled: boolean, functionMasked: boolean): void {
    const wasBlocked = !this.enabled || this.functionMasked;
    this.enabled = enabled;
    this.functionMasked = functionMasked;
    if (wasBlocked && enabled && !functionMasked) {
      for (let v = 0; v < this.vectors; v++) this.deliverIfPending(v);
    }
  }

  /** The device raises vector `v`. */
  raise(v: number): void {
    if (v < 0 || v >= this.vectors) return;
    if (!this.enabled) {
      this.droppedWhileDisabled++;
      return;
    }
    if (this.functionMasked || (this.table[v * 4 + 3]! & VectorControl.Masked) !== 0) {
      this.pba[v >>> 5]! |= 1 << (v & 31);
      return;
    }
    this.send(v);
  }

  private deliverIfPending(v: number): void {
    if (!this.enabled || this.functionMasked) return;
    if ((this.table[v * 4 + 3]! & VectorControl.Masked) !== 0) return;
    if (!this.isPending(v)) return;
    this.pba[v >>> 5]! &= ~(1 << (v & 31));
    this.send(v);
  }

  private send(v: number): void {
    this.sent++;
    if (this.sink) this.sink(this.table[v * 4]!, this.table[v * 4 + 1]!, this.table[v * 4 + 2]!);
  }
}
