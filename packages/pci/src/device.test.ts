import { VhwError } from '@vhw/core';
import { describe, expect, it } from 'vitest';
import { expectVhwError, ToyDevice } from '@vhw/test-support';
import { Cfg } from './config-space.js';
import { type PciDeviceSpec, isPowerOfTwo, validatePciDeviceSpec } from './device.js';

function spec(over: Partial<PciDeviceSpec>): PciDeviceSpec {
  return { name: 'nvme0', vendorId: 0x8086, deviceId: 0x1234, classCode: 0x010802, bars: [{ index: 0, size: 0x4000 }], ...over };
}

function configError(s: PciDeviceSpec): string {
  return expectVhwError(() => validatePciDeviceSpec(s), 'E_CONFIG').message;
}

describe('validatePciDeviceSpec', () => {
  it('accepts the three reference layouts of the spec', () => {
    expect(() =>
      validatePciDeviceSpec(
        spec({
          bars: [{ index: 0, size: 0x4000, kind: 'mem64' }],
          msix: { vectors: 32, tableBar: 0, tableOffset: 0x2000, pbaBar: 0, pbaOffset: 0x3000 },
        }),
      ),
    ).not.toThrow();
    expect(() =>
      validatePciDeviceSpec(
        spec({
          bars: [
            { index: 0, size: 0x4000 },
            { index: 3, size: 0x4000 },
          ],
          msix: { vectors: 3, tableBar: 3, tableOffset: 0, pbaBar: 3, pbaOffset: 0x2000 },
        }),
      ),
    ).not.toThrow();
    expect(() =>
      validatePciDeviceSpec(
        spec({
          bars: [{ index: 0, size: 0x10000, kind: 'mem64' }],
          msix: { vectors: 64, tableBar: 0, tableOffset: 0x5200, pbaBar: 0, pbaOffset: 0xd600 },
        }),
      ),
    ).not.toThrow();
  });

  it('refuses a BAR size that is not a power of two, naming device, BAR and field', () => {
    const m = configError(spec({ bars: [{ index: 2, size: 0x3000 }] }));
    expect(m).toContain('device "nvme0"');
    expect(m).toContain('BAR2');
    expect(m).toContain('size');
    expect(m).toContain('power of two');
  });

  it('refuses a memory BAR below 16 bytes (and an I/O BAR below 4)', () => {
    const m = configError(spec({ bars: [{ index: 1, size: 8 }] }));
    expect(m).toMatch(/device "nvme0": BAR1 size 8; allowed: a power of two >= 16/);
    expect(() => validatePciDeviceSpec(spec({ bars: [{ index: 1, size: 4, kind: 'io' }] }))).not.toThrow();
    expect(configError(spec({ bars: [{ index: 1, size: 2, kind: 'io' }] }))).toMatch(/BAR1 size 2; allowed: a power of two >= 4/);
  });

  it('refuses a 64-bit BAR in slot 5', () => {
    const m = configError(spec({ bars: [{ index: 5, size: 0x1000, kind: 'mem64' }] }));
    expect(m).toContain('device "nvme0"');
    expect(m).toContain('BAR5');
    expect(m).toContain('64-bit');
    expect(m).toContain('index 0..4');
  });

  it('refuses two BARs in one slot, including the upper half of a 64-bit BAR', () => {
    expect(
      configError(
        spec({
          bars: [
            { index: 0, size: 0x1000 },
            { index: 0, size: 0x1000 },
          ],
        }),
      ),
    ).toMatch(/device "nvme0": BAR0 overlaps BAR0 in BAR slot 0/);
    const m = configError(
      spec({
        bars: [
          { index: 0, size: 0x4000, kind: 'mem64' },
          { index: 1, size: 0x1000 },
        ],
      }),
    );
    expect(m).toContain('device "nvme0"');
    expect(m).toContain('BAR1 overlaps BAR0 in BAR slot 1');
  });

  it('refuses an MSI-X table that reaches outside its BAR', () => {
    const m = configError(spec({ msix: { vectors: 16, tableBar: 0, tableOffset: 0x3f80, pbaBar: 0, pbaOffset: 0 } }));
    expect(m).toContain('device "nvme0"');
    expect(m).toContain('msix.table');
    expect(m).toContain('BAR0');
    expect(m).toContain('[0x3f80, 0x4080)');
  });

  it('refuses a PBA outside its BAR', () => {
    const m = configError(spec({ msix: { vectors: 1, tableBar: 0, tableOffset: 0, pbaBar: 0, pbaOffset: 0x4000 } }));
    expect(m).toContain('msix.pba');
    expect(m).toContain('outside BAR0');
  });

  it('refuses a table that overlaps the PBA in the same BAR', () => {
    const m = configError(spec({ msix: { vectors: 8, tableBar: 0, tableOffset: 0x1000, pbaBar: 0, pbaOffset: 0x1070 } }));
    expect(m).toContain('device "nvme0"');
    expect(m).toContain('table [0x1000, 0x1080) overlaps the PBA [0x1070, 0x1078) in BAR0');
    // The same offsets in different BARs are fine.
    expect(() =>
      validatePciDeviceSpec(
        spec({
          bars: [
            { index: 0, size: 0x4000 },
            { index: 2, size: 0x4000 },
          ],
          msix: { vectors: 8, tableBar: 0, tableOffset: 0x1000, pbaBar: 2, pbaOffset: 0x1000 },
        }),
      ),
    ).not.toThrow();
  });

  it('refuses a BIR naming an undeclared BAR (or the upper half of a 64-bit one)', () => {
    const m = configError(spec({ msix: { vectors: 1, tableBar: 2, tableOffset: 0, pbaBar: 0, pbaOffset: 0x800 } }));
    expect(m).toContain('device "nvme0"');
    expect(m).toContain('msix.table is in BAR2, which is not declared; declared: BAR0');
    const m2 = configError(
      spec({
        bars: [{ index: 0, size: 0x4000, kind: 'mem64' }],
        msix: { vectors: 1, tableBar: 0, tableOffset: 0, pbaBar: 1, pbaOffset: 0x800 },
      }),
    );
    expect(m2).toContain('msix.pba is in BAR1, which is not declared');
  });

  it('refuses MSI-X structures in an I/O BAR and unaligned table offsets', () => {
    expect(
      configError(
        spec({
          bars: [{ index: 0, size: 0x100, kind: 'io' }],
          msix: { vectors: 1, tableBar: 0, tableOffset: 0, pbaBar: 0, pbaOffset: 0x80 },
        }),
      ),
    ).toContain('msix.table is in BAR0, an I/O BAR');
    expect(configError(spec({ msix: { vectors: 1, tableBar: 0, tableOffset: 4, pbaBar: 0, pbaOffset: 0x800 } }))).toContain(
      'msix.table offset 4',
    );
  });

  it('refuses overlapping capabilities, with MSI-X, the header or each other', () => {
    const msix = { vectors: 1, tableBar: 0, tableOffset: 0, pbaBar: 0, pbaOffset: 0x800 };
    const withMsix = configError(spec({ msix, capabilities: [{ id: 0x10, offset: 0x48, length: 8 }] }));
    expect(withMsix).toContain('device "nvme0"');
    expect(withMsix).toContain('capability 0x10 at 0x48 overlaps the MSI-X capability');
    const pair = configError(
      spec({
        capabilities: [
          { id: 0x10, offset: 0x50, length: 0x20 },
          { id: 0x05, offset: 0x60, length: 0x10 },
        ],
      }),
    );
    expect(pair).toContain('capability 0x5 at 0x60 overlaps capability 0x10 at 0x50');
    expect(configError(spec({ capabilities: [{ id: 0x10, offset: 0x3c, length: 8 }] }))).toContain('capability 0x10 at offset 60');
    expect(() => validatePciDeviceSpec(spec({ msix, capabilities: [{ id: 0x10, offset: 0x4c, length: 8 }] }))).not.toThrow();
  });

  it('refuses bad IDs, vector counts and oversized 32-bit BARs', () => {
    expect(configError(spec({ vendorId: 0x10000 }))).toContain('vendorId is 65536');
    expect(configError(spec({ msix: { vectors: 0, tableBar: 0, tableOffset: 0, pbaBar: 0, pbaOffset: 0x800 } }))).toContain(
      'msix.vectors 0',
    );
    expect(configError(spec({ bars: [{ index: 0, size: 2 ** 32 }] }))).toContain('BAR0 size 0x100000000 does not fit a 32-bit BAR');
    expect(configError(spec({ bars: [{ index: 6, size: 0x1000 }] }))).toContain('BAR index 6');
  });

  it('runs in the PciDevice constructor', () => {
    expect(() => new ToyDevice('bad', [{ index: 0, size: 100 }])).toThrow(/device "bad": BAR0 size 100/);
  });
});

