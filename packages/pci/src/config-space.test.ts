import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ToyDevice } from '@vhw/test-support';
import { CapId, Cfg, Command, ConfigSpace, Status } from './config-space.js';
import { MSIX_CAP_OFFSET, PciDevice } from './device.js';

/** The offset of capability `id` in a config space's list, or -1: the walk any PCI user makes. */
function findCapability(fn: { configRead(offset: number, size: 1 | 2 | 4): number }, id: number): number {
  for (let p = fn.configRead(Cfg.CapabilitiesPointer, 1), guard = 0; p !== 0 && guard < 48; p = fn.configRead(p + 1, 1), guard++)
    if (fn.configRead(p, 1) === id) return p;
  return -1;
}

/** A device built from a full spec (capabilities included) with inert registers. */
class SpecDevice extends PciDevice {
  protected readRegister(): number {
    return 0;
  }
  protected writeRegister(): void {}
  protected resetRegisters(): void {}
}

/** The size a BAR probe reveals: write all-ones, read back, clear the flag bits, invert, add one. */
function probeMemBar(cfg: ConfigSpace, index: number, is64: boolean): { size: number; flags: number } {
  const off = Cfg.Bar0 + index * 4;
  const origLo = cfg.read(off, 4);
  const origHi = is64 ? cfg.read(off + 4, 4) : 0;
  cfg.write(off, 4, 0xffffffff);
  if (is64) cfg.write(off + 4, 4, 0xffffffff);
  const lo = cfg.read(off, 4);
  const hi = is64 ? cfg.read(off + 4, 4) : 0xffffffff;
  cfg.write(off, 4, origLo);
  if (is64) cfg.write(off + 4, 4, origHi);
  const mask = (BigInt(hi) << 32n) | BigInt((lo & 0xfffffff0) >>> 0);
  return { size: Number((1n << 64n) - mask), flags: lo & 0xf };
}

describe('ConfigSpace BAR sizing', () => {
  const dev = new ToyDevice('probe', [
    { index: 0, size: 0x1000 },
    { index: 1, size: 0x10000, prefetchable: true },
    { index: 2, size: 0x4000, kind: 'mem64', prefetchable: true },
    { index: 4, size: 32, kind: 'io' },
  ]);
  const cfg = dev.config;

  it('reads back the size mask of a 32-bit memory BAR after writing all-ones', () => {
    cfg.write(Cfg.Bar0, 4, 0xffffffff);
    expect(cfg.read(Cfg.Bar0, 4)).toBe(0xfffff000);
    cfg.write(Cfg.Bar0, 4, 0);
    expect(cfg.read(Cfg.Bar0, 4)).toBe(0);
  });

  it('keeps the prefetchable bit (3) on a 32-bit BAR', () => {
    cfg.write(Cfg.Bar0 + 4, 4, 0xffffffff);
    expect(cfg.read(Cfg.Bar0 + 4, 4)).toBe(0xffff0008);
    expect(probeMemBar(cfg, 1, false)).toEqual({ size: 0x10000, flags: 0x8 });
  });

  it('sizes a 64-bit prefetchable BAR across both dwords and reports type 10b', () => {
    cfg.write(Cfg.Bar0 + 8, 4, 0xffffffff);
    cfg.write(Cfg.Bar0 + 12, 4, 0xffffffff);
    expect(cfg.read(Cfg.Bar0 + 8, 4)).toBe(0xffffc00c);
    expect(cfg.read(Cfg.Bar0 + 12, 4)).toBe(0xffffffff);
    expect(probeMemBar(cfg, 2, true)).toEqual({ size: 0x4000, flags: 0xc });
  });

  it('sizes an I/O BAR with bit 0 set and bit 1 reserved', () => {
    cfg.write(Cfg.Bar0 + 16, 4, 0xffffffff);
    expect(cfg.read(Cfg.Bar0 + 16, 4)).toBe(0xffffffe1);
    cfg.write(Cfg.Bar0 + 16, 4, 0x1234);
    expect(cfg.read(Cfg.Bar0 + 16, 4)).toBe(0x1221);
  });

  it('leaves unimplemented BAR slots hardwired to zero', () => {
    cfg.write(Cfg.Bar0 + 20, 4, 0xffffffff);
    expect(cfg.read(Cfg.Bar0 + 20, 4)).toBe(0);
  });

  it('sizes 64-bit BARs of 4 GiB and more through the upper dword', () => {
    const big = new ToyDevice('big', [
      { index: 0, size: 2 ** 32, kind: 'mem64' },
      { index: 2, size: 2 ** 33, kind: 'mem64', prefetchable: true },
    ]);
    expect(probeMemBar(big.config, 0, true)).toEqual({ size: 2 ** 32, flags: 0x4 });
    expect(probeMemBar(big.config, 2, true)).toEqual({ size: 2 ** 33, flags: 0xc });
    big.config.write(Cfg.Bar0 + 12, 4, 0xffffffff);
    expect(big.config.read(Cfg.Bar0 + 12, 4)).toBe(0xfffffffe);
  });

  it('drops the address bits below the BAR size and keeps the address after a probe', () => {
    const d = new ToyDevice('addr', [
      { index: 0, size: 0x1000 },
      { index: 2, size: 0x4000, kind: 'mem64' },
    ]);
    d.config.write(Cfg.Bar0, 4, 0x12345678);
    expect(d.config.read(Cfg.Bar0, 4)).toBe(0x12345000);
    d.setBarAddress(2, 0x1_2340_0000);
    expect(d.barAddress(2)).toBe(0x1_2340_0000);
    expect(probeMemBar(d.config, 2, true).size).toBe(0x4000);
    expect(d.barAddress(2)).toBe(0x1_2340_0000);
  });

  it('answers accesses outside config space with all-ones and ignores writes there', () => {
    const c = new ConfigSpace(256);
    c.init(0, 2, 0x1af4);
    expect(c.read(256, 4)).toBe(0xffffffff);
    expect(c.read(255, 2)).toBe(0xffff);
    expect(c.read(-4, 1)).toBe(0xff);
    let calls = 0;
    c.onWrite = () => calls++;
    c.write(256, 4, 0);
    c.write(-1, 1, 0);
    expect(calls).toBe(0);
    expect(c.read(0, 2)).toBe(0x1af4);
  });

  it('reports a changed dword through onWrite, and only when it changed', () => {
    const c = new ConfigSpace(256);
    c.init(Cfg.Command, 2, 0, 0x0007);
    const seen: Array<[number, number, number]> = [];
    c.onWrite = (d, o, v) => seen.push([d, o, v]);
    c.write(Cfg.Command, 2, 0x0002);
    c.write(Cfg.Command, 2, 0x0002);
    c.write(Cfg.Command, 2, 0xfffa); // same writable bits, read-only ones differ: no change
    expect(seen).toEqual([[Cfg.Command, 0, 2]]);
    expect(c.command).toBe(2);
  });
});

