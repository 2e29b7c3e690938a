import { type GuestCpu, type UnassignedReason, allOnes } from '@vhw/core';
import { type GuestBar, type GuestEeh, type GuestPciFunction, type RtasChangeMsiResult, RtasStatus } from '@vhw/guest';
import { Cfg, ConfigSpace, type HostBridge, MSIX_CAP_OFFSET } from '@vhw/pci';
import { VFIO_PCI_CONFIG_REGION_INDEX, type VfioDeviceInfo, type VfioPciDevice, type VfioPciDriver, readMsixLayout } from '@vhw/vfio-pci';
import { MsixEmulator } from './msix-emulation.js';
import type { MsixRelocation, MsixRelocationOptions, RelocationBarSlot } from './msix-relocation.js';
import type { MsixLayout } from './plan.js';
import type { PolicyFunction, VmmPolicy } from './policy.js';

/** A passed-through BAR as its function sees it (a `PassthroughBar`). */
export interface FunctionBar {
  readonly index: number;
  readonly size: number;
  readonly guestAddress: number;
}

/** What a passed-through function asks of its VMM (the `Vmm`). */
export interface FunctionHost {
  readonly deps: { readonly cpu: GuestCpu; readonly bridge: HostBridge; readonly vfio: VfioPciDriver };
  readonly options: { readonly guestMsiAddress: number } & MsixRelocationOptions;
  /** The host page size. */
  readonly pageSize: number;
  /** The VMM's rules (where the MSI-X table goes). */
  readonly policy: VmmPolicy;
  readonly paravirtMsi: boolean;
  readonly noMsixEmulation: boolean;
  readonly counters: { configAccesses: number; rtasCalls: number; rtasErrors: number };
  /** Charges a guest exit that is not MMIO (config access, RTAS call). */
  chargeExit(): void;
  /** A fresh guest vector for a paravirtual MSI. */
  allocParavirtVector(): number;
  /** The guest wrote a new address into one of this function's BARs. */
  moveBar(bar: FunctionBar, guestAddress: number): void;
  /** Counts a guest config access the function does not decode (and reports it while tracing). */
  configUnassigned(space: string, offset: number, size: number, isWrite: boolean, reason: UnassignedReason): void;
}

/**
 * Why a guest config access of `size` bytes at `offset` is not passed to the function, or
 * undefined when it is: past the end of its config space (`no-region`; a conventional
 * function has 256 bytes, so the PCIe extended space at 0x100 is not there), crossing that
 * end (`straddle`), or not 1, 2 or 4 bytes naturally aligned (`invalid-size`). A pSeries
 * guest's RTAS config calls refuse the last two, and the PCI host layer answers a read past
 * the end with all-ones; Linux itself never issues them.
 */
export function configAccessFault(offset: number, size: number, configSize: number): UnassignedReason | undefined {
  if (!Number.isInteger(offset) || offset < 0 || offset >= configSize) return 'no-region';
  if (!Number.isInteger(size) || size < 1 || offset + size > configSize) return 'straddle';
  if ((size !== 1 && size !== 2 && size !== 4) || offset % size !== 0) return 'invalid-size';
  return undefined;
}

/**
 * A passed-through function as the guest sees it (QEMU's `VFIOPCIDevice`): config space
 * emulated over vfio's (BAR registers and the MSI-X message control virtualized, the rest
 * read and written through vfio's config region), MSI-X enable, and on pSeries the RTAS
 * calls for MSIs and EEH.
 */
