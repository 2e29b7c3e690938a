import { describe, expect, it } from 'vitest';
import { ToyDevice } from '@vhw/test-support';
import { MSIX_CAP_OFFSET } from './device.js';
import { MSIX_ENTRY_SIZE, MsixTable, VectorControl } from './msix.js';

type Sent = [number, number, number];

/** A table with `vectors` entries, each programmed with address 0xfee00000 + v and data 0x100 + v. */
function programmed(vectors: number): { t: MsixTable; sent: Sent[] } {
  const t = new MsixTable(vectors);
  const sent: Sent[] = [];
  t.sink = (lo, hi, data) => sent.push([lo, hi, data]);
  for (let v = 0; v < vectors; v++) {
    t.writeTable(v * MSIX_ENTRY_SIZE, 4, 0xfee00000 + v);
    t.writeTable(v * MSIX_ENTRY_SIZE + 4, 4, 0x3);
    t.writeTable(v * MSIX_ENTRY_SIZE + 8, 4, 0x100 + v);
  }
  return { t, sent };
}
const unmask = (t: MsixTable, v: number) => t.writeTable(v * MSIX_ENTRY_SIZE + 12, 4, 0);
const mask = (t: MsixTable, v: number) => t.writeTable(v * MSIX_ENTRY_SIZE + 12, 4, VectorControl.Masked);

describe('MsixTable', () => {
  it('starts with every entry masked, nothing pending and MSI-X disabled', () => {
    const t = new MsixTable(4);
    for (let v = 0; v < 4; v++) {
      expect(t.entry(v)).toEqual({ addressLo: 0, addressHi: 0, data: 0, masked: true });
      expect(t.isPending(v)).toBe(false);
    }
    expect(t.enabled).toBe(false);
    expect(t.tableSize).toBe(64);
    expect(t.pbaSize).toBe(8);
    expect(new MsixTable(65).pbaSize).toBe(16);
  });

  it('delivers an unmasked vector at once with its address and data', () => {
    const { t, sent } = programmed(2);
    t.setControl(true, false);
    unmask(t, 1);
    t.raise(1);
    expect(sent).toEqual([[0xfee00001, 3, 0x101]]);
    expect(t.sent).toBe(1);
    expect(t.isPending(1)).toBe(false);
  });

  it('sets the pending bit for a masked vector and sends it when the entry is unmasked', () => {
    const { t, sent } = programmed(40);
    t.setControl(true, false);
    t.raise(33);
    expect(sent).toEqual([]);
    expect(t.isPending(33)).toBe(true);
    // PBA bit 33 is bit 1 of the second dword.
    expect(t.readPba(4, 4)).toBe(1 << 1);
    expect(t.readPba(0, 4)).toBe(0);
    unmask(t, 33);
    expect(sent).toEqual([[0xfee00021, 3, 0x121]]);
    expect(t.isPending(33)).toBe(false);
    expect(t.readPba(4, 4)).toBe(0);
  });

  it('sends a pending vector only once, and not again on a later mask/unmask', () => {
    const { t, sent } = programmed(1);
    t.setControl(true, false);
    t.raise(0);
    unmask(t, 0);
    mask(t, 0);
    unmask(t, 0);
    expect(sent).toHaveLength(1);
  });

  it('holds every vector pending under the function mask and sends them when it clears', () => {
    const { t, sent } = programmed(3);
    t.setControl(true, true);
    unmask(t, 0);
    unmask(t, 2);
    t.raise(0);
    t.raise(2);
    t.raise(1); // entry masked too
    expect(sent).toEqual([]);
    expect([0, 1, 2].map((v) => t.isPending(v))).toEqual([true, true, true]);
    t.setControl(true, false);
    expect(sent.map((s) => s[2])).toEqual([0x100, 0x102]);
    expect(t.isPending(1)).toBe(true); // its own mask still holds it
  });

  it('drops and counts interrupts raised while MSI-X is disabled; enabling later sends nothing', () => {
    const { t, sent } = programmed(2);
    unmask(t, 0);
    t.raise(0);
    t.raise(0);
    expect(t.droppedWhileDisabled).toBe(2);
    expect(t.isPending(0)).toBe(false);
    t.setControl(true, false);
    expect(sent).toEqual([]);
    t.raise(0);
    expect(sent).toHaveLength(1);
  });

  it('keeps a vector pending across disable and sends it when MSI-X is enabled again', () => {
    const { t, sent } = programmed(1);
    t.setControl(true, false);
    t.raise(0);
    t.setControl(false, false);
    unmask(t, 0); // disabled: still pending
    expect(sent).toEqual([]);
    expect(t.isPending(0)).toBe(true);
    t.setControl(true, false);
    expect(sent).toHaveLength(1);
    expect(t.isPending(0)).toBe(false);
  });

  it('keeps only the mask bit of vector control and ignores PBA writes and out-of-range vectors', () => {
    const { t, sent } = programmed(2);
    t.writeTable(12, 4, 0xffffffff);
    expect(t.readTable(12, 4)).toBe(VectorControl.Masked);
    t.writeTable(12, 4, 0xfffffffe);
    expect(t.readTable(12, 4)).toBe(0);
    t.setControl(true, true);
    t.raise(0);
    t.writePba();
    expect(t.isPending(0)).toBe(true);
    t.raise(2);
    t.raise(-1);
    expect(t.readPba(0, 4)).toBe(1);
    expect(t.readTable(2 * MSIX_ENTRY_SIZE, 4)).toBe(0xffffffff);
    expect(t.readPba(8, 4)).toBe(0);
    expect(sent).toEqual([]);
  });

  it('supports byte and word accesses to the table', () => {
    const t = new MsixTable(1);
    t.writeTable(8, 4, 0x11223344);
    expect(t.readTable(9, 1)).toBe(0x33);
    expect(t.readTable(10, 2)).toBe(0x1122);
    t.writeTable(11, 1, 0xaa);
    expect(t.entry(0).data).toBe(0xaa223344);
  });

  it('reset masks everything, clears pending bits and disables', () => {
    const { t } = programmed(2);
    t.setControl(true, true);
    unmask(t, 0);
    t.raise(0);
    t.reset();
    expect(t.entry(0)).toEqual({ addressLo: 0, addressHi: 0, data: 0, masked: true });
    expect(t.isPending(0)).toBe(false);
    expect(t.enabled).toBe(false);
    expect(t.functionMasked).toBe(false);
  });
});

