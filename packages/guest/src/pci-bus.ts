/**
 * The guest's PCI bus as the guest kernel enumerates it: the functions the VMM presents,
 * their BARs where the guest's firmware placed them, and config space through the VMM.
 */
import { VhwError } from '@vhw/core';
import { Cfg, Command } from '@vhw/pci';
import type { GuestEeh } from './eeh.js';

/**
 * The status word an RTAS call returns in its first return cell (PAPR; QEMU's
 * `RTAS_OUT_*` in include/hw/ppc/spapr.h): 0 success, -1 hardware error, -3 parameter error.
 */
export const RtasStatus = { Success: 0, HardwareError: -1, ParameterError: -3 } as const;
/** One of the `RtasStatus` words. */
export type RtasStatus = (typeof RtasStatus)[keyof typeof RtasStatus];

/** What RTAS `ibm,change-msi` answers a guest. */
export interface RtasChangeMsiResult {
  /** The call's status: an argument the firmware refuses is an error status, never a fault. */
  readonly status: RtasStatus;
  /**
   * The vectors the function now has (rets[1]); when the guest asked for more than the
   * function has, the number it has, with nothing set up, for the guest to ask again.
   */
  readonly count: number;
  /** The guest vector numbers set up, in entry order (empty unless `count` were set up). */
  readonly vectors: readonly number[];
}

/** A guest BAR: where the guest's firmware placed it. */
export interface GuestBar {
  /** The BAR number (0-5). */
  index: number;
  /** Its guest-physical address. */
  gpa: number;
  /** Its size in bytes. */
  size: number;
}

/**
 * A PCI function as the guest sees it, presented by the VMM. Config accesses go
 * through the VMM (they always exit); BAR accesses go through the guest CPU.
 */
export interface GuestPciFunction {
  /** The device instance's name. */
  readonly name: string;
  readonly vendorId: number;
  readonly deviceId: number;
  /** The memory BARs the guest can reach, in the guest's address space. */
  readonly bars: readonly GuestBar[];
  /** A config-space read of `size` bytes at `offset` (an exit to the VMM). */
  configRead(offset: number, size: 1 | 2 | 4): number;
  /** A config-space write of `size` bytes at `offset` (an exit to the VMM). */
  configWrite(offset: number, size: 1 | 2 | 4, value: number): void;
  /**
   * The machine's paravirtual MSI set-up (pSeries RTAS `ibm,change-msi`): enables `count`
   * MSI-X vectors (0 releases them) and answers with the call's status and the guest
   * vector numbers. Undefined where the machine has none and the guest must program the
   * MSI-X table itself.
   */
  readonly paravirtMsi: ((count: number) => RtasChangeMsiResult) | undefined;
  /**
   * The machine's EEH interface for this function (pSeries RTAS slot-state and reset
   * calls, forwarded to the host PE), where the platform has EEH.
   */
  readonly eeh?: GuestEeh;
}

/** The guest's PCI bus as presented by the VMM (bound to `GuestPciBusToken`). */
export interface GuestPciBus {
  /** Every function on the bus, in enumeration order. */
  readonly functions: readonly GuestPciFunction[];
  /** The guest-physical address MSI writes target (the virtual interrupt controller). */
  readonly msiAddress: number;
  /**
   * The function named `name`.
   *
   * @throws VhwError `E_NOT_FOUND` when the bus has no such function.
   */
  find(name: string): GuestPciFunction;
}

/**
 * Walks a function's capability list from the capabilities pointer, as a guest kernel's
 * `pci_find_capability` does; stops after 48 entries so a looping list cannot hang it.
 *
 * @param fn - anything with a config-space read (a `GuestPciFunction`, or a device's config space).
 * @param id - the capability ID (`CapId` from `@vhw/pci`).
 * @returns the config-space offset of capability `id`, or -1 when the list has none.
 * @example
 * ```ts
 * const msix = findCapability(fn, CapId.MsiX);
 * ```
 */
export function findCapability(fn: Pick<GuestPciFunction, 'configRead'>, id: number): number {
  let p = fn.configRead(Cfg.CapabilitiesPointer, 1);
  for (let guard = 0; p !== 0 && guard < 48; guard++) {
    if (fn.configRead(p, 1) === id) return p;
    p = fn.configRead(p + 1, 1);
  }
  return -1;
}

/** The function a driver drives and the BAR it reaches its registers through. */
export interface DriverBar {
  /** The function, as the bus presents it. */
  readonly fn: GuestPciFunction;
  /** The BAR, where the guest's firmware placed it. */
  readonly bar: GuestBar;
}

/**
 * Finds the function named `device` and its memory BAR `index`, as a guest driver's probe
 * does before it maps its registers (Linux: the bus match, then `pci_iomap` of the BAR).
 *
 * @param bus - the guest's PCI bus.
 * @param device - the device instance the driver drives.
 * @param index - the BAR number (0-5).
 * @param driver - the driver's name, which starts the error message.
 * @returns the function and the BAR.
 * @throws VhwError `E_NOT_FOUND` when the bus has no such function, or the function no such BAR in the guest.
 * @example
 * ```ts
 * const { fn, bar } = findDriverBar(ctx.bus, 'nvme0', 0, 'nvme-lite');
 * ctx.cpu.mmioLoad(bar.gpa + 0x1c, 4); // a register of BAR0
 * ```
 */
export function findDriverBar(bus: GuestPciBus, device: string, index: number, driver: string): DriverBar {
  const fn = bus.find(device);
  const bar = fn.bars.find((b) => b.index === index);
  if (!bar) throw new VhwError('E_NOT_FOUND', `${driver} driver: ${device} has no BAR${index} mapped in the guest`);
  return { fn, bar };
}

/**
 * Turns on memory decode and bus mastering in the function's command register, keeping
 * its other bits, as Linux's `pci_enable_device_mem` followed by `pci_set_master` does:
 * the driver can then reach its BARs and the device can DMA.
 *
 * @param fn - the function (its config space is reached through the VMM).
 * @example
 * ```ts
 * enableDeviceMem(fn);
 * ```
 */
export function enableDeviceMem(fn: Pick<GuestPciFunction, 'configRead' | 'configWrite'>): void {
  fn.configWrite(Cfg.Command, 2, fn.configRead(Cfg.Command, 2) | Command.Memory | Command.BusMaster);
}
