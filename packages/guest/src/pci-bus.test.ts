import { VhwError } from '@vhw/core';
import { CapId, Cfg, Command, MSIX_CAP_OFFSET, PciDevice } from '@vhw/pci';
import { describe, expect, it } from 'vitest';
import { type GuestPciBus, enableDeviceMem, findCapability, findDriverBar } from './pci-bus.js';

/** A device with inert registers: only its configuration space matters here. */
class Inert extends PciDevice {
  protected readRegister(): number {
    return 0;
  }
  protected writeRegister(): void {}
  protected resetRegisters(): void {}
}

const config = (dev: PciDevice) => ({ configRead: (o: number, s: 1 | 2 | 4) => dev.config.read(o, s) });

describe('findCapability', () => {
  it('finds MSI-X and the extra capabilities of a device, wherever they sit in the list', () => {
    const dev = new Inert({
      name: 'caps',
      vendorId: 1,
      deviceId: 2,
      classCode: 0,
      bars: [{ index: 0, size: 0x1000 }],
      msix: { vectors: 4, tableBar: 0, tableOffset: 0, pbaBar: 0, pbaOffset: 0x800 },
      capabilities: [
        { id: CapId.Msi, offset: 0x70, length: 0x18 },
        { id: CapId.PciExpress, offset: 0x50, length: 0x14 },
      ],
    });
    expect(findCapability(config(dev), CapId.MsiX)).toBe(MSIX_CAP_OFFSET);
    expect(findCapability(config(dev), CapId.PciExpress)).toBe(0x50);
    expect(findCapability(config(dev), CapId.Msi)).toBe(0x70);
    expect(findCapability(config(dev), 0x09)).toBe(-1);
  });

  it('returns -1 on a device without a capability list', () => {
    const dev = new Inert({ name: 'plain', vendorId: 1, deviceId: 2, classCode: 0, bars: [{ index: 0, size: 0x1000 }] });
    expect(findCapability(config(dev), CapId.MsiX)).toBe(-1);
  });

  it('gives up on a list that loops instead of hanging the guest', () => {
    let reads = 0;
    // Pointer at 0x40, and the capability at 0x40 points back at itself.
    const looping = {
      configRead(offset: number): number {
        reads++;
        if (offset === Cfg.CapabilitiesPointer) return 0x40;
        return offset === 0x40 ? CapId.Msi : 0x40;
      },
    };
    expect(findCapability(looping, CapId.MsiX)).toBe(-1);
    expect(reads).toBeLessThan(100);
  });
});

describe('findDriverBar', () => {
  const fn = { name: 'nvme0', bars: [{ index: 0, gpa: 0x4000_0000, size: 0x4000 }] };
  const bus = {
    find(name: string) {
      if (name !== 'nvme0') throw new VhwError('E_NOT_FOUND', `no ${name}`);
      return fn;
    },
  } as unknown as GuestPciBus;

  it('returns the function and the BAR the driver asked for', () => {
    const found = findDriverBar(bus, 'nvme0', 0, 'nvme-lite');
    expect(found.fn).toBe(fn);
    expect(found.bar).toEqual({ index: 0, gpa: 0x4000_0000, size: 0x4000 });
  });

  it('names the driver, the device and the BAR when the BAR is not mapped', () => {
    expect(() => findDriverBar(bus, 'nvme0', 2, 'nvme-lite')).toThrow('nvme-lite driver: nvme0 has no BAR2 mapped in the guest');
  });

  it('lets the bus report a missing function', () => {
    expect(() => findDriverBar(bus, 'nic0', 0, 'nic-lite')).toThrow('no nic0');
  });
});

describe('enableDeviceMem', () => {
  it('sets memory decode and bus mastering and keeps the other command bits', () => {
    let command = 0x0400; // INTx disabled
    const fn = {
      configRead: (offset: number) => (offset === Cfg.Command ? command : 0),
      configWrite: (offset: number, _size: 1 | 2 | 4, value: number) => {
        if (offset === Cfg.Command) command = value;
      },
    };
    enableDeviceMem(fn);
    expect(command).toBe(0x0400 | Command.Memory | Command.BusMaster);
  });
});
