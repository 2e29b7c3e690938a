import { type Charge, type MmioHandler, type Region, type Stats, type TrapHandler, takesAsIs } from '@vhw/core';
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
    readonly dev: VfioPciDevice,
    readonly index: number,
    readonly base: number,
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

/** The charges the VMM's trap regions make, resolved once by the VMM. */
export interface TrapRegionCharges {
  /** A device register read through the VMM's own mmap of a BAR. */
  readonly deviceRead: Charge;
  readonly deviceWrite: Charge;
  readonly msixTableWrite: Charge;
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
   * @param readCharge what one device read costs; `writeCharge` one write.
   */
  constructor(
    private readonly host: MmioHandler,
    private readonly hostBase: number,
    private readonly readCharge: Charge,
    private readonly writeCharge: Charge,
  ) {}

  read(off: number, size: 1 | 2 | 4): number {
    this.readCharge.add();
    return this.host.read(this.hostBase + off, size);
  }

  write(off: number, size: 1 | 2 | 4, value: number): void {
    this.writeCharge.add();
    this.host.write(this.hostBase + off, size, value);
  }

  read64(off: number): number {
    this.readCharge.add();
    const lo = this.host.read(this.hostBase + off, 4);
    this.high = this.host.read(this.hostBase + off + 4, 4);
    return lo;
  }

  write64(off: number, lo: number, hi: number): void {
    this.writeCharge.add();
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
   * @param writeCharge what one emulated table write costs (reads cost nothing more).
   */
  constructor(
    private readonly emu: MsixEmulator,
    private readonly tableBase: number,
    private readonly writeCharge: Charge,
  ) {}

  read(off: number, size: 1 | 2 | 4): number {
    return this.emu.readTable(this.tableBase + off, size);
  }

  write(off: number, size: 1 | 2 | 4, value: number): void {
    this.writeCharge.add();
    this.emu.writeTable(this.tableBase + off, size, value);
  }
}

/**
 * A piece of the MSI-X PBA the VMM emulates (crosvm's and Firecracker's `read_pba`): reads
 * answered by the function's `MsixEmulator`, writes dropped (the PBA is read-only).
 */
export class MsixPbaRegion implements MmioHandler {
  /**
   * @param emu the function's MSI-X emulation.
   * @param pbaBase offset of this piece from the start of the PBA.
   */
  constructor(
    private readonly emu: MsixEmulator,
    private readonly pbaBase: number,
  ) {}

  read(off: number, size: 1 | 2 | 4): number {
    const at = this.pbaBase + off;
    return at >= 0 && at + size <= Math.ceil(this.emu.vectors / 64) * 8 ? this.emu.readPba(at, size) : 0;
  }

  write(): void {}
}

/**
 * A trapped piece nothing serves (kvmtool's MSI-X BAR outside the table and PBA windows; a
 * Cloud Hypervisor fd access past the region, refused before the syscall; a Firecracker
 * BAR with no trap path): reads return 0, writes are lost. The exit is still taken.
 */
export class DroppedRegion implements MmioHandler {
  read(): number {
    return 0;
  }

  write(): void {}
}

/**
 * A guest page whose only trap region is served through the vfio fd, resolved ahead of
 * time (as QEMU's softmmu TLB entry points at the MemoryRegion's ops): a trapped access of
 * the region exits here and goes to the vfio region with nothing looked up, charged and
 * counted as the VMM's dispatch through its flat view would (the dispatch, the region's
 * access count, the trap under the region's reason). Anything else (8-byte accesses, bytes
 * outside the region, sizes it does not take as they are) goes to the VMM's dispatch.
 */
export class FdTrapPage implements TrapHandler {
  private readonly dev: VfioPciDevice;
  private readonly index: number;
  private readonly regionBase: number;
  private readonly passSizes: number;
  private readonly base: number;
  private readonly size: number;
  private readonly tag: number;

  /**
   * @param region the VMM space's region of the page (its handler a `VfioFdRegion`).
   * @param fd that handler.
   * @param dispatch the VMM's dispatch charge.
   * @param stats where the trap is counted.
   * @param vmm the VMM's own trap handler, for every other access.
   */
  constructor(
    private readonly region: Region,
    fd: VfioFdRegion,
    private readonly dispatch: Charge,
    private readonly stats: Stats,
    private readonly vmm: TrapHandler,
  ) {
    this.dev = fd.dev;
    this.index = fd.index;
    this.regionBase = fd.base;
    this.passSizes = region.passSizes;
    this.base = region.base;
    this.size = region.size;
    this.tag = region.tag;
  }

  /** The high half of the last 8-byte read (those go through the VMM). */
  get high(): number {
    return this.vmm.high;
  }

  read(gpa: number, size: number, reasonId: number): number {
    const off = gpa - this.base;
    if (!(off >= 0 && takesAsIs(this.passSizes, off, size) && off + size <= this.size)) return this.vmm.read(gpa, size, reasonId);
    this.dispatch.add();
    this.region.accesses++;
    const v = this.dev.regionRead(this.index, this.regionBase + off, size);
    this.stats.countTrap(this.tag);
    return v;
  }

  write(gpa: number, size: number, value: number, high: number, reasonId: number): void {
    const off = gpa - this.base;
    if (!(off >= 0 && takesAsIs(this.passSizes, off, size) && off + size <= this.size)) {
      this.vmm.write(gpa, size, value, high, reasonId);
      return;
    }
    this.dispatch.add();
    this.region.accesses++;
    this.dev.regionWrite(this.index, this.regionBase + off, size, value);
    this.stats.countTrap(this.tag);
  }
}
