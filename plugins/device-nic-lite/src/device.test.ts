import { GuestMemory } from '@vhw/core';
import { Cfg, MSIX_CAP_OFFSET, PciDevice, type PciDeviceBus } from '@vhw/pci';
import { describe, expect, it } from 'vitest';
import { expectVhwError } from '@vhw/test-support';
import { NicLiteDevice } from './device.js';
import type { NicLiteInput } from './options.js';
import { nicLite } from './plugin.js';
import { CTRL_RST, Cause, DescStatus, NicReg, QUEUE_ENABLE, STATUS_FD, STATUS_LU, TxCmd } from './regs.js';

/** A DMA bus straight onto guest memory (IOVA = GPA). */
function memoryBus(mem: GuestMemory): PciDeviceBus {
  return {
    dmaRead32: (iova) => mem.read32(iova),
    dmaWrite32: (iova, value) => {
      mem.write32(iova, value);
      return true;
    },
    dmaRead: (iova, out) => {
      if (!mem.contains(iova, out.length)) {
        out.fill(0xff);
        return false;
      }
      mem.readBytes(iova, out);
      return true;
    },
    dmaWrite: (iova, data) => {
      if (!mem.contains(iova, data.length)) return false;
      mem.writeBytes(iova, data);
      return true;
    },
  };
}

const TX_RING = 0x10000;
const RX_RING = 0x11000;
const TX_BUF = 0x20000;
const RX_BUF = 0x40000;

/** The VF on a bare bus, with guest-side helpers that fill descriptors in memory. */
function rig(input: NicLiteInput = {}, ring = 16) {
  const dev = new NicLiteDevice(input);
  const mem = new GuestMemory();
  mem.add('ram', 0, 1 << 20);
  dev.attach(memoryBus(mem));
  const regs = dev.barHandler(0);
  const msix = dev.barHandler(3);
  const sent: number[] = [];
  dev.msix!.sink = (_lo, _hi, data) => sent.push(data);
  let tail = 0;
  const h = {
    dev,
    mem,
    regs,
    msix,
    sent,
    /** MSI-X on, entry i → data 0x40 + i, unmasked unless `masked`. */
    enableMsix(masked = false): void {
      dev.config.write(MSIX_CAP_OFFSET + 2, 2, 0x8000);
      for (let i = 0; i < dev.spec.msix!.vectors; i++) {
        msix.write(i * 16, 4, 0xfee00000);
        msix.write(i * 16 + 8, 4, 0x40 + i);
        msix.write(i * 16 + 12, 4, masked ? 1 : 0);
      }
    },
    /** Programs both rings; RX gets `rxBuffers` buffers (default all but one). */
    rings(rxBuffers = ring - 1): void {
      regs.write(NicReg.TDBAL, 4, TX_RING);
      regs.write(NicReg.TDLEN, 4, ring * 16);
      regs.write(NicReg.TXDCTL, 4, QUEUE_ENABLE);
      for (let i = 0; i < ring; i++) {
        mem.write32(RX_RING + i * 16, RX_BUF + i * 2048);
        mem.write32(RX_RING + i * 16 + 4, 0);
        mem.write32(RX_RING + i * 16 + 8, 0);
        mem.write32(RX_RING + i * 16 + 12, 0);
      }
      regs.write(NicReg.RDBAL, 4, RX_RING);
      regs.write(NicReg.RDLEN, 4, ring * 16);
      regs.write(NicReg.RXDCTL, 4, QUEUE_ENABLE);
      regs.write(NicReg.RDT, 4, rxBuffers);
    },
    /** Writes one packet (words `seq * 1000 + i`) and its TX descriptor; rings TDT unless `ring` is false. */
    send(seq: number, bytes = 64, cmd: number = TxCmd.EOP | TxCmd.RS, doorbell = true): void {
      const buf = TX_BUF + tail * 2048;
      for (let i = 0; i < bytes; i += 4) mem.write32(buf + i, seq * 1000 + i);
      const d = TX_RING + tail * 16;
      mem.write32(d, buf);
      mem.write32(d + 4, 0);
      mem.write32(d + 8, bytes | (cmd << 24));
      mem.write32(d + 12, 0);
      tail = (tail + 1) % ring;
      if (doorbell) regs.write(NicReg.TDT, 4, tail);
    },
    doorbell(): void {
      regs.write(NicReg.TDT, 4, tail);
    },
    rx(i: number): { length: number; status: number; word0: number } {
      return {
        length: mem.read32(RX_RING + i * 16 + 8) & 0xffff,
        status: mem.read32(RX_RING + i * 16 + 12) & 0xff,
        word0: mem.read32(RX_BUF + i * 2048),
      };
    },
  };
  return h;
}

