import { VhwError } from '@vhw/core';
import { CapId, Cfg, Command, type HostBridge, MSIX_CAP_OFFSET, type MsiMessage, type PciFunction } from '@vhw/pci';
import { VFIO_PCI_CONFIG_REGION_INDEX, VFIO_PCI_MSIX_IRQ_INDEX } from './uapi.js';

/** An eventfd-like trigger for one MSI-X vector (VFIO_DEVICE_SET_IRQS with an eventfd). */
export type IrqTrigger = (vector: number) => void;

/**
 * The MSI-X interrupts of one device bound to vfio-pci (the kernel's vfio_pci_intrs.c):
 * the host messages the platform allocated, the triggers behind them, and the device's
 * table the kernel programs with them. The device fd's VFIO_DEVICE_SET_IRQS reaches it.
 */
export class VfioMsixIrqs {
  private messages: MsiMessage[] = [];

  /**
   * @param fn the host function.
   * @param bridge the host bridge that allocates MSIs and reaches the table.
   * @param tableAddress host address of the MSI-X table (when the device has one).
   */
  constructor(
    private readonly fn: PciFunction,
    private readonly bridge: HostBridge,
    private readonly tableAddress: number,
  ) {}

  /**
   * Enables vectors `0..triggers.length-1` with a trigger each (the host kernel programs
   * the device's table with messages the platform allocated to the device's group), or
   * disables MSI-X when `triggers` is empty.
   * @throws VhwError E_NOT_FOUND when the device has no MSI-X, E_RANGE for too many vectors.
   */
  set(triggers: ReadonlyArray<IrqTrigger | undefined>): void {
    const msix = this.fn.device.msix;
    if (!msix) throw new VhwError('E_NOT_FOUND', `vfio ${this.fn.name}: the device has no MSI-X (irq index ${VFIO_PCI_MSIX_IRQ_INDEX})`);
    if (triggers.length > msix.vectors) {
      throw new VhwError('E_RANGE', `vfio ${this.fn.name}: ${triggers.length} MSI-X vectors requested; the device has ${msix.vectors}`);
    }
    this.disable();
    if (triggers.length === 0) return;
    this.messages = this.bridge.allocateMsi(this.fn, triggers.length);
    this.messages.forEach((msg, i) => {
      const t = triggers[i];
      this.bridge.setIrqHandler(msg.irq, t ? () => t(i) : undefined);
    });
    this.program();
  }

  /** Host IRQ numbers currently set up for the device's MSI-X vectors. */
  get hostIrqs(): number[] {
    return this.messages.map((m) => m.irq);
  }

  /** After a device reset the kernel restores the MSI-X state it set up (pci_restore_msi_state()). */
  restore(): void {
    if (this.messages.length > 0) this.program();
  }

  /** Frees the messages and disables MSI-X in the device. */
  disable(): void {
    if (this.messages.length === 0) return;
    this.bridge.freeMsi(this.messages.map((m) => m.irq));
    this.messages = [];
    if (this.fn.device.msix) this.bridge.configWrite(this.fn, MSIX_CAP_OFFSET + 2, 2, 0);
  }

  /**
   * Writes the allocated messages into the device's table and enables MSI-X, with
   * memory decode on for the duration (vfio_pci_memory_lock_and_enable()).
   */
  private program(): void {
    const cmd = this.bridge.configRead(this.fn, Cfg.Command, 2);
    if ((cmd & Command.Memory) === 0) this.bridge.configWrite(this.fn, Cfg.Command, 2, cmd | Command.Memory);
    const table = this.tableAddress;
    this.messages.forEach((msg, i) => {
      this.bridge.write(table + i * 16, 4, msg.addressLo);
      this.bridge.write(table + i * 16 + 4, 4, msg.addressHi);
      this.bridge.write(table + i * 16 + 8, 4, msg.data);
      this.bridge.write(table + i * 16 + 12, 4, 0);
    });
    this.bridge.configWrite(this.fn, MSIX_CAP_OFFSET + 2, 2, 0x8000);
    if ((cmd & Command.Memory) === 0) this.bridge.configWrite(this.fn, Cfg.Command, 2, cmd);
  }
}

/** Reads the MSI-X capability through the config region, as userspace does (vfio_msix_early_setup()). */
export function readMsixLayout(dev: {
  regionRead(index: number, offset: number, size: number): number;
}): { vectors: number; tableBar: number; tableOffset: number; pbaBar: number; pbaOffset: number } | undefined {
  const cfg = VFIO_PCI_CONFIG_REGION_INDEX;
  let p = dev.regionRead(cfg, Cfg.CapabilitiesPointer, 1);
  for (let guard = 0; p !== 0 && guard < 48; guard++) {
    if (dev.regionRead(cfg, p, 1) === CapId.MsiX) {
      const ctl = dev.regionRead(cfg, p + 2, 2);
      const table = dev.regionRead(cfg, p + 4, 4);
      const pba = dev.regionRead(cfg, p + 8, 4);
      return {
        vectors: (ctl & 0x7ff) + 1,
        tableBar: table & 7,
        tableOffset: (table & ~7) >>> 0,
        pbaBar: pba & 7,
        pbaOffset: (pba & ~7) >>> 0,
      };
    }
    p = dev.regionRead(cfg, p + 1, 1);
  }
  return undefined;
}
