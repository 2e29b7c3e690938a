import { type GuestCpu, VhwError, hex } from '@vhw/core';
import {
  type GuestContext,
  type GuestDriver,
  type GuestPciFunction,
  type LoopWrite,
  MmioLoop,
  type WorkloadKind,
  enableDeviceMem,
  findDriverBar,
} from '@vhw/guest';
import { RegisterMap } from '@vhw/pci';
import { type NicLiteInput, type NicLiteOptions, resolveNicLiteOptions } from './options.js';
import {
  CTRL_RST,
  Cause,
  DESC_SIZE,
  DescStatus,
  NIC_REGISTER_NAMES,
  NicReg,
  QUEUE_ENABLE,
  RX_BUFFER_BYTES,
  TxCmd,
  nicLitePayloadWord,
} from './regs.js';

/** How long the driver waits before it gives up on the device. */
export interface NicLiteDriverTuning {
  /** Idle polls of the RX ring before packets in flight are declared lost. */
  pollLimit: number;
  /** Guest time one idle poll waits, in ns (charged with `cpu.work`). */
  pollIntervalNs: number;
}

/** Defaults: 1000 polls of 1 µs, i.e. a 1 ms timeout in simulated time. */
export const NIC_DRIVER_DEFAULTS: Readonly<NicLiteDriverTuning> = { pollLimit: 1000, pollIntervalNs: 1000 };

/** Counters of what the driver saw, cumulative over runs. */
export interface NicLiteDriverCounters {
  /** Packets received intact and in order. */
  completed: number;
  /** Packets lost, corrupt, timed out, or refused because the device was dead. */
  failed: number;
  /** Packets skipped in the sequence or never received. */
  lost: number;
  /** Received packets whose length or payload was wrong. */
  corrupt: number;
  /** Intact packets whose sequence number was not expected (duplicates, strays); not an op outcome. */
  unexpected: number;
  timeouts: number;
  /** Timeouts with transmit descriptors still not done (the device stopped working). */
  txHangs: number;
  failedFast: number;
  /** Queue interrupts taken. */
  interrupts: number;
  /** Interrupts on the other vectors (TX-only, mailbox). */
  otherInterrupts: number;
  /** Packets found by polling rather than in the interrupt handler. */
  polledPackets: number;
}

/**
 * The guest driver of nic-lite, written like Linux igbvf without xmit_more batching:
 * one TDT write per packet; the queue interrupt handler reads EICR, reaps RX
 * descriptors (checking each packet's sequence number and payload), cleans TX
 * descriptors, gives the buffers back with one RDT write per batch and re-enables the
 * cause with EIMS. Every register, descriptor and buffer access goes through the guest CPU.
 * @example
 * const driver = new NicLiteDriver({ name: 'nic0' });
 * driver.probe(ctx);
 * driver.run(200); // { completed: 200, failed: 0 }
 */
export class NicLiteDriver implements GuestDriver {
  readonly device: string;
  readonly opName: string;
  /** `mmio`: each operation is one hot-register access (`MmioLoop`), not a packet. */
  readonly workload: WorkloadKind;
  readonly options: NicLiteOptions;
  readonly tuning: NicLiteDriverTuning;
  readonly counters: NicLiteDriverCounters = {
    completed: 0,
    failed: 0,
    lost: 0,
    corrupt: 0,
    unexpected: 0,
    timeouts: 0,
    txHangs: 0,
    failedFast: 0,
    interrupts: 0,
    otherInterrupts: 0,
    polledPackets: 0,
  };
  /** STATUS read at the last timeout (0xffffffff: the device answers all-ones, e.g. a frozen PE). */
  lastStatus: number | undefined;
  /** The device stopped working; packets fail until `recover()`. */
  dead = false;
  /** Guest vectors per MSI-X entry, from the last MSI-X set-up. */
  vectors: number[] = [];