export class PassthroughFunction implements GuestPciFunction {
  readonly name: string;
  readonly vendorId: number;
  readonly deviceId: number;
  readonly bars: GuestBar[] = [];
  readonly info: VfioDeviceInfo;
  /**
   * The MSI-X layout the guest sees and the VMM emulates: the device's own, or after a
   * relocation (`relocation`) the relocated BAR with the table and PBA in it.
   */
  readonly msix: MsixLayout | undefined;
  /** The device's own MSI-X layout (where QEMU's fix-up splits the mmap). */
  readonly deviceMsix: MsixLayout | undefined;
  /** Where the VMM relocated the emulated MSI-X table (`x-msix-relocation`), if it did. */
  readonly relocation: MsixRelocation | undefined;
  readonly emulator: MsixEmulator | undefined;
  readonly paravirtMsi: ((count: number) => RtasChangeMsiResult) | undefined;
  readonly eeh: GuestEeh | undefined;
  private msixControl = 0;
  /** The low flag bits of each host BAR register, read from config space (type, prefetch); one per BAR index 0-5. */
  private readonly barFlags = new Uint8Array(6);
  /** The passed-through BAR of each index. */
  private readonly barAt: Array<FunctionBar | undefined> = [];
  /**
   * The guest-visible BAR registers: pci's config-space model, where only the address bits
   * a BAR of its size implements are writable, so an all-ones write reads back the size
   * mask. They hold the BAR's guest address otherwise.
   */
  private readonly barRegs = new ConfigSpace(256);
  /**
   * Each BAR's address exactly as the guest last programmed it, low and high dword (a
   * number loses bits above 2^53, where a guest may still put a BAR it does not use).
   */
  private readonly addrLo = new Uint32Array(6);
  private readonly addrHi = new Uint32Array(6);
  /** The size of the config space vfio reports (QEMU's config_size): 256 bytes for a conventional function. */
  private readonly configSize: number;
  /** The name unassigned config accesses are reported under. */
  private readonly configSpaceName: string;

  constructor(
    private readonly vmm: FunctionHost,
    readonly dev: VfioPciDevice,
  ) {
    this.name = dev.name;
    this.info = dev.getDeviceInfo();
    this.vendorId = dev.regionRead(VFIO_PCI_CONFIG_REGION_INDEX, Cfg.VendorId, 2);
    this.deviceId = dev.regionRead(VFIO_PCI_CONFIG_REGION_INDEX, Cfg.DeviceId, 2);
    this.deviceMsix = readMsixLayout(dev);
    this.configSize = dev.getRegionInfo(VFIO_PCI_CONFIG_REGION_INDEX).size;
    this.configSpaceName = `${dev.name}:config`;
    for (let i = 0; i < 6; i++) this.barFlags[i] = dev.regionRead(VFIO_PCI_CONFIG_REGION_INDEX, Cfg.Bar0 + i * 4, 4) & 0xf;
    this.relocation = this.relocate(vmm.options.msixRelocation ?? 'off', vmm.pageSize);
    const r = this.relocation;
    this.msix =
      r && this.deviceMsix
        ? {
            vectors: this.deviceMsix.vectors,
            tableBar: r.bar,
            tableOffset: r.tableOffset,
            pbaBar: r.pbaBar ?? r.bar,
            pbaOffset: r.pbaOffset,
          }
        : this.deviceMsix;
    const { cpu } = vmm.deps;
    this.emulator = this.msix
      ? new MsixEmulator(this.msix.vectors, vmm.options.guestMsiAddress, (v) => cpu.raiseInterrupt(v), r !== undefined)
      : undefined;
    this.paravirtMsi = vmm.paravirtMsi && this.msix ? (count) => this.rtasChangeMsi(count) : undefined;
    const bridge = vmm.deps.bridge;
    const group = dev.fn.group;
    // The EEH calls (ibm,read-slot-reset-state2, ibm,set-slot-reset, ibm,configure-pe) are
    // reached through the function itself, so the arguments QEMU refuses with -3 in
    // hw/ppc/spapr_pci.c (an unknown PHB BUID, a wrong nargs/nret, an unknown reset option)
    // cannot be passed here: nothing a guest gives them can be out of range. A reset of a PE
    // that is not frozen is allowed, as on PAPR.
    this.eeh = bridge.eeh
      ? {
          pe: group.id,
          frozen: () => {
            vmm.chargeExit();
            return group.frozen;
          },
          recover: () => {
            vmm.counters.rtasCalls++;
            vmm.chargeExit();
            bridge.recover(group.id);
            for (const d of vmm.deps.vfio.devices) if (d.fn.group === group) d.restoreAfterPlatformReset();
          },
        }
      : undefined;
  }

