import { type GuestCpu, VhwError, hex } from '@vhw/core';
import { CC_EN, CC_ENABLE_VALUE, CSTS_CFS, CSTS_RDY, NvmeReg } from './regs.js';

/** How long the driver polls a register before it gives up. */
interface PollTuning {
  readonly pollLimit: number;
  readonly pollIntervalNs: number;
}

/**
 * The controller's BAR0 registers as the driver reaches them (the part of Linux's
 * `nvme_enable_ctrl`/`nvme_disable_ctrl`/`nvme_wait_ready` and the doorbell writes):
 * every access is a guest MMIO access through the guest CPU.
 */
export class NvmeControllerRegs {
  /** Bytes between doorbells, from CAP.DSTRD (read by `readCap`). */
  private doorbellStride = 4;

  constructor(
    private readonly cpu: GuestCpu,
    private readonly bar0: number,
    private readonly device: string,
    private readonly tuning: PollTuning,
  ) {}

  /**
   * Reads CAP: the device must answer and support queues of `queueDepth + 1` entries.
   * @throws VhwError E_STATE when CAP reads all-ones; E_CONFIG when the queues are too deep
   */
  readCap(queueDepth: number): void {
    const capLo = this.cpu.mmioLoad(this.bar0 + NvmeReg.CAP, 8) >>> 0;
    const capHi = this.cpu.high >>> 0;
    if (capLo === 0xffffffff && capHi === 0xffffffff) {
      throw new VhwError('E_STATE', `nvme-lite driver ${this.device}: CAP reads all-ones; the device does not answer`);
    }
    const mqes = (capLo & 0xffff) + 1;
    if (queueDepth + 1 > mqes) {
      throw new VhwError(
        'E_CONFIG',
        `nvme-lite driver ${this.device}: queueDepth ${queueDepth} needs ${queueDepth + 1} entries; the controller supports ${mqes}`,
      );
    }
    this.doorbellStride = 4 << (capHi & 0xf);
  }

  /** Clears CC.EN if set and waits for CSTS.RDY to drop: the controller deletes every queue. */
  disable(): void {
    if ((this.r32(NvmeReg.CC) & CC_EN) !== 0) {
      this.w32(NvmeReg.CC, 0);
      this.waitReady(0);
    }
  }

  /** Programs the admin queue (AQA/ASQ/ACQ), sets CC.EN and waits for CSTS.RDY. */
  enable(adminEntries: number, asq: number, acq: number): void {
    this.w32(NvmeReg.AQA, (adminEntries - 1) | ((adminEntries - 1) << 16));
    this.w64(NvmeReg.ASQ, asq);
    this.w64(NvmeReg.ACQ, acq);
    this.w32(NvmeReg.CC, CC_ENABLE_VALUE);
    this.waitReady(CSTS_RDY);
  }

  /** Writes the tail doorbell of submission queue `qid`. */
  ringSq(qid: number, tail: number): void {
    this.w32(NvmeReg.DOORBELLS + 2 * qid * this.doorbellStride, tail);
  }

  /** Writes the head doorbell of completion queue `qid`. */
  ringCq(qid: number, head: number): void {
    this.w32(NvmeReg.DOORBELLS + (2 * qid + 1) * this.doorbellStride, head);
  }

  /** CSTS as the driver reads it (0xffffffff: the device answers all-ones). */
  status(): number {
    return this.r32(NvmeReg.CSTS);
  }

  private waitReady(want: number): void {
    for (let i = 0; i < this.tuning.pollLimit; i++) {
      const csts = this.r32(NvmeReg.CSTS);
      if (csts === 0xffffffff)
        throw new VhwError('E_STATE', `nvme-lite driver ${this.device}: CSTS reads all-ones; the device does not answer`);
      if ((csts & CSTS_CFS) !== 0)
        throw new VhwError('E_STATE', `nvme-lite driver ${this.device}: controller fatal status (CSTS ${hex(csts)})`);
      if ((csts & CSTS_RDY) === want) return;
      this.cpu.work(this.tuning.pollIntervalNs);
    }
    throw new VhwError('E_STATE', `nvme-lite driver ${this.device}: CSTS.RDY did not become ${want} within ${this.tuning.pollLimit} polls`);
  }

  private r32(offset: number): number {
    return this.cpu.mmioLoad(this.bar0 + offset, 4) >>> 0;
  }

  private w32(offset: number, value: number): void {
    this.cpu.mmioStore(this.bar0 + offset, 4, value >>> 0);
  }

  private w64(offset: number, value: number): void {
    this.cpu.mmioStore(this.bar0 + offset, 8, value % 2 ** 32, Math.floor(value / 2 ** 32));
  }
}
