import { type Charge, CostModel, type MmioHandler, SimClock } from '@vhw/core';
import { describe, expect, it } from 'vitest';
import { MsixEmulator } from './msix-emulation.js';
import { MsixTableRegion, RamDeviceRegion } from './trap-regions.js';

/** Host MMIO behind an mmap: a register file recording every access. */
function hostMmio() {
  const regs = new Map<number, number>();
  const log: string[] = [];
  const h: MmioHandler = {
    read: (off, size) => {
      log.push(`r${size}@${off.toString(16)}`);
      return regs.get(off) ?? 0;
    },
    write: (off, size, value) => {
      log.push(`w${size}@${off.toString(16)}`);
      regs.set(off, value);
    },
  };
  return { h, regs, log };
}

/** A named charge of `ns` on `clock` (no cost parameter behind it). */
function charge(clock: SimClock, name: string, ns: number): Charge {
  return clock.meter.resolve({ name, parameters: [], ns: () => ns }, new CostModel([]));
}

describe('RamDeviceRegion (the VMM reaching an mmapped area)', () => {
  it('offsets into the mapping and charges one device access per guest access, 8-byte ones included', () => {
    const host = hostMmio();
    const clock = new SimClock();
    const r = new RamDeviceRegion(host.h, 0x3000, charge(clock, 'read', 10), charge(clock, 'write', 20));
    host.regs.set(0x3010, 0x1234).set(0x3014, 0x5678);
    expect(r.read(0x10, 4)).toBe(0x1234);
    expect(clock.now).toBe(10);
    expect(r.read64(0x10)).toBe(0x1234);
    expect(r.high).toBe(0x5678);
    expect(clock.now).toBe(20);
    r.write64(0x20, 1, 2);
    expect(clock.now).toBe(40);
    expect(host.log).toEqual(['r4@3010', 'r4@3010', 'r4@3014', 'w4@3020', 'w4@3024']);
  });
});

describe('MsixTableRegion (the emulated table)', () => {
  it('answers from the emulation at the piece offset within the table, charging writes only', () => {
    const emu = new MsixEmulator(4, 0xfee0_0000, () => {});
    const clock = new SimClock();
    // A piece starting 16 bytes into the table: its offset 0 is entry 1.
    const r = new MsixTableRegion(emu, 16, charge(clock, 'table', 7));
    r.write(8, 4, 0x42);
    expect(clock.now).toBe(7);
    expect(emu.readTable(16 + 8, 4)).toBe(0x42);
    expect(r.read(8, 4)).toBe(0x42);
    expect(clock.now).toBe(7);
  });
});