describe('MSI-X through a PciDevice', () => {
  const layout = { vectors: 4, tableBar: 0, tableOffset: 0x2000, pbaBar: 0, pbaOffset: 0x3000 };

  it('follows the message control register (enable bit 15, function mask bit 14) in config space', () => {
    const dev = new ToyDevice('m', [{ index: 0, size: 0x4000 }], layout);
    const sent: number[] = [];
    dev.msix!.sink = (_lo, _hi, data) => sent.push(data);
    const bar = dev.barHandler(0);
    bar.write(0x2000 + 8, 4, 0x42);
    bar.write(0x2000 + 12, 4, 0);
    dev.config.write(MSIX_CAP_OFFSET + 2, 2, 0xc000);
    expect(dev.msix!.enabled).toBe(true);
    expect(dev.msix!.functionMasked).toBe(true);
    dev.fire(0);
    expect(sent).toEqual([]);
    expect(bar.read(0x3000, 4)).toBe(1); // PBA through the BAR
    dev.config.write(MSIX_CAP_OFFSET + 2, 2, 0x8000);
    expect(sent).toEqual([0x42]);
    expect(bar.read(0x3000, 4)).toBe(0);
    // Table size is read-only.
    dev.config.write(MSIX_CAP_OFFSET + 2, 2, 0xffff);
    expect(dev.config.read(MSIX_CAP_OFFSET + 2, 2) & 0x7ff).toBe(3);
  });

  it('routes BAR offsets to registers, the table and the PBA', () => {
    const dev = new ToyDevice('r', [{ index: 0, size: 0x4000 }], layout);
    const bar = dev.barHandler(0);
    bar.write(0x1ffc, 4, 0xdead);
    bar.write(0x2000, 4, 0xfee00000);
    bar.write(0x3000, 4, 0xffffffff); // PBA is read-only
    bar.write(0x3008, 4, 0x77); // past the PBA: a register again
    expect(dev.regs.get('0:8188')).toBe(0xdead);
    expect(dev.regs.get('0:8192')).toBeUndefined();
    expect(dev.msix!.entry(0).addressLo).toBe(0xfee00000);
    expect(bar.read(0x2000, 4)).toBe(0xfee00000);
    expect(bar.read(0x3000, 4)).toBe(0);
    expect(dev.regs.get('0:12296')).toBe(0x77);
    expect(dev.writes).toBe(2);
  });

  it('reset restores the table, the command register and the message control', () => {
    const dev = new ToyDevice('z', [{ index: 0, size: 0x4000 }], layout);
    dev.config.write(4, 2, 0x6);
    dev.config.write(MSIX_CAP_OFFSET + 2, 2, 0x8000);
    dev.barHandler(0).write(0x2000 + 12, 4, 0);
    dev.barHandler(0).write(0x100, 4, 5);
    dev.reset();
    expect(dev.config.command).toBe(0);
    expect(dev.config.read(MSIX_CAP_OFFSET + 2, 2)).toBe(3);
    expect(dev.msix!.enabled).toBe(false);
    expect(dev.msix!.entry(0).masked).toBe(true);
    expect(dev.regs.size).toBe(0);
  });
});