  private ctx: GuestContext | undefined;
  private fn: GuestPciFunction | undefined;
  private cpu!: GuestCpu;
  private bar0 = 0;
  private txRing = 0;
  private rxRing = 0;
  private txBuffers = 0;
  private rxBuffers = 0;
  private readonly txStride: number;
  private readonly ring: number;
  private txTail = 0;
  private txClean = 0;
  private txInUse = 0;
  private rxClean = 0;
  private rxUse = 0;
  /** Next sequence number to send; packets [expectSeq, nextSeq) are in flight. */
  private nextSeq = 0;
  private expectSeq = 0;
  private running = false;
  private recoverPending = false;
  private cleaning = false;
  private cleanAgain = false;
  private loop: MmioLoop | undefined;

  /**
   * @param input - the plugin's options (the driver uses name, ringSize, packetBytes, vectors)
   * @param tuning - timeout tuning (tests shorten it)
   */
  constructor(input: NicLiteInput | NicLiteOptions = {}, tuning: Partial<NicLiteDriverTuning> = {}) {
    this.options = resolveNicLiteOptions(input);
    this.device = this.options.name;
    this.tuning = { ...NIC_DRIVER_DEFAULTS, ...tuning };
    this.ring = this.options.ringSize;
    this.txStride = Math.ceil(this.options.packetBytes / 64) * 64;
    this.workload = this.options.workload;
    this.opName = this.workload === 'mmio' ? 'MMIO access' : 'packet';
  }

  /**
   * Finds the VF, allocates rings and buffers in guest RAM, resets the VF, programs the
   * rings, sets up MSI-X and enables the queue interrupt.
   * @throws VhwError E_NOT_FOUND when the function or BAR0 is missing; E_STATE when the VF does not answer
   */
  probe(ctx: GuestContext): void {
    this.ctx = ctx;
    this.cpu = ctx.cpu;
    const { fn, bar } = findDriverBar(ctx.bus, this.device, 0, 'nic-lite');
    this.fn = fn;
    this.bar0 = bar.gpa;
    if (this.txRing === 0) {
      const os = ctx.os;
      this.txRing = os.alloc(this.ring * DESC_SIZE);
      this.rxRing = os.alloc(this.ring * DESC_SIZE);
      this.txBuffers = os.alloc(this.ring * this.txStride);
      this.rxBuffers = os.alloc(this.ring * RX_BUFFER_BYTES);
    }
    this.initDevice();
    if (this.workload === 'mmio') this.loop = this.mmioLoop();
  }

  /**
   * The MMIO workload's loop over the hot registers nic-lite names: reads of those a read
   * does not change (EICR is read-to-clear: not read), writes that leave the VF as it is
   * (the tails they hold, the mask already set; EICR not written).
   */
  private mmioLoop(): MmioLoop {
    const hot = new RegisterMap(this.device, NIC_REGISTER_NAMES).hot().filter((r) => r.offset !== NicReg.EICR);
    const current: Readonly<Record<number, () => number>> = {
      [NicReg.TDT]: () => this.txTail,
      [NicReg.RDT]: () => this.rxUse,
      [NicReg.EIMS]: () => Cause.Queue0,
    };
    const writes: LoopWrite[] = hot.flatMap((r) => {
      const value = current[r.offset];
      return value ? [{ name: r.name, offset: r.offset, value }] : [];
    });
    return new MmioLoop(this.cpu, this.bar0, hot, writes, this.options.mmioReadPercent, 4);
  }

