import type { MachineEvents, SimClock } from '@vhw/core';
import type { HostBridgePolicy } from './platform-policy.js';
import type { HostBridgeCounters, PciFunction } from './pci-function.js';

/** An MSI the host set up for a function: the message and the host IRQ number. */
export interface MsiMessage {
  addressLo: number;
  addressHi: number;
  data: number;
  irq: number;
}

/** What runs when a host IRQ fires. */
export type IrqHandler = (irq: number) => void;

/** Where the MSI router reports and whom it asks. */
export interface MsiRouterOptions {
  /** Address of the interrupt controller's MSI doorbell. */
  msiAddress: number;
  policy: HostBridgePolicy;
  counters: HostBridgeCounters;
  events: MachineEvents;
  clock: SimClock;
  /** A DMA write that is not an MSI: handed to the DMA path's fault handling. */
  dmaFault: (fn: PciFunction, iova: number) => void;
}

/**
 * The host's MSI routing (the interrupt controller's side of MSIs): allocates host IRQs
 * and remembers which function owns each, holds the handler of each IRQ, and delivers a
 * device's MSI write after the platform's validation.
 */
export class MsiRouter {
  readonly msiAddress: number;
  private readonly irqOwner = new Map<number, PciFunction>();
  private readonly irqHandlers = new Map<number, IrqHandler>();
  private nextIrq = 0x20;

  constructor(private readonly o: MsiRouterOptions) {
    this.msiAddress = o.msiAddress;
  }

  /** Sets up `count` MSIs owned by `fn` and returns their messages. */
  allocate(fn: PciFunction, count: number): MsiMessage[] {
    const out: MsiMessage[] = [];
    for (let i = 0; i < count; i++) {
      const irq = this.nextIrq++;
      this.irqOwner.set(irq, fn);
      out.push({ addressLo: this.msiAddress % 2 ** 32, addressHi: Math.floor(this.msiAddress / 2 ** 32), data: irq, irq });
    }
    return out;
  }

  /** Frees host IRQs and their handlers. */
  free(irqs: readonly number[]): void {
    for (const irq of irqs) {
      this.irqOwner.delete(irq);
      this.irqHandlers.delete(irq);
    }
  }

  /** Sets (or, with undefined, clears) the handler of a host IRQ. */
  setHandler(irq: number, handler: IrqHandler | undefined): void {
    if (handler) this.irqHandlers.set(irq, handler);
    else this.irqHandlers.delete(irq);
  }

  /** The owner of a host IRQ, if allocated. */
  ownerOf(irq: number): PciFunction | undefined {
    return this.irqOwner.get(irq);
  }

  /** An MSI memory write from `source`. Validated by the platform, then handed to the IRQ's handler. */
  deliver(source: PciFunction, addressLo: number, addressHi: number, data: number): void {
    const { policy, counters } = this.o;
    const address = addressHi * 2 ** 32 + addressLo;
    if (policy.msiBlockedByFreeze?.(source) === true) {
      counters.msiBlocked++;
      this.note(source, data, 'pe-frozen');
      return;
    }
    if (address !== this.msiAddress) {
      // Not an MSI: a DMA write somewhere else, which the IOMMU must translate.
      counters.msiSpurious++;
      this.o.dmaFault(source, address);
      return;
    }
    const owner = this.irqOwner.get(data);
    if (policy.validateMsi?.(source, owner) === false) {
      counters.msiBlocked++;
      this.note(source, data, 'msi-validation');
      return;
    }
    if (owner === undefined) {
      counters.msiSpurious++;
      this.note(source, data, 'no-such-irq');
      return;
    }
    if (owner.group !== source.group) counters.msiCrossGroupDelivered++;
    counters.msiDelivered++;
    const h = this.irqHandlers.get(data);
    if (h) h(data);
    else this.note(source, data, 'no-handler');
  }

  /** An undelivered interrupt: rare, and what a security experiment watches, so always reported. */
  private note(source: PciFunction, vector: number, reason: string): void {
    this.o.events.emit('interrupt', { source: source.name, vector, delivered: false, reason, timeNs: this.o.clock.now });
  }
}