describe('nic-lite registers', () => {
  it('reports link up, full duplex, and self-clears CTRL.RST', () => {
    const { regs } = rig();
    expect(regs.read(NicReg.STATUS, 4)).toBe(STATUS_FD | STATUS_LU);
    regs.write(NicReg.STATUS, 4, 0);
    expect(regs.read(NicReg.STATUS, 4)).toBe(STATUS_FD | STATUS_LU);
    regs.write(NicReg.CTRL, 4, CTRL_RST);
    expect(regs.read(NicReg.CTRL, 4) & CTRL_RST).toBe(0);
  });

  it('sets and clears the interrupt mask with EIMS/EIMC, limited to the vectors there are', () => {
    const { regs } = rig({ vectors: 3 });
    regs.write(NicReg.EIMS, 4, 0xffffffff);
    expect(regs.read(NicReg.EIMS, 4)).toBe(0b111);
    regs.write(NicReg.EIMC, 4, Cause.Tx0);
    expect(regs.read(NicReg.EIMS, 4)).toBe(0b101);
  });

  it('clears EICR on read and on a write of ones', () => {
    const { regs } = rig();
    regs.write(NicReg.EICS, 4, Cause.Queue0 | Cause.Other);
    expect(regs.read(NicReg.EICR, 4)).toBe(Cause.Queue0 | Cause.Other);
    expect(regs.read(NicReg.EICR, 4)).toBe(0);
    regs.write(NicReg.EICS, 4, Cause.Queue0 | Cause.Other);
    regs.write(NicReg.EICR, 4, Cause.Other);
    expect(regs.read(NicReg.EICR, 4)).toBe(Cause.Queue0);
  });

  it('keeps ring registers at the igbvf offsets and aligns the bases', () => {
    const { regs } = rig();
    regs.write(NicReg.TDBAL, 4, 0x12345678);
    regs.write(NicReg.TDBAH, 4, 0x9);
    regs.write(NicReg.TDLEN, 4, 4096 + 5);
    regs.write(NicReg.RDBAL, 4, 0x1000);
    expect(regs.read(0x3800, 4)).toBe(0x12345600);
    expect(regs.read(0x3804, 4)).toBe(0x9);
    expect(regs.read(0x3808, 4)).toBe(4096);
    expect(regs.read(0x2800, 4)).toBe(0x1000);
  });

  it('reads zero from unmodelled offsets and ignores writes there; BAR3 outside the table and PBA likewise', () => {
    const { regs, msix } = rig();
    for (const off of [0x4, 0x100, 0x1700, 0x3ffc]) {
      regs.write(off, 4, 0xffffffff);
      expect(regs.read(off, 4)).toBe(0);
    }
    msix.write(0x1000, 4, 0xffffffff);
    expect(msix.read(0x1000, 4)).toBe(0);
  });

  it('declares 32-bit register accesses on BAR0 and the MSI-X rules on BAR3', () => {
    const dev = new NicLiteDevice();
    expect(dev.barConstraints(0)).toEqual({ valid: { sizes: [4], unaligned: false }, impl: { min: 4, max: 4 } });
    expect(dev.barConstraints(3)).toBe(PciDevice.msixConstraints);
  });

  it('ignores tail writes beyond the ring', () => {
    const h = rig();
    h.rings();
    h.regs.write(NicReg.TDT, 4, 16);
    h.regs.write(NicReg.RDT, 4, 99);
    expect(h.dev.counters.ignoredTailWrites).toBe(2);
    expect(h.dev.counters.txPackets).toBe(0);
  });

  it('resets rings, masks and counters on CTRL.RST and on a function reset', () => {
    for (const reset of [
      (h: ReturnType<typeof rig>) => h.regs.write(NicReg.CTRL, 4, CTRL_RST),
      (h: ReturnType<typeof rig>) => h.dev.reset(),
    ]) {
      const h = rig();
      h.rings();
      h.send(1);
      h.regs.write(NicReg.EIMS, 4, 1);
      reset(h);
      expect(h.regs.read(NicReg.TDLEN, 4)).toBe(0);
      expect(h.regs.read(NicReg.TDH, 4)).toBe(0);
      expect(h.regs.read(NicReg.RDT, 4)).toBe(0);
      expect(h.regs.read(NicReg.EIMS, 4)).toBe(0);
      expect(h.regs.read(NicReg.VFGPTC, 4)).toBe(0);
    }
  });
});