  /**
   * Sends `packets` packets, each looped back by the device and checked on receipt.
   * @returns how many arrived intact and in order, and how many failed; `completed + failed === packets`
   * @throws VhwError E_STATE before `probe`
   */
  run(packets: number): { completed: number; failed: number } {
    if (this.txRing === 0) throw new VhwError('E_STATE', `nic-lite driver ${this.device}: run() before probe()`);
    if (this.loop) {
      this.loop.run(packets);
      return { completed: packets, failed: 0 };
    }
    if (!Number.isSafeInteger(packets) || packets < 0)
      throw new VhwError('E_RANGE', `nic-lite driver: packets ${String(packets)}; allowed: a non-negative integer`);
    const c0 = this.counters.completed;
    const f0 = this.counters.failed;
    const limit = this.ring - 1;
    this.running = true;
    try {
      for (let k = 0; k < packets; k++) {
        if (this.recoverPending) this.doRecover(true);
        while (!this.dead && (this.txInUse >= limit || this.nextSeq - this.expectSeq >= limit)) this.waitForProgress();
        if (this.dead) {
          this.counters.failed++;
          this.counters.failedFast++;
          continue;
        }
        // Delay the interrupt (IDE) unless this is the last packet of the burst or a ring is about to fill.
        const urgent = k === packets - 1 || this.txInUse + 1 >= limit || this.nextSeq + 1 - this.expectSeq >= limit;
        this.send(urgent);
      }
      while (!this.dead && this.nextSeq !== this.expectSeq) this.waitForProgress();
    } finally {
      this.running = false;
    }
    if (this.recoverPending) this.doRecover(false);
    return { completed: this.counters.completed - c0, failed: this.counters.failed - f0 };
  }

  /**
   * The VF was reset under the driver (EEH recovery): resets and re-programs it, and
   * sets up MSI-X again. Packets in flight are counted lost (a NIC driver does not
   * retransmit). Called during `run()`, it takes effect at the driver's next safe point.
   * @throws VhwError E_STATE when the VF does not come back (outside a run)
   */
  recover(): void {
    if (this.txRing === 0) throw new VhwError('E_STATE', `nic-lite driver ${this.device}: recover() before probe()`);
    if (this.running) {
      this.recoverPending = true;
      return;
    }
    this.doRecover(false);
  }

  // ---- set-up ----

  private initDevice(): void {
    const ctx = this.ctx!;
    const fn = this.fn!;
    const cpu = this.cpu;
    enableDeviceMem(fn);
    const status = this.r32(NicReg.STATUS);
    if (status === 0xffffffff)
      throw new VhwError('E_STATE', `nic-lite driver ${this.device}: STATUS reads all-ones; the VF does not answer`);
    this.w32(NicReg.EIMC, 0xffffffff);
    this.w32(NicReg.CTRL, CTRL_RST);
    for (let i = 0; (this.r32(NicReg.CTRL) & CTRL_RST) !== 0; i++) {
      if (i >= this.tuning.pollLimit) throw new VhwError('E_STATE', `nic-lite driver ${this.device}: CTRL.RST did not clear`);
      cpu.work(this.tuning.pollIntervalNs);
    }
    // Rings: TX empty, RX with every buffer but one given to the VF.
    for (let i = 0; i < this.ring; i++) {
      cpu.store(this.txRing + i * DESC_SIZE, 8, 0, 0);
      cpu.store(this.txRing + i * DESC_SIZE + 8, 8, 0, 0);
      this.fillRx(i);
    }
    this.txTail = this.txClean = this.txInUse = 0;
    this.rxClean = 0;
    this.rxUse = this.ring - 1;
    this.expectSeq = this.nextSeq;
    this.w32(NicReg.TDBAL, this.txRing % 2 ** 32);
    this.w32(NicReg.TDBAH, Math.floor(this.txRing / 2 ** 32));
    this.w32(NicReg.TDLEN, this.ring * DESC_SIZE);
    this.w32(NicReg.TDH, 0);
    this.w32(NicReg.TDT, 0);
    this.w32(NicReg.TXDCTL, QUEUE_ENABLE);
    this.w32(NicReg.RDBAL, this.rxRing % 2 ** 32);
    this.w32(NicReg.RDBAH, Math.floor(this.rxRing / 2 ** 32));
    this.w32(NicReg.RDLEN, this.ring * DESC_SIZE);
    this.w32(NicReg.RDH, 0);
    this.w32(NicReg.RXDCTL, QUEUE_ENABLE);
    this.w32(NicReg.RDT, this.rxUse);

    this.vectors = ctx.os.enableMsix(ctx.bus, fn, this.options.vectors);
    this.vectors.forEach((v, entry) => {
      ctx.os.requestIrq(v, entry === 0 ? () => this.interrupt() : () => this.counters.otherInterrupts++);
    });
    // Queue cause: auto-masked when it fires (re-enabled by the handler), not auto-cleared (the handler reads EICR).
    this.w32(NicReg.EIAC, 0);
    this.w32(NicReg.EIAM, Cause.Queue0);
    this.w32(NicReg.EIMS, Cause.Queue0);
  }