  /** Whether BAR `i` is a 64-bit memory BAR (as its config register says). */
  barIs64(i: number): boolean {
    return (this.barFlags[i]! & 0x7) === 0x4;
  }

  /**
   * Where the VMM's policy puts the MSI-X table and PBA the guest sees (QEMU:
   * `vfio_pci_relocate_msix()`, see `relocateMsix`). An added BAR gets its type bits here:
   * memory, prefetchable (QEMU: the emulated table has no read side effects), 64-bit when the
   * slot after it is free.
   */
  private relocate(mode: NonNullable<MsixRelocationOptions['msixRelocation']>, pageSize: number): MsixRelocation | undefined {
    const bars: RelocationBarSlot[] = [];
    for (let i = 0; i < 6; i++) {
      bars.push({ size: this.dev.getRegionInfo(i).size, is64: this.barIs64(i), io: (this.barFlags[i]! & 0x1) === 1 });
    }
    const r = this.vmm.policy.relocate({ mode, pageSize, device: this.name, bars, msix: this.deviceMsix });
    if (r?.added) this.barFlags[r.bar] = (r.is64 ? 0x4 : 0) | 0x8;
    return r;
  }

  /** The function as a policy reads it when it admits it. */
  policyView(): PolicyFunction {
    const barSizes: number[] = [];
    const ioBars: boolean[] = [];
    for (let i = 0; i < 6; i++) {
      barSizes.push(this.dev.getRegionInfo(i).size);
      ioBars.push((this.barFlags[i]! & 0x1) === 1);
    }
    return { name: this.name, vendorId: this.vendorId, deviceId: this.deviceId, msix: this.deviceMsix, barSizes, ioBars };
  }

  /** The size of BAR `i` as the guest sees it: vfio's, or the relocated BAR's (added or enlarged). */
  guestBarSize(i: number): number {
    const r = this.relocation;
    return r && r.bar === i ? r.guestSize : this.dev.getRegionInfo(i).size;
  }

  /**
   * The MSI-X tables in BAR `i` for the VMM's plan: the one it emulates there (`msixTable`)
   * and, when it relocated that elsewhere, the device's own (`deviceMsixTable`), around which
   * QEMU's fix-up still splits the mmap.
   */
  msixInBar(i: number): { msixTable?: { offset: number; size: number }; deviceMsixTable?: { offset: number; size: number } } {
    const m = this.msix;
    const d = this.deviceMsix;
    if (!m || !d) return {};
    const size = m.vectors * 16;
    return {
      ...(m.tableBar === i ? { msixTable: { offset: m.tableOffset, size } } : {}),
      ...(this.relocation && d.tableBar === i ? { deviceMsixTable: { offset: d.tableOffset, size } } : {}),
    };
  }

  /** Takes in a BAR the guest's firmware placed: the guest sees it on the bus and in its registers. */
  attachBar(bar: FunctionBar): void {
    this.barAt[bar.index] = bar;
    this.addrLo[bar.index] = bar.guestAddress % 2 ** 32;
    this.addrHi[bar.index] = Math.floor(bar.guestAddress / 2 ** 32);
    this.bars.push({ index: bar.index, gpa: bar.guestAddress, size: bar.size });
    this.barRegs.initMemoryBar(Cfg.Bar0 + bar.index * 4, bar.size, this.barFlags[bar.index]!, this.barIs64(bar.index));
    this.loadBarRegisters(bar);
  }

  /** The VMM moved `bar`: the guest's view follows (and a sizing in progress ends). */
  barMoved(bar: FunctionBar): void {
    const g = this.bars.find((b) => b.index === bar.index);
    if (g) g.gpa = bar.guestAddress;
    this.loadBarRegisters(bar);
  }

