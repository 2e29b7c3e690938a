import { ContainerModule, definePlugin, z } from '@vhw/core';
import { type BarDecl, type MsixDecl, PciDevice, PciDeviceToken } from '@vhw/pci';

/** A register-file device with a configurable BAR/MSI-X layout, for cross-package tests. */
export class ToyDevice extends PciDevice {
  readonly regs = new Map<string, number>();
  writes = 0;
  constructor(name: string, bars: BarDecl[], msix?: MsixDecl) {
    super({ name, vendorId: 0x1af4, deviceId: 0x10ff, classCode: 0xff0000, bars, msix });
  }
  protected readRegister(bar: number, offset: number, size: 1 | 2 | 4): number {
    const v = this.regs.get(`${bar}:${offset}`) ?? 0;
    return size === 4 ? v >>> 0 : v & ((1 << (size * 8)) - 1);
  }
  protected writeRegister(bar: number, offset: number, _size: 1 | 2 | 4, value: number): void {
    this.writes++;
    this.regs.set(`${bar}:${offset}`, value);
  }
  protected resetRegisters(): void {
    this.regs.clear();
  }
  fire(v: number): void {
    this.raiseMsix(v);
  }
}

export const toyDevice = definePlugin({
  name: 'toy-device',
  kind: 'device',
  description: 'test device',
  schema: z.strictObject({
    name: z.string().default('toy0'),
    bars: z.array(
      z.object({
        index: z.number(),
        size: z.number(),
        kind: z.enum(['mem32', 'mem64']).optional(),
        sparseAreas: z
          .array(z.object({ offset: z.number(), size: z.number() }))
          .readonly()
          .optional(),
      }),
    ),
    msix: z
      .object({ vectors: z.number(), tableBar: z.number(), tableOffset: z.number(), pbaBar: z.number(), pbaOffset: z.number() })
      .optional(),
  }),
  instance: (o) => o.name,
  module: (o) =>
    new ContainerModule(({ bind }) => {
      bind(PciDeviceToken).toDynamicValue(() => new ToyDevice(o.name, o.bars, o.msix));
    }),
});