  /** Gives RX descriptor `i` its buffer, status cleared. */
  private fillRx(i: number): void {
    const d = this.rxRing + i * DESC_SIZE;
    const buf = this.rxBuffers + i * RX_BUFFER_BYTES;
    this.cpu.store(d, 8, buf % 2 ** 32, Math.floor(buf / 2 ** 32));
    this.cpu.store(d + 8, 8, 0, 0);
  }

  // ---- datapath ----

  private send(urgent: boolean): void {
    const cpu = this.cpu;
    const seq = this.nextSeq >>> 0;
    const bytes = this.options.packetBytes;
    const buf = this.txBuffers + this.txTail * this.txStride;
    for (let off = 0; off < bytes; off += 4) cpu.store(buf + off, 4, nicLitePayloadWord(seq, off));
    const d = this.txRing + this.txTail * DESC_SIZE;
    const cmd = TxCmd.EOP | TxCmd.IFCS | TxCmd.RS | (urgent ? 0 : TxCmd.IDE);
    cpu.store(d, 8, buf % 2 ** 32, Math.floor(buf / 2 ** 32));
    cpu.store(d + 8, 8, (bytes | (cmd << 24)) >>> 0, 0);
    this.txTail = (this.txTail + 1) % this.ring;
    this.txInUse++;
    this.nextSeq++;
    // Bookkeeping is complete before the tail write: the loop-back and its interrupt happen inside this store.
    this.w32(NicReg.TDT, this.txTail);
  }

  /** The queue vector's handler: read (and so clear) the cause, clean the rings, re-enable the cause. */
  private interrupt(): void {
    this.counters.interrupts++;
    const eicr = this.r32(NicReg.EICR);
    if (eicr === 0xffffffff) return; // the VF is gone; the timeout path deals with it
    this.clean();
    this.w32(NicReg.EIMS, Cause.Queue0);
  }

  /** Reaps received packets, cleans sent descriptors and refills RX (one RDT write). Returns packets reaped. */
  private clean(): number {
    if (this.cleaning) {
      this.cleanAgain = true;
      return 0;
    }
    this.cleaning = true;
    let total = 0;
    try {
      do {
        this.cleanAgain = false;
        total += this.cleanOnce();
      } while (this.cleanAgain);
    } finally {
      this.cleaning = false;
    }
    return total;
  }

  private cleanOnce(): number {
    const cpu = this.cpu;
    let reaped = 0;
    // At most ring - 1 descriptors can be ready; the bound also protects against a device writing DD everywhere.
    while (reaped < this.ring - 1) {
      const d = this.rxRing + this.rxClean * DESC_SIZE;
      const st = cpu.load(d + 12, 4);
      if ((st & DescStatus.DD) === 0) break;
      const len = cpu.load(d + 8, 4) & 0xffff;
      this.check(this.rxBuffers + this.rxClean * RX_BUFFER_BYTES, len);
      // Clear the write-back now: this descriptor may be the one the driver holds back from the VF.
      cpu.store(d + 8, 8, 0, 0);
      this.rxClean = (this.rxClean + 1) % this.ring;
      reaped++;
    }
    while (this.txInUse > 0 && (cpu.load(this.txRing + this.txClean * DESC_SIZE + 12, 4) & DescStatus.DD) !== 0) {
      this.txClean = (this.txClean + 1) % this.ring;
      this.txInUse--;
    }
    if (reaped > 0) {
      for (let k = 0; k < reaped; k++) {
        this.fillRx(this.rxUse);
        this.rxUse = (this.rxUse + 1) % this.ring;
      }
      this.w32(NicReg.RDT, this.rxUse);
    }
    return reaped;
  }