  configRead(offset: number, size: 1 | 2 | 4): number {
    this.vmm.counters.configAccesses++;
    this.vmm.chargeExit();
    const fault = configAccessFault(offset, size, this.configSize);
    if (fault !== undefined) {
      // A master abort: the guest reads all-ones (QEMU's ~0 for a read past config space).
      this.vmm.configUnassigned(this.configSpaceName, offset, size, false, fault);
      return size === 1 || size === 2 ? allOnes(size) : 0xffffffff;
    }
    if (offset >= Cfg.Bar0 && offset < Cfg.Bar0 + 24) return this.barRegs.read(offset, size);
    const m = this.msix;
    if (m && offset < MSIX_CAP_OFFSET + 4 && MSIX_CAP_OFFSET + 2 < offset + size) {
      // Any access touching the message control sees the emulated one (dword reads at the
      // capability start included); the capability id and next pointer are the device's.
      const ctl = (this.msixControl & 0xc000) | (m.vectors - 1);
      const word = (this.dev.regionRead(VFIO_PCI_CONFIG_REGION_INDEX, MSIX_CAP_OFFSET, 2) | (ctl << 16)) >>> 0;
      const v = word >>> ((offset - MSIX_CAP_OFFSET) * 8);
      return size === 4 ? v >>> 0 : v & ((1 << (size * 8)) - 1);
    }
    if (m && this.relocation && offset >= MSIX_CAP_OFFSET + 4 && offset < MSIX_CAP_OFFSET + 12) {
      // QEMU's msix_init writes the relocated table and PBA (offset | BIR) into the capability.
      const isPba = offset >= MSIX_CAP_OFFSET + 8;
      const reg = isPba ? (m.pbaOffset | m.pbaBar) >>> 0 : (m.tableOffset | m.tableBar) >>> 0;
      const v = reg >>> ((offset - MSIX_CAP_OFFSET - (isPba ? 8 : 4)) * 8);
      return size === 4 ? v >>> 0 : v & ((1 << (size * 8)) - 1);
    }
    return this.dev.regionRead(VFIO_PCI_CONFIG_REGION_INDEX, offset, size);
  }

  configWrite(offset: number, size: 1 | 2 | 4, value: number): void {
    this.vmm.counters.configAccesses++;
    this.vmm.chargeExit();
    const fault = configAccessFault(offset, size, this.configSize);
    if (fault !== undefined) {
      this.vmm.configUnassigned(this.configSpaceName, offset, size, true, fault);
      return;
    }
    if (offset >= Cfg.Bar0 && offset < Cfg.Bar0 + 24 && size === 4) {
      this.writeBar((offset - Cfg.Bar0) >> 2, value >>> 0);
      return;
    }
    const m = this.msix;
    if (m && offset < MSIX_CAP_OFFSET + 4 && MSIX_CAP_OFFSET + 2 < offset + size) {
      // The written bytes that fall on the message control (the rest is read-only).
      let ctl = this.msixControl & 0xffff;
      for (let b = 0; b < size; b++) {
        const at = offset + b - (MSIX_CAP_OFFSET + 2);
        if (at !== 0 && at !== 1) continue;
        const byte = Math.floor(value / 2 ** (8 * b)) & 0xff;
        ctl = (ctl & ~(0xff << (at * 8))) | (byte << (at * 8));
      }
      this.setMsixControl(ctl & 0xc000);
      return;
    }
    this.dev.regionWrite(VFIO_PCI_CONFIG_REGION_INDEX, offset, size, value);
  }

  /** A 4-byte write to BAR register `i`: a sizing probe, or a new address (which moves the BAR). */
  private writeBar(i: number, value: number): void {
    const isUpper = i > 0 && this.barAt[i - 1] !== undefined && this.barIs64(i - 1);
    const b = this.barAt[isUpper ? i - 1 : i];
    if (!b) return;
    const low = Cfg.Bar0 + b.index * 4;
    if (value === 0xffffffff) {
      // Sizing: all-ones in either half sizes the whole BAR, so both halves read back their
      // masks until the guest writes an address again.
      this.barRegs.write(low, 4, value);
      if (this.barIs64(b.index)) this.barRegs.write(low + 4, 4, value);
      return;
    }
    const reg = Cfg.Bar0 + i * 4;
    this.barRegs.write(reg, 4, value);
    const written = this.barRegs.read(reg, 4);
    // The written half as the register keeps it (only implemented address bits), the other
    // half as the guest last programmed it.
    const k = b.index;
    const lo = isUpper ? this.addrLo[k]! : (written & 0xfffffff0) >>> 0;
    const hi = isUpper ? written : this.addrHi[k]!;
    if (lo === this.addrLo[k] && hi === this.addrHi[k]) {
      this.loadBarRegisters(b);
      return;
    }
    this.addrLo[k] = lo;
    this.addrHi[k] = hi;
    // Above 2^53 the number is not exact, but no guest window reaches there: the VMM leaves
    // the BAR unmapped, and the registers keep the exact halves.
    this.vmm.moveBar(b, hi * 2 ** 32 + lo);
  }