describe('nic-lite BAR and MSI-X layout (Intel 82576 VF)', () => {
  it('has BAR0 16 KiB registers and BAR3 16 KiB holding the table at 0 and the PBA at 0x2000', () => {
    const dev = new NicLiteDevice();
    expect(dev.spec.vendorId).toBe(0x8086);
    expect(dev.spec.deviceId).toBe(0x10ca);
    expect(dev.spec.classCode).toBe(0x020000);
    expect(dev.spec.bars).toEqual([
      { index: 0, size: 0x4000, kind: 'mem64', prefetchable: true, label: 'registers' },
      { index: 3, size: 0x4000, kind: 'mem64', prefetchable: true, label: 'msix' },
    ]);
    expect(dev.spec.msix).toEqual({ vectors: 3, tableBar: 3, tableOffset: 0, pbaBar: 3, pbaOffset: 0x2000 });
    expect(dev.config.read(MSIX_CAP_OFFSET + 4, 4)).toBe(3); // table: BIR 3, offset 0
    expect(dev.config.read(MSIX_CAP_OFFSET + 8, 4)).toBe(0x2000 | 3);
    expect(dev.config.read(MSIX_CAP_OFFSET + 2, 2) & 0x7ff).toBe(2);
    for (const bar of [0, 3]) {
      const off = Cfg.Bar0 + bar * 4;
      dev.config.write(off, 4, 0xffffffff);
      const v = dev.config.read(off, 4);
      expect(v & 0xf).toBe(0x4 | 0x8); // 64-bit, prefetchable
      expect((~(v & 0xfffffff0) + 1) >>> 0).toBe(0x4000);
    }
    // BAR0 has no MSI-X structure: its table-sized offsets are registers.
    expect(dev.barHandler(3).read(12, 4)).toBe(1); // entry 0 starts masked
    expect(dev.barHandler(0).read(12, 4)).toBe(0);
  });
});

describe('nic-lite options', () => {
  const bad: Array<[string, Record<string, unknown>, RegExp]> = [
    ['ringSize (not a multiple of 8)', { ringSize: 100 }, /nic-lite: option "ringSize" is 100: allowed: a multiple of 8/],
    ['ringSize (too small)', { ringSize: 4 }, /nic-lite: option "ringSize" is 4/],
    ['vectors (0)', { vectors: 0 }, /nic-lite: option "vectors" is 0/],
    ['vectors (65)', { vectors: 65 }, /nic-lite: option "vectors" is 65/],
    ['packetBytes', { packetBytes: 4000 }, /nic-lite: option "packetBytes" is 4000/],
    ['packetBytes (odd)', { packetBytes: 62 }, /option "packetBytes" is 62: allowed: a multiple of 4/],
    [
      'interruptBatch (beyond the ring)',
      { ringSize: 16, interruptBatch: 16 },
      /nic-lite: option "interruptBatch" is 16: allowed: at most ringSize - 1 \(15\)/,
    ],
    ['unknown key', { mtu: 1500 }, /nic-lite: unknown option "mtu"; allowed: name, ringSize, interruptBatch, packetBytes, vectors/],
  ];
  for (const [what, input, message] of bad) {
    it(`refuses a bad ${what} with a message naming the plugin and the field`, () => {
      expectVhwError(() => nicLite(input as never), 'E_CONFIG', message);
    });
  }

  it('fills defaults and uses the name as the instance', () => {
    const p = nicLite({ name: 'vf1' });
    expect(p.options).toEqual({
      name: 'vf1',
      ringSize: 256,
      interruptBatch: 8,
      packetBytes: 64,
      vectors: 3,
      workload: 'io',
      mmioReadPercent: 50,
    });
    expect(p.instance).toBe('vf1');
  });
});

describe('nic-lite DMA, loopback and write-back', () => {
  it('loops each transmitted packet into the next RX buffer and writes back DD on both rings', () => {
    const h = rig();
    h.rings();
    h.send(7, 64);
    h.send(8, 128);
    expect(h.rx(0)).toEqual({ length: 64, status: DescStatus.DD | DescStatus.EOP, word0: 7000 });
    expect(h.rx(1)).toEqual({ length: 128, status: DescStatus.DD | DescStatus.EOP, word0: 8000 });
    expect(h.mem.read32(RX_BUF + 2048 + 124)).toBe(8000 + 124);
    expect(h.mem.read32(TX_RING + 12) & DescStatus.DD).toBe(DescStatus.DD);
    expect(h.mem.read32(TX_RING + 16 + 12) & DescStatus.DD).toBe(DescStatus.DD);
    expect(h.regs.read(NicReg.TDH, 4)).toBe(2);
    expect(h.regs.read(NicReg.RDH, 4)).toBe(2);
    expect(h.regs.read(NicReg.VFGPTC, 4)).toBe(2);
    expect(h.regs.read(NicReg.VFGPRC, 4)).toBe(2);
  });

  it('writes back TX DD only when RS is set', () => {
    const h = rig();
    h.rings();
    h.send(1, 64, TxCmd.EOP);
    expect(h.mem.read32(TX_RING + 12)).toBe(0);
    expect(h.dev.counters.txPackets).toBe(1);
  });

  it('drops packets when the RX ring has no buffer, and resumes after RDT gives some', () => {
    const h = rig();
    h.rings(2);
    for (let i = 0; i < 4; i++) h.send(i);
    expect(h.dev.counters.rxPackets).toBe(2);
    expect(h.dev.counters.rxMissed).toBe(2);
    h.regs.write(NicReg.RDT, 4, 5);
    h.send(9);
    expect(h.rx(2).word0).toBe(9000);
  });

  it('does not transmit while TXDCTL is off, and catches up when enabled', () => {
    const h = rig();
    h.rings();
    h.regs.write(NicReg.TXDCTL, 4, 0);
    h.send(1);
    h.send(2);
    expect(h.dev.counters.txPackets).toBe(0);
    h.regs.write(NicReg.TXDCTL, 4, QUEUE_ENABLE);
    expect(h.dev.counters.txPackets).toBe(2);
  });
});