describe('ConfigSpace read-only bits', () => {
  const msix = { vectors: 8, tableBar: 0, tableOffset: 0x800, pbaBar: 0, pbaOffset: 0xc00 };
  const make = () =>
    new ToyDevice(
      'ro',
      [
        { index: 0, size: 0x1000 },
        { index: 1, size: 0x10000, kind: 'mem64', prefetchable: true },
        { index: 3, size: 32, kind: 'io' },
      ],
      msix,
    );
  // The bits a bus master may change, per dword, as the PCI spec defines them for this device.
  const writable = new Map<number, number>([
    [0x04, 0x00000407], // command: I/O, memory, bus master, INTx disable; status read-only
    [0x10, 0xfffff000], // 4 KiB BAR
    [0x14, 0xffff0000], // 64 KiB 64-bit BAR, low dword
    [0x18, 0xffffffff], // its upper dword
    [0x1c, 0xffffffe0], // 32-byte I/O BAR
    [0x3c, 0x000000ff], // interrupt line
    [MSIX_CAP_OFFSET, 0xc0000000], // MSI-X enable and function mask
  ]);
  const access = fc.oneof(
    fc.record({ size: fc.constant(4 as const), dword: fc.integer({ min: 0, max: 63 }), value: fc.nat({ max: 0xffffffff }) }),
    fc.record({ size: fc.constant(2 as const), dword: fc.integer({ min: 0, max: 127 }), value: fc.nat({ max: 0xffff }) }),
    fc.record({ size: fc.constant(1 as const), dword: fc.integer({ min: 0, max: 255 }), value: fc.nat({ max: 0xff }) }),
  );

  it('never change, whatever sequence of writes of any size is made', () => {
    fc.assert(
      fc.property(fc.array(access, { minLength: 1, maxLength: 60 }), (writes) => {
        const dev = make();
        const before = Array.from({ length: 64 }, (_, i) => dev.config.read(i * 4, 4));
        for (const w of writes) dev.config.write(w.dword * w.size, w.size, w.value);
        for (let i = 0; i < 64; i++) {
          const ro = ~(writable.get(i * 4) ?? 0) >>> 0;
          expect(((dev.config.read(i * 4, 4) & ro) >>> 0).toString(16)).toBe(((before[i]! & ro) >>> 0).toString(16));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('lets every writable bit be set and cleared', () => {
    const dev = make();
    for (const [off, mask] of writable) {
      dev.config.write(off, 4, 0xffffffff);
      expect((dev.config.read(off, 4) & mask) >>> 0).toBe(mask);
      dev.config.write(off, 4, 0);
      expect((dev.config.read(off, 4) & mask) >>> 0).toBe(0);
    }
  });
});

describe('capability list', () => {
  it('walks from the capabilities pointer to MSI-X with the right BIR and offsets, then the extra capabilities', () => {
    const dev = new ToyDevice(
      'caps',
      [
        { index: 0, size: 0x4000 },
        { index: 3, size: 0x4000 },
      ],
      {
        vectors: 3,
        tableBar: 3,
        tableOffset: 0,
        pbaBar: 3,
        pbaOffset: 0x2000,
      },
    );
    const ext = new ToyDevice('caps2', [{ index: 0, size: 0x4000, kind: 'mem64' }], {
      vectors: 32,
      tableBar: 0,
      tableOffset: 0x2000,
      pbaBar: 0,
      pbaOffset: 0x3000,
    });
    for (const d of [dev, ext]) {
      expect(d.config.read(Cfg.Status, 2) & Status.CapabilitiesList).toBe(Status.CapabilitiesList);
      const fn = { configRead: (o: number, s: 1 | 2 | 4) => d.config.read(o, s) };
      const cap = findCapability(fn, CapId.MsiX);
      expect(cap).toBe(MSIX_CAP_OFFSET);
      const m = d.spec.msix!;
      expect(d.config.read(cap + 2, 2) & 0x7ff).toBe(m.vectors - 1);
      const table = d.config.read(cap + 4, 4);
      const pba = d.config.read(cap + 8, 4);
      expect(table & 7).toBe(m.tableBar);
      expect((table & ~7) >>> 0).toBe(m.tableOffset);
      expect(pba & 7).toBe(m.pbaBar);
      expect((pba & ~7) >>> 0).toBe(m.pbaOffset);
    }
  });

  it('chains extra capabilities after MSI-X in ascending offset and ends with 0', () => {
    const dev = new SpecDevice({
      name: 'chain',
      vendorId: 1,
      deviceId: 2,
      classCode: 0,
      bars: [{ index: 0, size: 0x1000 }],
      msix: { vectors: 1, tableBar: 0, tableOffset: 0, pbaBar: 0, pbaOffset: 0x800 },
      capabilities: [
        { id: CapId.Msi, offset: 0x70, length: 0x18 },
        { id: CapId.PciExpress, offset: 0x50, length: 0x14 },
      ],
    });
    const read = (o: number, s: 1 | 2 | 4) => dev.config.read(o, s);
    const walk: Array<[number, number]> = [];
    for (let p = read(Cfg.CapabilitiesPointer, 1), guard = 0; p !== 0 && guard < 10; p = read(p + 1, 1), guard++)
      walk.push([p, read(p, 1)]);
    expect(walk).toEqual([
      [0x40, CapId.MsiX],
      [0x50, CapId.PciExpress],
      [0x70, CapId.Msi],
    ]);
    expect(findCapability({ configRead: read }, CapId.Msi)).toBe(0x70);
    expect(findCapability({ configRead: read }, 0x09)).toBe(-1);
  });

  it('starts the list at the lowest extra capability when there is no MSI-X', () => {
    const dev = new SpecDevice({
      name: 'nomsix',
      vendorId: 1,
      deviceId: 2,
      classCode: 0,
      bars: [{ index: 0, size: 0x1000 }],
      capabilities: [{ id: CapId.PciExpress, offset: 0x48, length: 0x3c }],
    });
    expect(dev.config.read(Cfg.CapabilitiesPointer, 1)).toBe(0x48);
    expect(dev.config.read(0x48, 1)).toBe(CapId.PciExpress);
    expect(dev.config.read(0x49, 1)).toBe(0);
    expect(findCapability({ configRead: (o, s) => dev.config.read(o, s) }, CapId.MsiX)).toBe(-1);
  });

  it('has no capability list without capabilities', () => {
    const dev = new ToyDevice('plain', [{ index: 0, size: 0x1000 }]);
    expect(dev.config.read(Cfg.CapabilitiesPointer, 1)).toBe(0);
    expect(dev.config.read(Cfg.Status, 2) & Status.CapabilitiesList).toBe(0);
    expect(findCapability({ configRead: (o, s) => dev.config.read(o, s) }, CapId.MsiX)).toBe(-1);
  });

  it('exposes IDs, class code and a clear command register after construction', () => {
    const dev = new ToyDevice('ids', [{ index: 0, size: 0x1000 }]);
    expect(dev.config.read(Cfg.VendorId, 2)).toBe(0x1af4);
    expect(dev.config.read(Cfg.DeviceId, 2)).toBe(0x10ff);
    expect(dev.config.read(Cfg.Revision, 4) >>> 8).toBe(0xff0000);
    expect(dev.config.read(Cfg.HeaderType, 1)).toBe(0);
    expect(dev.config.command & (Command.Memory | Command.BusMaster)).toBe(0);
  });
});