  /** Shows `bar`'s guest address, as the guest programmed it, in its registers. */
  private loadBarRegisters(bar: FunctionBar): void {
    const low = Cfg.Bar0 + bar.index * 4;
    this.barRegs.setRaw(low, 4, (this.addrLo[bar.index]! | this.barFlags[bar.index]!) >>> 0);
    if (this.barIs64(bar.index)) this.barRegs.setRaw(low + 4, 4, this.addrHi[bar.index]!);
  }

  private setMsixControl(ctl: number): void {
    const wasEnabled = (this.msixControl & 0x8000) !== 0;
    this.msixControl = ctl;
    const enabled = (ctl & 0x8000) !== 0;
    if (this.emulator) {
      if (enabled && !wasEnabled && !this.vmm.noMsixEmulation) {
        const emu = this.emulator;
        this.dev.setMsixIrqs(Array.from({ length: emu.vectors }, () => (v: number) => emu.fire(v)));
      } else if (!enabled && wasEnabled) this.dev.setMsixIrqs([]);
      this.emulator.setControl(enabled, (ctl & 0x4000) !== 0);
    }
  }

  /**
   * RTAS ibm,change-msi: the hypervisor sets up `count` MSI-X vectors (0 releases them) and
   * returns the guest's numbers. Every argument the guest passes is answered, never thrown
   * back at the VMM, as QEMU's `rtas_ibm_change_msi` (hw/ppc/spapr_pci.c) answers it:
   * - a count the 32-bit argument cell cannot hold (negative, fractional, not finite, or
   *   above 2^32 - 1) is a parameter error (-3, `RTAS_OUT_PARAM_ERROR`, as QEMU answers a
   *   function code it does not know);
   * - more vectors than the function has: success, nothing set up, and the number it has in
   *   rets[1] ("Correct the number if the guest asked for too many"), for the guest to ask again;
   * - releasing (0) when nothing is set up: a hardware error (-1, `RTAS_OUT_HW_ERROR`,
   *   QEMU's "Releasing wrong config").
   * Each error status is counted in `rtasErrors`.
   */
  private rtasChangeMsi(count: number): RtasChangeMsiResult {
    const counters = this.vmm.counters;
    counters.rtasCalls++;
    this.vmm.chargeExit();
    const m = this.msix!;
    if (!Number.isInteger(count) || count < 0 || count > 0xffffffff) {
      counters.rtasErrors++;
      return { status: RtasStatus.ParameterError, count: 0, vectors: [] };
    }
    if (count > m.vectors) return { status: RtasStatus.Success, count: m.vectors, vectors: [] };
    if (count === 0 && this.dev.msixIrqs.length === 0) {
      counters.rtasErrors++;
      return { status: RtasStatus.HardwareError, count: 0, vectors: [] };
    }
    const vectors = Array.from({ length: count }, () => this.vmm.allocParavirtVector());
    const { cpu } = this.vmm.deps;
    this.dev.setMsixIrqs(vectors.map((v) => () => cpu.raiseInterrupt(v)));
    this.msixControl = count > 0 ? 0x8000 : 0;
    return { status: RtasStatus.Success, count, vectors };
  }

  /** The guest starts over: its MSI-X set-up is gone (the host vectors are given back) and no BAR is being sized. */
  reset(): void {
    if (this.dev.msixIrqs.length > 0) this.dev.setMsixIrqs([]);
    this.emulator?.reset();
    this.msixControl = 0;
    for (const bar of this.barAt) if (bar) this.loadBarRegisters(bar);
  }
}
