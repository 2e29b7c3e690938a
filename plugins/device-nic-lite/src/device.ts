import type { AccessConstraints } from '@vhw/core';
import { PciDevice, type PciDeviceSpec } from '@vhw/pci';
import { NIC_MAX_PACKET_BYTES, type NicLiteInput, type NicLiteOptions, resolveNicLiteOptions } from './options.js';
import { CTRL_RST, Cause, DESC_SIZE, DescStatus, NIC_REGISTER_NAMES, NicReg, QUEUE_ENABLE, STATUS_FD, STATUS_LU, TxCmd } from './regs.js';

/** BAR0 registers: 32-bit, aligned (Linux igbvf uses readl/writel only; QEMU's igbvf implements 4-byte accesses). */
const REGISTER_CONSTRAINTS: AccessConstraints = { valid: { sizes: [4], unaligned: false }, impl: { min: 4, max: 4 } };

/** What the VF did, for tests and reports. */
export interface NicLiteDeviceCounters {
  txPackets: number;
  rxPackets: number;
  /** Packets looped back with no RX buffer available (the RX ring was empty): dropped. */
  rxMissed: number;
  /** Packets dropped because their length exceeded the RX buffer. */
  oversize: number;
  /** MSI-X messages the VF raised (sent, or left pending while masked in the table). */
  interrupts: number;
  /** TDT/RDT writes beyond the ring. */
  ignoredTailWrites: number;
  dmaFailures: number;
}

/**
 * A NIC-like SR-IOV virtual function shaped like the Intel 82576 VF (igbvf): BAR0
 * 16 KiB of registers, BAR3 16 KiB holding only the MSI-X table (0) and PBA (0x2000),
 * both 64-bit prefetchable as QEMU's igbvf declares them. One TX and one RX ring of
 * legacy 16-byte descriptors; every transmitted packet is looped back into the next RX
 * buffer. A TDT write processes the TX ring synchronously. Interrupts are moderated:
 * the queue cause fires every `interruptBatch` packets, and when the TX ring drains
 * after a descriptor without IDE (interrupt delay enable).
 * @example
 * const vf = new NicLiteDevice({ ringSize: 64 });
 * vf.spec.bars.map((b) => b.index); // [0, 3]
 */
export class NicLiteDevice extends PciDevice {
  readonly options: NicLiteOptions;
  readonly counters: NicLiteDeviceCounters = {
    txPackets: 0,
    rxPackets: 0,
    rxMissed: 0,
    oversize: 0,
    interrupts: 0,
    ignoredTailWrites: 0,
    dmaFailures: 0,
  };

  private eicr = 0;
  private ims = 0;
  private eiac = 0;
  private eiam = 0;
  private tdbal = 0;
  private tdbah = 0;
  private tdlen = 0;
  private tdh = 0;
  private tdt = 0;
  private txdctl = 0;
  private rdbal = 0;
  private rdbah = 0;
  private rdlen = 0;
  private rdh = 0;
  private rdt = 0;
  private rxdctl = 0;
  private gprc = 0;
  private gptc = 0;
  /** Packets since the queue cause last fired. */
  private unsignalled = 0;
  private processing = false;

  private readonly desc = new Uint8Array(DESC_SIZE);
  private readonly descView = new DataView(this.desc.buffer);
  private readonly packet = new Uint8Array(NIC_MAX_PACKET_BYTES);
  private readonly writeback = new Uint8Array(8);
  private readonly writebackView = new DataView(this.writeback.buffer);
  private readonly dd = new Uint8Array([DescStatus.DD]);

  /**
   * @param input - plugin options (validated here; defaults filled in)
   * @throws VhwError E_CONFIG for invalid options
   */
  constructor(input: NicLiteInput | NicLiteOptions = {}) {
    const options = resolveNicLiteOptions(input);
    super(nicLiteSpec(options));
    this.options = options;
  }

  /** BAR0: 32-bit aligned register accesses only; BAR3: the MSI-X structures' dword/qword rules. */
  override barConstraints(bar: number): AccessConstraints {
    return bar === 0 ? REGISTER_CONSTRAINTS : PciDevice.msixConstraints;
  }

