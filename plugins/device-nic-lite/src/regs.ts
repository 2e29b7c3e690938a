import type { RegisterName, RegisterNames } from '@vhw/pci';

/**
 * The register map of nic-lite: a subset of the Intel 82576 VF (igbvf), at the offsets
 * of Linux drivers/net/ethernet/intel/igbvf/regs.h (queue 0), all 32-bit.
 */
export const NicReg = {
  /** Device Control: RST (bit 26) resets the VF's queues and interrupt state; self-clearing. */
  CTRL: 0x0000,
  /** Device Status (read-only): FD (bit 0) and LU (bit 1) are always set. */
  STATUS: 0x0008,
  /** Good packets received / transmitted (read-only counters, as VFGPRC / VFGPTC). */
  VFGPRC: 0x0f10,
  VFGPTC: 0x0f14,
  /** Extended Interrupt Cause Set (write 1s to raise causes). */
  EICS: 0x1520,
  /** Extended Interrupt Mask Set (write 1s to enable) / Read (the mask). */
  EIMS: 0x1524,
  /** Extended Interrupt Mask Clear (write 1s to mask). */
  EIMC: 0x1528,
  /** Extended Interrupt Auto Clear: causes cleared from EICR when their MSI-X message is sent. */
  EIAC: 0x152c,
  /** Extended Interrupt Auto Mask: causes masked (removed from EIMS) when their message is sent. */
  EIAM: 0x1530,
  /** Extended Interrupt Cause Read: read-to-clear; writing 1s also clears. */
  EICR: 0x1580,
  RDBAL: 0x2800,
  RDBAH: 0x2804,
  /** RX ring length in bytes (16 per descriptor). */
  RDLEN: 0x2808,
  RDH: 0x2810,
  RDT: 0x2818,
  /** RX queue control: ENABLE bit 25. */
  RXDCTL: 0x2828,
  TDBAL: 0x3800,
  TDBAH: 0x3804,
  TDLEN: 0x3808,
  TDH: 0x3810,
  TDT: 0x3818,
  /** TX queue control: ENABLE bit 25. */
  TXDCTL: 0x3828,
} as const;

/** The registers one packet or one interrupt touches. */
const NIC_HOT: ReadonlySet<string> = new Set(['TDT', 'RDT', 'EICR', 'EIMS']);

export const CTRL_RST = 1 << 26;
export const STATUS_FD = 1 << 0;
export const STATUS_LU = 1 << 1;
export const QUEUE_ENABLE = 1 << 25;

/** Interrupt cause bits; cause n is sent on MSI-X vector n (IVAR is not modelled). */
export const Cause = {
  /** RX/TX queue 0 (packets received and transmitted): vector 0. */
  Queue0: 1 << 0,
  /** TX-only queue cause (vector 1 on igbvf); the model reports TX through Queue0. */
  Tx0: 1 << 1,
  /** Mailbox / other causes: vector 2. Raised only through EICS. */
  Other: 1 << 2,
} as const;

export const DESC_SIZE = 16;
/** Legacy TX descriptor: CMD byte at +11, STA byte at +12. */
export const TxCmd = { EOP: 0x01, IFCS: 0x02, RS: 0x08, IDE: 0x80 } as const;
/** Descriptor status bits (TX STA and RX status byte at +12). */
export const DescStatus = { DD: 0x01, EOP: 0x02 } as const;
/** RX buffer size per descriptor. */
export const RX_BUFFER_BYTES = 2048;

/**
 * The word at byte `offset` of packet `seq`: the sequence number, its complement, then a
 * pattern derived from both, so a receiver can check order and integrity.
 * @param seq - packet sequence number (32 bits)
 * @param offset - byte offset, a multiple of 4
 * @returns the 32-bit word
 */
export function nicLitePayloadWord(seq: number, offset: number): number {
  if (offset === 0) return seq >>> 0;
  if (offset === 4) return ~seq >>> 0;
  const x = Math.imul((seq ^ Math.imul(offset, 0x27d4eb2d)) >>> 0, 0x165667b1);
  return (x ^ (x >>> 15)) >>> 0;
}

/**
 * BAR0's register names as igbvf's regs.h spells them (the `E1000_` prefix dropped; the
 * VF's queue registers without the `VF` prefix they carry there), for reports and `vhw
 * explain nic0:TDT`. Hot: the tail writes of every packet (TDT, RDT), the cause read and
 * mask write of every interrupt (EICR, EIMS).
 */
export const NIC_REGISTER_NAMES: RegisterNames = {
  0: (Object.entries(NicReg) as Array<[keyof typeof NicReg, number]>).map(
    ([name, offset]): RegisterName => ({ name, offset, size: 4, ...(NIC_HOT.has(name) ? { hot: true } : {}) }),
  ),
};