  /** Checks one received packet against the sequence: in order and intact completes it; a gap fails the skipped ones. */
  private check(buf: number, len: number): void {
    const cpu = this.cpu;
    const w0 = cpu.load(buf, 4) >>> 0;
    let intact = len === this.options.packetBytes && cpu.load(buf + 4, 4) >>> 0 === ~w0 >>> 0;
    for (let off = 8; intact && off < len; off += 4) {
      if (cpu.load(buf + off, 4) >>> 0 !== nicLitePayloadWord(w0, off)) intact = false;
    }
    const expect = this.expectSeq >>> 0;
    const inFlight = this.nextSeq - this.expectSeq;
    if (!intact) {
      this.counters.corrupt++;
      if (inFlight > 0) {
        // Charge it to the oldest packet in flight.
        this.counters.failed++;
        this.expectSeq++;
      } else this.counters.unexpected++;
      return;
    }
    const ahead = (w0 - expect) >>> 0;
    if (ahead >= inFlight) {
      this.counters.unexpected++;
      return;
    }
    if (ahead > 0) {
      this.counters.lost += ahead;
      this.counters.failed += ahead;
    }
    this.counters.completed++;
    this.expectSeq += ahead + 1;
  }

  /**
   * Polls the RX ring in guest RAM until something arrives (or TX descriptors free up).
   * After `pollLimit` idle polls the packets in flight are declared lost; if transmit
   * descriptors are still pending too, or STATUS reads all-ones, the device is dead.
   */
  private waitForProgress(): void {
    const seq = this.expectSeq;
    const tx = this.txInUse;
    for (let i = 0; i < this.tuning.pollLimit; i++) {
      if (this.recoverPending) {
        this.doRecover(true);
        return;
      }
      this.counters.polledPackets += this.clean();
      if (this.expectSeq !== seq || this.txInUse < tx) return;
      this.cpu.work(this.tuning.pollIntervalNs);
    }
    this.timeout();
  }

  private timeout(): void {
    this.counters.timeouts++;
    const status = this.r32(NicReg.STATUS);
    this.lastStatus = status;
    this.loseInFlight();
    if (status === 0xffffffff || this.txInUse > 0) {
      if (status !== 0xffffffff) this.counters.txHangs++;
      this.dead = true;
    }
  }

  private loseInFlight(): void {
    const lost = this.nextSeq - this.expectSeq;
    this.counters.lost += lost;
    this.counters.failed += lost;
    this.expectSeq = this.nextSeq;
  }

  private doRecover(inRun: boolean): void {
    this.recoverPending = false;
    this.loseInFlight();
    try {
      this.initDevice();
    } catch (e) {
      this.dead = true;
      if (!inRun) throw e;
      return;
    }
    this.dead = false;
    this.lastStatus = undefined;
  }

  // ---- registers ----

  private r32(offset: number): number {
    return this.cpu.mmioLoad(this.bar0 + offset, 4) >>> 0;
  }

  private w32(offset: number, value: number): void {
    this.cpu.mmioStore(this.bar0 + offset, 4, value >>> 0);
  }

  /** Where the driver's rings are, for reports. */
  describe(): string {
    return `${this.device}: TX ring ${hex(this.txRing)}, RX ring ${hex(this.rxRing)}, ${this.ring} descriptors each`;
  }
}
