import type { MmioHandler, SimClock } from '@vhw/core';
import type { VfioPciDevice } from '@vhw/vfio-pci';
import type { MsixEmulator } from './msix-emulation.js';

/*
 * The region types a trapped piece of a passed-through BAR becomes in the VMM's address
 * space, one per way QEMU serves it. Each is created once, when the BAR is installed, with
 * everything it needs resolved, so a trapped access costs one call into the region and the
 * calls below it: nothing is looked up or allocated per access.
 */

/**
 * A piece served through the vfio device fd (QEMU's `vfio_region_ops`: pread/pwrite at the
 * region's offset), where the kernel's checks apply. One pread/pwrite per guest access,
 * 8-byte ones included (QEMU's vfio region ops accept up to 8 bytes, and so does
 * `vfio_pci_bar_rw()`).
 */
export class VfioFdRegion implements MmioHandler {
  high = 0;

  /**
   * @param dev the vfio device whose fd is read and written.
   * @param index the vfio region index (the BAR).
   * @param base offset of this piece in the region.
   */
  constructor(
    private readonly dev: VfioPciDevice,
    private readonly index: number,
    private readonly base: number,
  ) {}

  read(off: number, size: 1 | 2 | 4): number {
    return this.dev.regionRead(this.index, this.base + off, size);
  }

  write(off: number, size: 1 | 2 | 4, value: number): void {
    this.dev.regionWrite(this.index, this.base + off, size, value);
  }

  read64(off: number): number {
    const lo = this.dev.regionRead(this.index, this.base + off, 8);
    this.high = this.dev.high;
    return lo;
  }

  write64(off: number, lo: number, hi: number): void {
    this.dev.regionWrite(this.index, this.base + off, 8, lo, hi);
  }
}

/**
 * A piece the VMM mmapped but could not map into the guest (QEMU's RAM-device region,
 * `ram_device_mem_ops`, accessed from the VMM): no syscall, but still an exit. One device
 * access per guest access, 8-byte ones included.
 */
export class RamDeviceRegion implements MmioHandler {
  high = 0;

  /**
   * @param host the mmapped host MMIO (the device's register handler behind the mapping).
   * @param hostBase offset in `host` of this piece's first byte.
   * @param clock the simulated clock the device access is charged to.
   * @param readNs cost of one device read; `writeNs` of one write.
   */
  constructor(
    private readonly host: MmioHandler,
    private readonly hostBase: number,
    private readonly clock: SimClock,
    private readonly readNs: number,
    private readonly writeNs: number,
  ) {}

  read(off: number, size: 1 | 2 | 4): number {
    this.clock.add(this.readNs);
    return this.host.read(this.hostBase + off, size);
  }

  write(off: number, size: 1 | 2 | 4, value: number): void {
    this.clock.add(this.writeNs);
    this.host.write(this.hostBase + off, size, value);
  }

  read64(off: number): number {
    this.clock.add(this.readNs);
    const lo = this.host.read(this.hostBase + off, 4);
    this.high = this.host.read(this.hostBase + off + 4, 4);
    return lo;
  }

  write64(off: number, lo: number, hi: number): void {
    this.clock.add(this.writeNs);
    this.host.write(this.hostBase + off, 4, lo);
    this.host.write(this.hostBase + off + 4, 4, hi);
  }
}

/**
 * A piece of the MSI-X table the VMM emulates (QEMU's `msix_table_mmio_ops` overlay):
 * answered by the function's `MsixEmulator`, never by the device. 8-byte accesses are split
 * by the dispatcher.
 */
export class MsixTableRegion implements MmioHandler {
  /**
   * @param emu the function's MSI-X emulation.
   * @param tableBase offset of this piece from the start of the table.
   * @param clock the simulated clock a table write is charged to.
   * @param writeNs cost of one emulated table write (reads cost nothing more).
   */
  constructor(
    private readonly emu: MsixEmulator,
    private readonly tableBase: number,
    private readonly clock: SimClock,
    private readonly writeNs: number,
  ) {}

  read(off: number, size: 1 | 2 | 4): number {
    return this.emu.readTable(this.tableBase + off, size);
  }

  write(off: number, size: 1 | 2 | 4, value: number): void {
    this.clock.add(this.writeNs);
    this.emu.writeTable(this.tableBase + off, size, value);
  }
}
