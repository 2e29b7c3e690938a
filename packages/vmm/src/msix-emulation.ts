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

  constructor(
    readonly vectors: number,
    private readonly guestMsiAddress: number,
    inject: (guestVector: number) => void,
  ) {
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

  readTable(offset: number, size: 1 | 2 | 4): number {
    return this.model.readTable(offset, size);
  }

  writeTable(offset: number, size: 1 | 2 | 4, value: number): void {
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
