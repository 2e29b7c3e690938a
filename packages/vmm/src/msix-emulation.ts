/**
 * The VMM's emulated MSI-X table and PBA for one passed-through function (QEMU's
 * msix.c overlay): the guest programs messages here; the VMM routes each host vector's
 * trigger to the guest message, holding it pending while the guest masks it.
 */
export class MsixEmulator {
  readonly table: Uint32Array;
  readonly pba: Uint32Array;
  enabled = false;
  functionMasked = false;
  /** Triggers dropped: MSI-X disabled or the entry's address is not the guest's MSI doorbell. */
  dropped = 0;

  constructor(
    readonly vectors: number,
    private readonly guestMsiAddress: number,
    private readonly inject: (guestVector: number) => void,
  ) {
    this.table = new Uint32Array(vectors * 4);
    this.pba = new Uint32Array(Math.ceil(vectors / 64) * 2);
    this.reset();
  }

  reset(): void {
    this.table.fill(0);
    for (let v = 0; v < this.vectors; v++) this.table[v * 4 + 3] = 1;
    this.pba.fill(0);
    this.enabled = false;
    this.functionMasked = false;
  }

  readTable(offset: number, size: 1 | 2 | 4): number {
    const i = offset >>> 2;
    if (i >= this.table.length) return 0xffffffff >>> (32 - size * 8);
    const v = this.table[i] >>> ((offset & 3) * 8);
    return size === 4 ? v >>> 0 : v & ((1 << (size * 8)) - 1);
  }

  writeTable(offset: number, size: 1 | 2 | 4, value: number): void {
    const i = offset >>> 2;
    if (i >= this.table.length) return;
    const shift = (offset & 3) * 8;
    const m = size === 4 ? 0xffffffff : ((1 << (size * 8)) - 1) << shift;
    const old = this.table[i];
    let next = ((old & ~m) | ((value << shift) & m)) >>> 0;
    if ((i & 3) === 3) next &= 1;
    this.table[i] = next;
    if ((i & 3) === 3 && (old & 1) === 1 && (next & 1) === 0) this.flush(i >>> 2);
  }

  readPba(offset: number, size: 1 | 2 | 4): number {
    const i = offset >>> 2;
    if (i >= this.pba.length) return 0;
    const v = this.pba[i] >>> ((offset & 3) * 8);
    return size === 4 ? v >>> 0 : v & ((1 << (size * 8)) - 1);
  }

  setControl(enabled: boolean, functionMasked: boolean): void {
    this.enabled = enabled;
    this.functionMasked = functionMasked;
    if (enabled && !functionMasked) for (let v = 0; v < this.vectors; v++) this.flush(v);
  }

  /** A host vector fired (the irqfd of vector `v`). */
  fire(v: number): void {
    if (!this.enabled) {
      this.dropped++;
      return;
    }
    if (this.functionMasked || (this.table[v * 4 + 3] & 1) !== 0) {
      this.pba[v >>> 5] |= 1 << (v & 31);
      return;
    }
    this.deliver(v);
  }

  private flush(v: number): void {
    if (!this.enabled || this.functionMasked || (this.table[v * 4 + 3] & 1) !== 0) return;
    if ((this.pba[v >>> 5] & (1 << (v & 31))) === 0) return;
    this.pba[v >>> 5] &= ~(1 << (v & 31));
    this.deliver(v);
  }

  private deliver(v: number): void {
    const address = this.table[v * 4 + 1] * 2 ** 32 + this.table[v * 4];
    if (address !== this.guestMsiAddress) {
      this.dropped++;
      return;
    }
    this.inject(this.table[v * 4 + 2]);
  }
}
