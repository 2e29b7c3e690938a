import { MsixTable } from '@vhw/pci';

/**
 * The VMM's emulated MSI-X table and PBA for one passed-through function (QEMU's
 * msix.c overlay). It is the PCI MSI-X model itself, with its messages sent to the
 * guest: a host vector's trigger fires the emulated entry, pending while the guest
 * masks it, and delivered as the guest vector the guest wrote as data.
 */
export class MsixEmulator {
  readonly model: MsixTable;
  /** Messages not sent because their address is not the guest's MSI doorbell. */
  badAddress = 0;
  /** Bytes of the table (16 per vector). */
  private readonly tableBytes: number;
  /** Bytes of the PBA (one bit per vector, whole 64-bit words). */
  private readonly pbaBytes: number;

  /**
   * @param vectors the table's entries.
   * @param guestMsiAddress the guest's MSI doorbell: messages elsewhere are dropped.
   * @param inject raises a guest vector.
   * @param relocated whether the VMM relocated the table (`x-msix-relocation`): then the
   *   region that serves the table also serves what follows it in the relocated space, the
   *   PBA right after the table and padding that reads 0 and ignores writes.
   */
  constructor(
    readonly vectors: number,
    private readonly guestMsiAddress: number,
    inject: (guestVector: number) => void,
    private readonly relocated = false,
  ) {
    this.tableBytes = vectors * 16;
    this.pbaBytes = Math.ceil(vectors / 64) * 8;
    this.model = new MsixTable(vectors);
    this.model.sink = (lo, hi, data) => {
      if (hi * 2 ** 32 + lo !== this.guestMsiAddress) this.badAddress++;
      else inject(data);
    };
  }

  /** Triggers dropped: MSI-X disabled, or a message to an address other than the guest doorbell. */
  get dropped(): number {
    return this.model.droppedWhileDisabled + this.badAddress;
  }

  reset(): void {
    this.model.reset();
  }

  /**
   * A read at `offset` from the start of the table. In a relocated space an offset past the
   * table reads the PBA that follows it, and anything else (before the table in an enlarged
   * BAR, or past the PBA) reads 0.
   */
  readTable(offset: number, size: 1 | 2 | 4): number {
    if (this.relocated && (offset < 0 || offset >= this.tableBytes)) {
      const pba = offset - this.tableBytes;
      return pba >= 0 && pba < this.pbaBytes ? this.model.readPba(pba, size) : 0;
    }
    return this.model.readTable(offset, size);
  }

  /** A write at `offset` from the start of the table; in a relocated space, writes past the table are dropped (the PBA is read-only). */
  writeTable(offset: number, size: 1 | 2 | 4, value: number): void {
    if (this.relocated && (offset < 0 || offset >= this.tableBytes)) return;
    this.model.writeTable(offset, size, value);
  }

  readPba(offset: number, size: 1 | 2 | 4): number {
    return this.model.readPba(offset, size);
  }

  setControl(enabled: boolean, functionMasked: boolean): void {
    this.model.setControl(enabled, functionMasked);
  }

  /** A host vector fired (the irqfd of vector `v`). */
  fire(v: number): void {
    this.model.raise(v);
  }
}
