import { type HostBridge, MSIX_CAP_OFFSET, type MsiMessage, type PciFunction } from '@vhw/pci';

/**
 * Programs MSI-X entry `v` of `fn` (as the host kernel does, through host MMIO) with
 * `data` and `address` (default: the bridge's MSI doorbell), then enables MSI-X.
 */
export function programMsix(bridge: HostBridge, fn: PciFunction, v: number, data: number, address = bridge.msiAddress): void {
  const m = fn.device.spec.msix!;
  const entry = fn.bar(m.tableBar)!.address + m.tableOffset + v * 16;
  bridge.write(entry, 4, address % 2 ** 32);
  bridge.write(entry + 4, 4, Math.floor(address / 2 ** 32));
  bridge.write(entry + 8, 4, data);
  bridge.write(entry + 12, 4, 0);
  bridge.configWrite(fn, MSIX_CAP_OFFSET + 2, 2, 0x8000);
}

/** Gives `to` one MSI, programs `from`'s MSI-X entry 0 with its message, and records what its handler receives. */
export function aimMsi(bridge: HostBridge, from: PciFunction, to: PciFunction): { msg: MsiMessage; got: number[] } {
  const msg = bridge.allocateMsi(to, 1)[0]!;
  const got: number[] = [];
  bridge.setIrqHandler(msg.irq, (irq) => got.push(irq));
  programMsix(bridge, from, 0, msg.data);
  return { msg, got };
}