  protected readRegister(bar: number, offset: number, _size: 1 | 2 | 4): number {
    if (bar !== 0) return 0; // BAR3 outside the table and PBA is reserved
    switch (offset) {
      case NicReg.CTRL:
        return 0;
      case NicReg.STATUS:
        return STATUS_FD | STATUS_LU;
      case NicReg.VFGPRC:
        return this.gprc >>> 0;
      case NicReg.VFGPTC:
        return this.gptc >>> 0;
      case NicReg.EIMS:
        return this.ims;
      case NicReg.EIAC:
        return this.eiac;
      case NicReg.EIAM:
        return this.eiam;
      case NicReg.EICR: {
        const v = this.eicr;
        this.eicr = 0; // read-to-clear
        return v;
      }
      case NicReg.RDBAL:
        return this.rdbal;
      case NicReg.RDBAH:
        return this.rdbah;
      case NicReg.RDLEN:
        return this.rdlen;
      case NicReg.RDH:
        return this.rdh;
      case NicReg.RDT:
        return this.rdt;
      case NicReg.RXDCTL:
        return this.rxdctl;
      case NicReg.TDBAL:
        return this.tdbal;
      case NicReg.TDBAH:
        return this.tdbah;
      case NicReg.TDLEN:
        return this.tdlen;
      case NicReg.TDH:
        return this.tdh;
      case NicReg.TDT:
        return this.tdt;
      case NicReg.TXDCTL:
        return this.txdctl;
      default:
        return 0;
    }
  }

  protected writeRegister(bar: number, offset: number, _size: 1 | 2 | 4, value: number): void {
    if (bar !== 0) return;
    const v = value >>> 0;
    const causes = this.causeMask();
    switch (offset) {
      case NicReg.CTRL:
        if ((v & CTRL_RST) !== 0) this.resetRegisters();
        return;
      case NicReg.EICS:
        this.raise(v & causes);
        return;
      case NicReg.EIMS: {
        const newly = v & causes & ~this.ims;
        this.ims = (this.ims | (v & causes)) >>> 0;
        // A cause already pending fires as soon as it is enabled.
        if ((newly & this.eicr) !== 0) this.fire(newly & this.eicr);
        return;
      }
      case NicReg.EIMC:
        this.ims = (this.ims & ~v) >>> 0;
        return;
      case NicReg.EIAC:
        this.eiac = v & causes;
        return;
      case NicReg.EIAM:
        this.eiam = v & causes;
        return;
      case NicReg.EICR:
        this.eicr = (this.eicr & ~v) >>> 0; // write 1s to clear
        return;
      case NicReg.RDBAL:
        this.rdbal = v & ~0x7f;
        return;
      case NicReg.RDBAH:
        this.rdbah = v;
        return;
      case NicReg.RDLEN:
        this.rdlen = v & 0xfff80;
        return;
      case NicReg.RDH:
        this.rdh = v & 0xffff;
        return;
      case NicReg.RDT:
        if ((v & 0xffff) >= this.rxEntries) {
          this.counters.ignoredTailWrites++;
          return;
        }
        this.rdt = v & 0xffff;
        return;
      case NicReg.RXDCTL:
        this.rxdctl = v & QUEUE_ENABLE;
        return;
      case NicReg.TDBAL:
        this.tdbal = v & ~0x7f;
        return;
      case NicReg.TDBAH:
        this.tdbah = v;
        return;
      case NicReg.TDLEN:
        this.tdlen = v & 0xfff80;
        return;
      case NicReg.TDH:
        this.tdh = v & 0xffff;
        return;
      case NicReg.TDT:
        if ((v & 0xffff) >= this.txEntries) {
          this.counters.ignoredTailWrites++;
          return;
        }
        this.tdt = v & 0xffff;
        this.transmit();
        return;
      case NicReg.TXDCTL:
        this.txdctl = v & QUEUE_ENABLE;
        if (this.txdctl !== 0) this.transmit();
        return;
      default:
        return; // STATUS and the counters are read-only; the rest is not modelled
    }
  }

  /** Function-level reset, and CTRL.RST: rings, interrupt causes and masks, counters. MSI-X is PCI state (reset by FLR only). */
  protected resetRegisters(): void {
    this.eicr = this.ims = this.eiac = this.eiam = 0;
    this.tdbal = this.tdbah = this.tdlen = this.tdh = this.tdt = this.txdctl = 0;
    this.rdbal = this.rdbah = this.rdlen = this.rdh = this.rdt = this.rxdctl = 0;
    this.gprc = this.gptc = 0;
    this.unsignalled = 0;
  }

  private get txEntries(): number {
    return this.tdlen >>> 4;
  }

  private get rxEntries(): number {
    return this.rdlen >>> 4;
  }

  private causeMask(): number {
    return (2 ** Math.min(this.options.vectors, 31) - 1) >>> 0;
  }

