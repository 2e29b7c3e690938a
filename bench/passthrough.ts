/**
 * Machines built the way the scenarios build them (ppc64Platform, guestRam, a device,
 * vfioPci, vmm(), through `passthroughMachine`) for the benchmarks of the real
 * passthrough paths and of machine creation.
 */
import { ContainerModule, Machine, Path, type VhwPlugin, definePlugin, z } from '@vhw/core';
import { nvmeLite } from '@vhw/device-nvme-lite';
import { PciDevice, PciDeviceToken } from '@vhw/pci';
import { VfioToken } from '@vhw/vfio-pci';
import { VmmToken } from '@vhw/vmm';
import { ALL_PATCHES, NO_PATCHES, type PatchSet, passthroughMachine } from '@vhw/experiment';

const REGS = 64; // 32-bit registers, repeated across the BAR (as the core benchmark's trivial device)

/**
 * A trivial PCI function: one 16 KiB memory BAR (sub-page on 64 KiB pages), no MSI-X,
 * 64 dwords of plain registers with no side effects. The same work per access as the
 * core benchmark's trivial register file, so the paths differ only in what sits between
 * the guest CPU and the registers.
 */
export class BenchRegsDevice extends PciDevice {
  private readonly regs = new Uint32Array(REGS);
  constructor(name: string, barSize: number) {
    super({ name, vendorId: 0x1b36, deviceId: 0x00ff, classCode: 0xff0000, bars: [{ index: 0, size: barSize, label: 'registers' }] });
  }
  protected readRegister(_bar: number, offset: number, _size: 1 | 2 | 4): number {
    return this.regs[(offset >>> 2) & (REGS - 1)]!; // masked: always in range
  }
  protected writeRegister(_bar: number, offset: number, _size: 1 | 2 | 4, value: number): void {
    this.regs[(offset >>> 2) & (REGS - 1)] = value;
  }
  protected resetRegisters(): void {
    this.regs.fill(0);
  }
}

export const BENCH_BAR_SIZE = 0x4000;

/** The trivial device as a device plugin (no guest driver: the benchmark is the guest). */
export const benchRegs = definePlugin({
  name: 'bench-regs',
  kind: 'device',
  description: 'a trivial PCI register file (16 KiB BAR0, no MSI-X) for the passthrough benchmarks',
  schema: z.strictObject({ name: z.string().default('regs0'), barSize: z.number().int().default(BENCH_BAR_SIZE) }),
  instance: (o) => o.name,
  module: (o) =>
    new ContainerModule(({ bind }) => {
      bind(PciDeviceToken)
        .toDynamicValue(() => new BenchRegsDevice(o.name, o.barSize))
        .inSingletonScope();
    }),
});

const config = (patches: PatchSet) => ({ patches, variant: 'rfc-2015' as const, seed: 1 });

/** The plugins of a ppc64 passthrough machine with `devices`, as a scenario builds them (64 MiB guest RAM unless `ramBytes`). */
export function ppc64Plugins(devices: VhwPlugin[], patches: PatchSet = NO_PATCHES, ramBytes?: number): VhwPlugin[] {
  return passthroughMachine({ platform: 'ppc64', devices, ...(ramBytes !== undefined ? { ramBytes } : {}) }, config(patches));
}

/** `n` nvme-lite controllers (16 KiB BAR0 with the MSI-X table, 8 vectors), for machine creation. */
export function nvmeDevices(n: number): VhwPlugin[] {
  return Array.from({ length: n }, (_, i) => nvmeLite({ name: `nvme${i}` }));
}

export interface PassthroughPath {
  machine: Machine;
  /** Guest-physical address of the passed-through BAR0. */
  base: number;
  span: number;
  label: string;
  /**
   * Checks, after the benchmark, that its accesses took the claimed path (throws if not).
   * Done afterwards so that building the path runs no guest access before the tasks run:
   * GuestCpu.load/store are shared by every machine, and an early access on another path
   * would change the type feedback the earlier tasks (ram, direct) are measured with.
   */
  verify(): void;
}

/**
 * A machine passing the trivial device through; with `patches` none its sub-page BAR0
 * traps (CPU → MMU trap page → Vmm.read/write → VMM flat view → vfio regionRead/Write →
 * host bridge AddressSpace → decode gate → device), with all three it is mapped direct
 * (CPU → MMU direct page → host bridge AddressSpace → decode gate → device).
 */
export function passthroughPath(kind: 'trap' | 'direct'): PassthroughPath {
  const machine = Machine.create({
    name: `bench-${kind}`,
    plugins: ppc64Plugins([benchRegs({ name: 'regs0' })], kind === 'trap' ? NO_PATCHES : ALL_PATCHES),
  });
  const vmm = machine.get(VmmToken);
  const bar = vmm.bars.find((b) => b.device === 'regs0' && b.index === 0);
  if (!bar) throw new Error('bench: the VMM did not install regs0 BAR0');
  const areas = bar.plan.areas;
  const want = kind === 'trap' ? 'trap' : 'direct';
  if (!areas.every((a) => a.path === want) || (kind === 'trap' && !areas.every((a) => a.via === 'fd'))) {
    throw new Error(`bench: regs0 BAR0 plan is ${JSON.stringify(areas)}; expected every area ${want}${kind === 'trap' ? ' via fd' : ''}`);
  }
  const vfio = machine.get(VfioToken).device('regs0');
  const fd0 = vfio.counters.regionReads + vfio.counters.regionWrites;
  machine.stats.reset();
  const verify = () => {
    const s = machine.stats;
    const fd = vfio.counters.regionReads + vfio.counters.regionWrites - fd0;
    const onPath = s.count(kind === 'trap' ? Path.Trap : Path.Direct);
    const off = s.count(kind === 'trap' ? Path.Direct : Path.Trap) + s.count(Path.Ram) + s.unassigned;
    // trap: every access went through the vfio fd; direct: none did.
    if (onPath === 0 || off !== 0 || (kind === 'trap' ? fd !== onPath : fd !== 0)) {
      throw new Error(
        `bench: the ${kind} passthrough benchmark did not take the ${kind} path: ${JSON.stringify(s.summary())}, vfio fd accesses ${fd}`,
      );
    }
    machine.cpu.store(bar.guestAddress + 0x40, 4, 0x1234_5678);
    if (machine.cpu.load(bar.guestAddress + 0x40, 4) !== 0x1234_5678)
      throw new Error(`bench: the ${kind} path does not reach the device's registers`);
  };
  return {
    machine,
    base: bar.guestAddress,
    span: BENCH_BAR_SIZE,
    label:
      kind === 'trap'
        ? 'GuestCpu → exit → Vmm flat view → vfio regionRead/Write → host bridge → PciDevice'
        : 'GuestCpu → direct BAR page (all patches) → host bridge → PciDevice',
    verify,
  };
}
