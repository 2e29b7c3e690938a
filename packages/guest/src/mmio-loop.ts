import { type GuestCpu, VhwError, z } from '@vhw/core';

/**
 * The options of the MMIO workload, for device plugins to add to their schemas: with
 * `workload: 'mmio'` the device's guest driver probes as usual, then each operation is one
 * register access in a loop over the device's hot registers (the cover letter's
 * "performance for mmio accesses" measurement), with no I/O stack in between.
 */
export const mmioWorkloadFields = {
  workload: z
    .enum(['io', 'mmio'])
    .default('io')
    .describe('io: the driver does I/O (commands, packets); mmio: each operation is one access to a hot register'),
  mmioReadPercent: z
    .number()
    .int()
    .min(0)
    .max(100)
    .default(50)
    .describe('mmio workload: percent of accesses that are reads (the rest are writes)'),
};

/** What one operation of a driver's workload is. */
export type WorkloadKind = 'io' | 'mmio';

/** A hot register the loop reads. */
export interface LoopRead {
  readonly name: string;
  /** Offset within the BAR. */
  readonly offset: number;
}

/** A hot register the loop writes, with the value that leaves the device as it is (a doorbell's current tail). */
export interface LoopWrite {
  readonly name: string;
  readonly offset: number;
  /** The low (or only) word to write. */
  value(): number;
  /** For an 8-byte access: the high word. */
  high?(): number;
}

/**
 * A guest loop of register reads and writes on one BAR, as a micro-benchmark in the
 * guest does it: reads and writes interleaved evenly at the given mix (an error
 * accumulator, so 30% gives 3 reads in every 10 accesses), each list taken in turn.
 * Nothing but the accesses themselves: the simulated time is the MMIO path's alone.
 * @example
 * const loop = new MmioLoop(cpu, bar.gpa, [{ name: 'CSTS', offset: 0x1c }], [], 100, 4);
 * loop.run(1000); // 1000 reads of CSTS
 */
export class MmioLoop {
  /** Accesses done, by kind. */
  reads = 0;
  writes = 0;
  private acc = 0;
  private nextRead = 0;
  private nextWrite = 0;

  /**
   * @param cpu - the guest CPU
   * @param barGpa - guest physical address of the BAR
   * @param readRegs - registers the loop reads (needed when `readPercent` > 0)
   * @param writeRegs - registers the loop writes (needed when `readPercent` < 100)
   * @param readPercent - percent of accesses that are reads, 0..100
   * @param size - access size in bytes
   * @throws VhwError E_CONFIG when the mix needs a kind of register the device offers none of
   */
  constructor(
    private readonly cpu: GuestCpu,
    private readonly barGpa: number,
    private readonly readRegs: readonly LoopRead[],
    private readonly writeRegs: readonly LoopWrite[],
    private readonly readPercent: number,
    private readonly size: 4 | 8,
  ) {
    if (readPercent > 0 && readRegs.length === 0)
      throw new VhwError(
        'E_CONFIG',
        `mmio workload: mmioReadPercent ${readPercent} but the device names no hot register to read; allowed: 0`,
      );
    if (readPercent < 100 && writeRegs.length === 0)
      throw new VhwError(
        'E_CONFIG',
        `mmio workload: mmioReadPercent ${readPercent} but the device names no hot register to write; allowed: 100`,
      );
  }

  /** Does `n` accesses. */
  run(n: number): void {
    const { cpu, barGpa, size } = this;
    for (let k = 0; k < n; k++) {
      this.acc += this.readPercent;
      if (this.acc >= 100) {
        this.acc -= 100;
        const r = this.readRegs[this.nextRead]!;
        this.nextRead = (this.nextRead + 1) % this.readRegs.length;
        cpu.mmioLoad(barGpa + r.offset, size);
        this.reads++;
      } else {
        const w = this.writeRegs[this.nextWrite]!;
        this.nextWrite = (this.nextWrite + 1) % this.writeRegs.length;
        cpu.mmioStore(barGpa + w.offset, size, w.value(), w.high?.() ?? 0);
        this.writes++;
      }
    }
  }
}