  /** Processes TX descriptors from TDH to TDT: DMA the packet, loop it back to RX, write back DD. */
  private transmit(): void {
    if (this.processing || this.txdctl === 0 || this.txEntries === 0) return;
    this.processing = true;
    try {
      const txBase = this.tdbal + this.tdbah * 2 ** 32;
      const n = this.txEntries;
      const batch = this.options.interruptBatch;
      let delayLast = false;
      let sent = 0;
      while (this.tdh !== this.tdt) {
        const d = txBase + this.tdh * DESC_SIZE;
        if (!this.dma.dmaRead(d, this.desc)) {
          this.counters.dmaFailures++;
          return; // the queue stalls, as a DMA error stops a real queue
        }
        const dv = this.descView;
        const addr = dv.getUint32(0, true) + dv.getUint32(4, true) * 2 ** 32;
        const len = dv.getUint16(8, true);
        const cmd = dv.getUint8(11);
        if (len > NIC_MAX_PACKET_BYTES) this.counters.oversize++;
        else if (!this.dma.dmaRead(addr, this.packet.subarray(0, len))) this.counters.dmaFailures++;
        else this.receive(len);
        if ((cmd & TxCmd.RS) !== 0 && !this.dma.dmaWrite(d + 12, this.dd)) this.counters.dmaFailures++;
        this.tdh = (this.tdh + 1) % n;
        this.counters.txPackets++;
        this.gptc++;
        sent++;
        delayLast = (cmd & TxCmd.IDE) !== 0;
        if (++this.unsignalled >= batch) this.raise(Cause.Queue0);
      }
      // The ring drained: a last descriptor without IDE asks for its interrupt now.
      if (sent > 0 && !delayLast && this.unsignalled > 0) this.raise(Cause.Queue0);
    } finally {
      this.processing = false;
    }
  }

  /** Loops `len` bytes of `packet` into the next RX buffer, if the driver gave one. */
  private receive(len: number): void {
    const n = this.rxEntries;
    if (this.rxdctl === 0 || n === 0 || this.rdh === this.rdt) {
      this.counters.rxMissed++;
      return;
    }
    const d = this.rdbal + this.rdbah * 2 ** 32 + this.rdh * DESC_SIZE;
    if (!this.dma.dmaRead(d, this.desc)) {
      this.counters.dmaFailures++;
      return;
    }
    const buf = this.descView.getUint32(0, true) + this.descView.getUint32(4, true) * 2 ** 32;
    const wb = this.writebackView;
    if (!this.dma.dmaWrite(buf, this.packet.subarray(0, len))) {
      this.counters.dmaFailures++;
      return;
    }
    wb.setUint16(0, len, true); // length
    wb.setUint16(2, 0, true); // checksum
    wb.setUint8(4, DescStatus.DD | DescStatus.EOP); // status
    wb.setUint8(5, 0); // errors
    wb.setUint16(6, 0, true); // special
    if (!this.dma.dmaWrite(d + 8, this.writeback)) {
      this.counters.dmaFailures++;
      return;
    }
    this.rdh = (this.rdh + 1) % n;
    this.counters.rxPackets++;
    this.gprc++;
  }

  /** Sets interrupt causes and fires the enabled ones. */
  private raise(causes: number): void {
    if ((causes & Cause.Queue0) !== 0) this.unsignalled = 0;
    this.eicr = (this.eicr | causes) >>> 0;
    this.fire(this.eicr & this.ims);
  }

  /** Sends the MSI-X vector of each cause in `causes`, applying auto-mask and auto-clear. */
  private fire(causes: number): void {
    for (let bit = 0; causes !== 0 && bit < this.options.vectors; bit++) {
      const m = 1 << bit;
      if ((causes & m) === 0) continue;
      causes &= ~m;
      this.ims = (this.ims & ~(this.eiam & m)) >>> 0;
      this.eicr = (this.eicr & ~(this.eiac & m)) >>> 0;
      this.counters.interrupts++;
      this.raiseMsix(bit);
    }
  }
}

/**
 * The PCI declaration of a nic-lite VF: Intel 82576 VF IDs (8086:10ca, rev 1, class
 * 02:00:00), BAR0 16 KiB registers and BAR3 16 KiB MSI-X, both 64-bit prefetchable as
 * QEMU hw/net/igbvf.c registers them, MSI-X table at BAR3 + 0 and PBA at BAR3 + 0x2000.
 * @param options - validated options
 * @returns the device spec for the PciDevice base
 */
export function nicLiteSpec(options: NicLiteOptions): PciDeviceSpec {
  return {
    name: options.name,
    vendorId: 0x8086,
    deviceId: 0x10ca,
    classCode: 0x020000,
    revision: 1,
    bars: [
      { index: 0, size: 0x4000, kind: 'mem64', prefetchable: true, label: 'registers' },
      { index: 3, size: 0x4000, kind: 'mem64', prefetchable: true, label: 'msix' },
    ],
    msix: { vectors: options.vectors, tableBar: 3, tableOffset: 0, pbaBar: 3, pbaOffset: 0x2000 },
    registers: NIC_REGISTER_NAMES,
  };
}