describe('nic-lite interrupts', () => {
  it('raises the queue vector every interruptBatch packets while the descriptors ask to delay', () => {
    const h = rig({ interruptBatch: 4 });
    h.enableMsix();
    h.rings();
    h.regs.write(NicReg.EIMS, 4, Cause.Queue0);
    const delayed = TxCmd.EOP | TxCmd.RS | TxCmd.IDE;
    for (let i = 0; i < 12; i++) h.send(i, 64, delayed);
    expect(h.sent).toEqual([0x40, 0x40, 0x40]);
    expect(h.dev.counters.interrupts).toBe(3);
  });

  it('raises when the TX ring drains after a descriptor without IDE', () => {
    const h = rig({ interruptBatch: 8 });
    h.enableMsix();
    h.rings();
    h.regs.write(NicReg.EIMS, 4, Cause.Queue0);
    h.send(1, 64, TxCmd.EOP | TxCmd.RS | TxCmd.IDE);
    h.send(2, 64, TxCmd.EOP | TxCmd.RS | TxCmd.IDE);
    expect(h.sent).toEqual([]);
    h.send(3, 64, TxCmd.EOP | TxCmd.RS);
    expect(h.sent).toEqual([0x40]);
    // Several descriptors behind one tail write: one interrupt when the ring drains.
    for (let i = 0; i < 3; i++) h.send(10 + i, 64, TxCmd.EOP | TxCmd.RS, false);
    h.doorbell();
    expect(h.sent).toEqual([0x40, 0x40]);
  });

  it('does not raise while masked by EIMC, and raises the pending cause when EIMS re-enables it', () => {
    const h = rig({ interruptBatch: 1 });
    h.enableMsix();
    h.rings();
    h.send(1);
    expect(h.sent).toEqual([]);
    expect(h.regs.read(NicReg.EIMS, 4)).toBe(0);
    h.regs.write(NicReg.EIMS, 4, Cause.Queue0);
    expect(h.sent).toEqual([0x40]);
  });

  it('auto-masks with EIAM and auto-clears EICR with EIAC', () => {
    const h = rig({ interruptBatch: 1 });
    h.enableMsix();
    h.rings();
    h.regs.write(NicReg.EIAM, 4, Cause.Queue0);
    h.regs.write(NicReg.EIMS, 4, Cause.Queue0);
    h.send(1);
    h.send(2);
    expect(h.sent).toEqual([0x40]); // the second packet found the cause masked
    expect(h.regs.read(NicReg.EIMS, 4)).toBe(0);
    expect(h.regs.read(NicReg.EICR, 4)).toBe(Cause.Queue0);
    h.regs.write(NicReg.EIAC, 4, Cause.Queue0);
    h.regs.write(NicReg.EIMS, 4, Cause.Queue0);
    h.send(3);
    expect(h.sent).toEqual([0x40, 0x40]);
    expect(h.regs.read(NicReg.EICR, 4)).toBe(0);
  });

  it('leaves a vector masked in the MSI-X table pending in the PBA until unmasked', () => {
    const h = rig({ interruptBatch: 2 });
    h.enableMsix(true);
    h.rings();
    h.regs.write(NicReg.EIMS, 4, Cause.Queue0 | Cause.Other);
    h.send(1);
    h.send(2);
    h.regs.write(NicReg.EICS, 4, Cause.Other);
    expect(h.sent).toEqual([]);
    expect(h.msix.read(0x2000, 4)).toBe(0b101);
    h.msix.write(2 * 16 + 12, 4, 0);
    expect(h.sent).toEqual([0x42]);
    expect(h.msix.read(0x2000, 4)).toBe(0b001);
  });
});
