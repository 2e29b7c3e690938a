/** Machines and devices the PHB tests share. */
import { ContainerModule, type IsolationEvent, Machine, VhwError, type VhwPlugin, definePlugin, guestRam, z } from '@vhw/core';
import { type BarDecl, MSIX_CAP_OFFSET, type MsixDecl, PciDeviceToken, type PciFunction, PciHostToken } from '@vhw/pci';
import { ToyDevice, toyDevice } from '../../../test/support/toy-device.js';
import { type Ppc64Phb, ppc64Platform } from '../src/index.js';

export type PlatformOptions = Parameters<typeof ppc64Platform>[0];

export const KiB = 1024;
export const PAGE = 64 * KiB;
export const M32 = 0x8000_0000;

/** NVMe-16K: one 16 KiB 64-bit BAR with the table at 0x2000 and the PBA at 0x3000. */
export const nvme = (name: string) =>
  toyDevice({
    name,
    bars: [{ index: 0, size: 0x4000, kind: 'mem64' }],
    msix: { vectors: 32, tableBar: 0, tableOffset: 0x2000, pbaBar: 0, pbaOffset: 0x3000 },
  });
/** igbvf-like: BAR0 16 KiB registers, BAR3 16 KiB holding the table at 0 and the PBA at 0x2000. */
export const igbvf = (name: string) =>
  toyDevice({
    name,
    bars: [
      { index: 0, size: 0x4000 },
      { index: 3, size: 0x4000 },
    ],
    msix: { vectors: 3, tableBar: 3, tableOffset: 0, pbaBar: 3, pbaOffset: 0x2000 },
  });
export const big = (name: string, size: number) => toyDevice({ name, bars: [{ index: 0, size, kind: 'mem64' }] });

/** A toy device that can issue DMA (through its PE's TCE table). */
export class DmaToy extends ToyDevice {
  dmaWrite32(iova: number, v: number): boolean {
    return this.dma.dmaWrite32(iova, v);
  }
}
export const dmaToy = definePlugin({
  name: 'dma-toy',
  kind: 'device',
  description: 'test device with DMA',
  schema: z.strictObject({ name: z.string() }),
  instance: (o) => o.name,
  module: (o) =>
    new ContainerModule(({ bind }) => {
      const bars: BarDecl[] = [{ index: 0, size: 0x4000 }];
      const msix: MsixDecl = { vectors: 2, tableBar: 0, tableOffset: 0x2000, pbaBar: 0, pbaOffset: 0x3000 };
      bind(PciDeviceToken).toConstantValue(new DmaToy(o.name, bars, msix));
    }),
});

export function build(options: PlatformOptions, ...devices: VhwPlugin[]) {
  const machine = Machine.create({ plugins: [ppc64Platform(options), guestRam({}), ...devices] });
  const phb = machine.get<Ppc64Phb>(PciHostToken);
  const isolation: IsolationEvent[] = [];
  machine.events.on('isolation', (e) => isolation.push(e));
  const fn = (name: string) => phb.findFunction(name);
  const toy = (name: string) => fn(name).device as ToyDevice;
  return { machine, phb, isolation, fn, toy };
}

export function thrown(f: () => unknown): VhwError {
  try {
    f();
  } catch (e) {
    if (VhwError.is(e)) return e;
    throw e;
  }
  throw new Error('expected a VhwError');
}

export const page = (addr: number) => Math.floor(addr / PAGE);

/** Programs MSI-X entry `v` of `fn` (host kernel side) with the message `data` and enables MSI-X. */
export function programMsix(phb: Ppc64Phb, fn: PciFunction, v: number, data: number): void {
  const m = fn.device.spec.msix!;
  const entry = fn.bar(m.tableBar)!.address + m.tableOffset + v * 16;
  phb.write(entry, 4, phb.msiAddress % 2 ** 32);
  phb.write(entry + 4, 4, Math.floor(phb.msiAddress / 2 ** 32));
  phb.write(entry + 8, 4, data);
  phb.write(entry + 12, 4, 0);
  phb.configWrite(fn, MSIX_CAP_OFFSET + 2, 2, 0x8000);
}
