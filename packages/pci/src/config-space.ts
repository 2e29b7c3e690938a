/** Byte offsets of the type 0 header registers vhw models. */
export const Cfg = {
  VendorId: 0x00,
  DeviceId: 0x02,
  Command: 0x04,
  Status: 0x06,
  Revision: 0x08,
  ClassCode: 0x09,
  HeaderType: 0x0e,
  Bar0: 0x10,
  SubsystemVendorId: 0x2c,
  CapabilitiesPointer: 0x34,
  InterruptLine: 0x3c,
} as const;

/** Bits of the command register. */
export const Command = { Io: 1 << 0, Memory: 1 << 1, BusMaster: 1 << 2, IntxDisable: 1 << 10 } as const;
/** Bits of the status register. */
export const Status = { CapabilitiesList: 1 << 4 } as const;
/** Capability IDs of the capability list. */
export const CapId = { Msi: 0x05, PciExpress: 0x10, MsiX: 0x11 } as const;

/**
 * A type 0 configuration space as 32-bit registers with a per-register writable mask,
 * as Cloud Hypervisor models it: BAR sizing (write all-ones, read back the size mask)
 * and read-only fields fall out of the mask with no special case.
 */
export class ConfigSpace {
  readonly size: number;
  private readonly regs: Uint32Array;
  private readonly writable: Uint32Array;
  /** Called after a dword changed by a write (BAR moves, command changes). */
  onWrite: ((dwordOffset: number, old: number, value: number) => void) | undefined;

  constructor(size = 256) {
    this.size = size;
    this.regs = new Uint32Array(size / 4);
    this.writable = new Uint32Array(size / 4);
  }

  /** Device-side initialisation: sets a value and which of its bits the guest/host may change. */
  init(offset: number, size: 1 | 2 | 4, value: number, writableMask = 0): void {
    const i = offset >>> 2;
    const shift = (offset & 3) * 8;
    const m = size === 4 ? 0xffffffff : ((1 << (size * 8)) - 1) << shift;
    this.regs[i] = ((this.regs[i]! & ~m) | ((value << shift) & m)) >>> 0;
    this.writable[i] = ((this.writable[i]! & ~m) | ((writableMask << shift) & m)) >>> 0;
  }

  /**
   * Declares a memory BAR at `offset` (and its upper dword for a 64-bit one): its flag bits,
   * and as writable only the address bits a BAR of `size` bytes implements, so an all-ones
   * write reads back the size mask.
   * @param offset config offset of the BAR's (low) dword.
   * @param size the BAR's size in bytes (a power of two).
   * @param flags the low flag bits (64-bit type, prefetchable).
   * @param is64 whether the next dword is the BAR's upper half.
   */
  initMemoryBar(offset: number, size: number, flags: number, is64: boolean): void {
    this.init(offset, 4, flags, size >= 2 ** 32 ? 0 : (~(size - 1) & 0xfffffff0) >>> 0);
    if (is64) this.init(offset + 4, 4, 0, size > 2 ** 32 ? ~(size / 2 ** 32 - 1) >>> 0 : 0xffffffff);
  }

  /** Device-side raw set (ignores the writable mask). */
  setRaw(offset: number, size: 1 | 2 | 4, value: number): void {
    const i = offset >>> 2;
    const shift = (offset & 3) * 8;
    const m = size === 4 ? 0xffffffff : ((1 << (size * 8)) - 1) << shift;
    this.regs[i] = ((this.regs[i]! & ~m) | ((value << shift) & m)) >>> 0;
  }

  read(offset: number, size: 1 | 2 | 4): number {
    if (offset < 0 || offset + size > this.size) return size === 4 ? 0xffffffff : (1 << (size * 8)) - 1;
    const v = this.regs[offset >>> 2]! >>> ((offset & 3) * 8);
    return size === 4 ? v >>> 0 : v & ((1 << (size * 8)) - 1);
  }

  /** A bus-master (guest or host) write: only writable bits change. */
  write(offset: number, size: 1 | 2 | 4, value: number): void {
    if (offset < 0 || offset + size > this.size) return;
    const i = offset >>> 2;
    const shift = (offset & 3) * 8;
    const m = size === 4 ? 0xffffffff : ((1 << (size * 8)) - 1) << shift;
    const old = this.regs[i]!;
    const w = this.writable[i]! & m;
    const next = ((old & ~w) | ((value << shift) & w)) >>> 0;
    this.regs[i] = next;
    if (next !== old && this.onWrite) this.onWrite(i * 4, old, next);
  }

  get command(): number {
    return this.read(Cfg.Command, 2);
  }
}
