import { type AccessConstraints, optionsError, z } from '@vhw/core';
import { PciDevice, type RegisterNames } from '@vhw/pci';

/** Step 1: the options, as a zod schema. Unknown keys are refused; every field has a default. */
export const rngLiteSchema = z.strictObject({
  name: z.string().min(1).default('rng0').describe('instance name: the PCI function name the driver looks for'),
  poolWords: z.number().int().min(1).max(1024).default(16).describe('random words per refill'),
  seed: z
    .number()
    .int()
    .min(1)
    .max(2 ** 32 - 1)
    .default(1)
    .describe('xorshift32 seed (the driver checks the sequence against it)'),
});
export type RngLiteOptions = z.output<typeof rngLiteSchema>;
export type RngLiteInput = z.input<typeof rngLiteSchema>;

/**
 * Validates options outside the plugin factory (device and driver constructors use it).
 * @throws VhwError E_CONFIG naming `rng-lite`, the field and what is allowed
 */
export function resolveRngLiteOptions(input: RngLiteInput = {}): RngLiteOptions {
  const parsed = rngLiteSchema.safeParse(input);
  if (!parsed.success) throw optionsError('rng-lite', parsed.error, input, rngLiteSchema);
  return parsed.data;
}

/** BAR0 register offsets. */
export const RngReg = {
  /** Read: the next random word (0 when the pool is empty, which also sets STATUS.UNDERRUN). */
  DATA: 0x00,
  /** Read: READY bit 0, UNDERRUN bit 1, LEVEL (words left) in bits 31:16. */
  STATUS: 0x04,
  /** Read/write: ENABLE bit 0, INT_EN bit 1; writing REFILL (bit 2) refills the pool and raises vector 0. */
  CTRL: 0x08,
  /** Read: 0x524e474c ("RNGL"). */
  ID: 0x0c,
} as const;
export const RNG_ID = 0x524e474c;

/**
 * Step 1b (optional): the registers' names, per BAR, so reports, `vhw explain rng0:DATA`
 * and trace viewers can name them. `hot` marks what the driver touches on every
 * operation (here DATA and STATUS).
 */
export const RNG_REGISTER_NAMES: RegisterNames = {
  0: [
    { name: 'DATA', offset: RngReg.DATA, size: 4, hot: true },
    { name: 'STATUS', offset: RngReg.STATUS, size: 4, hot: true },
    { name: 'CTRL', offset: RngReg.CTRL, size: 4 },
    { name: 'ID', offset: RngReg.ID, size: 4 },
  ],
};
export const Ctrl = { ENABLE: 1 << 0, INT_EN: 1 << 1, REFILL: 1 << 2 } as const;
export const Status = { READY: 1 << 0, UNDERRUN: 1 << 1 } as const;

/** The generator both sides agree on: xorshift32 (Marsaglia 2003). Never returns 0 for a non-zero state. */
export function xorshift32(state: number): number {
  let x = state >>> 0;
  x ^= x << 13;
  x >>>= 0;
  x ^= x >>> 17;
  x ^= x << 5;
  return x >>> 0;
}

/**
 * Step 2: the device. It extends `PciDevice`, declares its BARs and MSI-X layout, and
 * implements three methods that see only BAR offsets. It never learns its address, its
 * platform, or whether it is passed through.
 *
 * rng-lite: BAR0 (4 KiB) holds four registers; BAR1 (4 KiB) holds the MSI-X table (one
 * vector) at 0 and the PBA at 0x800.
 */
export class RngLiteDevice extends PciDevice {
  readonly options: RngLiteOptions;
  private state: number;
  private ctrl = 0;
  private level = 0;
  private underrun = false;

  constructor(input: RngLiteInput | RngLiteOptions = {}) {
    const options = resolveRngLiteOptions(input);
    super({
      name: options.name,
      vendorId: 0x1af4, // any IDs do; the driver finds the function by name
      deviceId: 0x10ff,
      classCode: 0x108000, // 10:80 encryption/decryption controller, other
      bars: [
        { index: 0, size: 0x1000, kind: 'mem32', label: 'registers' },
        { index: 1, size: 0x1000, kind: 'mem32', label: 'msix' },
      ],
      msix: { vectors: 1, tableBar: 1, tableOffset: 0, pbaBar: 1, pbaOffset: 0x800 },
      registers: RNG_REGISTER_NAMES,
    });
    this.options = options;
    this.state = options.seed;
  }

  /** Dword registers only; the MSI-X BAR follows the MSI-X rules. */
  override barConstraints(bar: number): AccessConstraints {
    return bar === 0 ? { valid: { sizes: [4] }, impl: { min: 4, max: 4 } } : PciDevice.msixConstraints;
  }

  protected readRegister(bar: number, offset: number): number {
    if (bar !== 0) return 0;
    switch (offset) {
      case RngReg.DATA:
        if ((this.ctrl & Ctrl.ENABLE) === 0 || this.level === 0) {
          this.underrun = true;
          return 0;
        }
        this.level--;
        this.state = xorshift32(this.state);
        return this.state;
      case RngReg.STATUS:
        return ((this.level > 0 ? Status.READY : 0) | (this.underrun ? Status.UNDERRUN : 0) | (this.level << 16)) >>> 0;
      case RngReg.CTRL:
        return this.ctrl;
      case RngReg.ID:
        return RNG_ID;
      default:
        return 0;
    }
  }

  protected writeRegister(bar: number, offset: number, _size: 1 | 2 | 4, value: number): void {
    if (bar !== 0 || offset !== RngReg.CTRL) return;
    this.ctrl = value & (Ctrl.ENABLE | Ctrl.INT_EN);
    if ((value & Ctrl.REFILL) !== 0 && (this.ctrl & Ctrl.ENABLE) !== 0) {
      this.level = this.options.poolWords;
      this.underrun = false;
      if ((this.ctrl & Ctrl.INT_EN) !== 0) this.raiseMsix(0); // pending if masked: the base class handles it
    }
  }

  /** Function-level reset. The generator state survives (it is the "hardware" noise source). */
  protected resetRegisters(): void {
    this.ctrl = 0;
    this.level = 0;
    this.underrun = false;
  }
}