describe('isPowerOfTwo', () => {
  it('holds for powers of two beyond 32 bits and fails for everything else', () => {
    for (let e = 0; e <= 52; e++) expect(isPowerOfTwo(2 ** e)).toBe(true);
    for (const n of [0, -4, 3, 12, 2 ** 33 + 1, 0.5, NaN, Infinity]) expect(isPowerOfTwo(n)).toBe(false);
  });
});

describe('PciDevice BAR registers', () => {
  it('programs and reads back 32-bit, 64-bit and above-4G addresses', () => {
    const d = new ToyDevice('b', [
      { index: 0, size: 0x4000, kind: 'mem64' },
      { index: 2, size: 0x1000 },
    ]);
    d.setBarAddress(0, 0x2_8000_4000);
    d.setBarAddress(2, 0x9000_1000);
    expect(d.barAddress(0)).toBe(0x2_8000_4000);
    expect(d.config.read(Cfg.Bar0, 4)).toBe(0x80004004);
    expect(d.config.read(Cfg.Bar0 + 4, 4)).toBe(2);
    expect(d.barAddress(2)).toBe(0x9000_1000);
    expect(d.barAddress(4)).toBe(0);
    expect(() => d.setBarAddress(4, 0)).toThrow(VhwError);
    expect(() => d.barHandler(4)).toThrow(/no BAR4/);
  });

  it('refuses DMA before the device is attached to a bus', () => {
    class Dma extends ToyDevice {
      poke(): boolean {
        return this.dma.dmaWrite32(0, 0);
      }
    }
    const d = new Dma('dma', [{ index: 0, size: 0x1000 }]);
    expectVhwError(() => d.poke(), 'E_STATE');
  });
});
