import { ToyDevice, toyDevice, toyIgbvf, toyNvme16k } from '@vhw/test-support';
/** Machines and devices the PHB tests share. */
import { ContainerModule, type IsolationEvent, Machine, type VhwPlugin, definePlugin, guestRam, z } from '@vhw/core';
import { type BarDecl, type MsixDecl, PciDeviceToken, PciHostToken } from '@vhw/pci';
import { type Ppc64Phb, ppc64Platform } from '../src/index.js';

export type PlatformOptions = Parameters<typeof ppc64Platform>[0];

export const KiB = 1024;
export const PAGE = 64 * KiB;
export const M32 = 0x8000_0000;

/** NVMe-16K with 32 vectors. */
export const nvme = (name: string) => toyNvme16k(name, 32);
/** igbvf-like: BAR0 16 KiB registers, BAR3 16 KiB holding the table at 0 and the PBA at 0x2000. */
export const igbvf = toyIgbvf;
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
  const phb = machine.get(PciHostToken) as Ppc64Phb;
  const isolation: IsolationEvent[] = [];
  machine.events.on('isolation', (e) => isolation.push(e));
  const fn = (name: string) => phb.findFunction(name);
  const toy = (name: string) => fn(name).device as ToyDevice;
  return { machine, phb, isolation, fn, toy };
}

export const page = (addr: number) => Math.floor(addr / PAGE);

export { aimMsi, programMsix } from '@vhw/test-support';
