import { type Charge, type ChargeSpec, type CostModel, type MachineEvents, type SimClock, type UnassignedReason, hex } from '@vhw/core';
import type { IsolationGroup, PciFunction } from '@vhw/pci';

/** EEH state of a PE, as the platform reports it. */
export type EehState = 'normal' | 'mmio-frozen' | 'dma-frozen' | 'frozen';

/** What a PE freeze stops: its MMIO, its DMA (and MSIs, which are DMA writes), or both. */
export type FreezeScope = 'mmio' | 'dma' | 'both';

/** Holding a slot in reset during EEH recovery (rtas_set_slot_reset()). */
export const EEH_SLOT_RESET: ChargeSpec = { name: 'eeh.slotReset', parameters: ['eeh.slotResetHoldMs'] };

/** The settings and services of a PHB's EEH. */
export interface PhbEehOptions {
  /** EEH enabled: errors freeze the PE and MSIs are validated per PE. */
  enabled: boolean;
  /** Whether a frozen PE's MSIs are blocked (on IODA2 MSIs are DMA writes from the PE). */
  freezeBlocksMsi: boolean;
  events: MachineEvents;
  clock: SimClock;
  costs: CostModel;
}

/**
 * A PHB's Enhanced Error Handling: what freezes a PE (a stray MMIO access in its segment,
 * an MSI that fails validation, a DMA outside its TCE window, error injection), what a
 * frozen PE can no longer do, and the recovery sequence that brings it back.
 */
export class PhbEeh {
  /**
   * Resolved when the PHB is made, where the machine's cost model has the parameter (the
   * ppc64 platform contributes it); a PHB built on another platform resolves it when first
   * asked to recover, and fails there, as before, if it still is not there.
   */
  private slotReset: Charge | undefined;
  /**
   * The PEs being recovered, each with the freeze that arrived meanwhile (if any): the
   * recovery is about to unfreeze the PE, and must not clear a new error with the old one.
   */
  private readonly recovering = new Map<IsolationGroup, { what: FreezeScope; cause: string } | undefined>();

  constructor(private readonly o: PhbEehOptions) {
    if (EEH_SLOT_RESET.parameters.every((p) => o.costs.has(p))) this.slotReset = o.clock.meter.resolve(EEH_SLOT_RESET, o.costs);
  }

  get enabled(): boolean {
    return this.o.enabled;
  }

  /** The EEH state of a PE. */
  state(g: IsolationGroup): EehState {
    if (g.mmioFrozen && g.dmaFrozen) return 'frozen';
    if (g.mmioFrozen) return 'mmio-frozen';
    if (g.dmaFrozen) return 'dma-frozen';
    return 'normal';
  }

  /** Freezes a PE (what the PHB does on an error it detects, or error injection); emits `isolation` on a change. */
  freeze(group: IsolationGroup, what: FreezeScope, cause: string): void {
    if (this.recovering.has(group)) {
      // The PE is in reset: the error is held and applied when the recovery unfreezes it.
      const held = this.recovering.get(group);
      this.recovering.set(group, { what: held && held.what !== what ? 'both' : what, cause });
      return;
    }
    const before = this.state(group);
    if (what !== 'dma') group.mmioFrozen = true;
    if (what !== 'mmio') group.dmaFrozen = true;
    const after = this.state(group);
    if (after !== before) {
      group.freezes++;
      this.o.events.emit('isolation', { group: group.id, state: after, cause, timeNs: this.o.clock.now });
    }
  }

  /** An access in `pe`'s segment that no BAR decodes, or of a size its BAR refuses: freezes the PE. */
  unassignedAccess(pe: IsolationGroup | undefined, addr: number, size: number, reason: UnassignedReason): void {
    if (!pe || !this.o.enabled) return;
    const cause =
      reason === 'invalid-size'
        ? `${size}-byte access at ${hex(addr)} that the BAR does not accept`
        : `access at ${hex(addr)} decoded by no BAR of the PE`;
    this.freeze(pe, 'both', cause);
  }

  /** Per-PE MSI validation: an MSI passes only for a vector of the source's own PE; otherwise the source freezes. */
  validateMsi(source: PciFunction, owner: PciFunction | undefined): boolean {
    if (!this.o.enabled) return true;
    if (owner !== undefined && owner.group === source.group) return true;
    this.freeze(source.group, 'both', `MSI for a vector ${owner ? `of ${owner.group.id}` : 'not assigned to any PE'} failed validation`);
    return false;
  }

  /** Whether a frozen PE's MSIs are dropped. */
  msiBlockedByFreeze(source: PciFunction): boolean {
    return this.o.enabled && this.o.freezeBlocksMsi && source.group.frozen;
  }

  /** A DMA outside the PE's TCE window: freezes the PE. */
  dmaFault(fn: PciFunction, iova: number): void {
    if (this.o.enabled) this.freeze(fn.group, 'both', `DMA at ${hex(iova)} outside the PE's TCE window`);
  }

  /**
   * The recovery sequence after a freeze is detected: reset the slot (hold #RST for
   * eeh.slotResetHoldMs of simulated time), unfreeze, `restore` BARs and configuration.
   * The driver then re-initialises its device.
   */
  recover(g: IsolationGroup, restore: (fn: PciFunction) => void): void {
    const { events, clock } = this.o;
    const emit = (state: string, cause: string) => events.emit('isolation', { group: g.id, state, cause, timeNs: clock.now });
    this.recovering.set(g, undefined);
    let held: { what: FreezeScope; cause: string } | undefined;
    try {
      emit('recovering', 'freeze detected');
      for (const fn of g.functions) fn.device.reset();
      this.slotReset ??= this.o.clock.meter.resolve(EEH_SLOT_RESET, this.o.costs);
      this.slotReset.add();
      emit('reset', 'slot reset');
    } finally {
      held = this.recovering.get(g);
      this.recovering.delete(g);
    }
    g.mmioFrozen = false;
    g.dmaFrozen = false;
    emit('normal', 'unfrozen');
    if (held) {
      // An error arrived while the PE was in recovery: it is frozen again at once (another
      // freeze, counted), and left for the guest's EEH core to see and recover again.
      this.freeze(g, held.what, `${held.cause} (during recovery)`);
      return;
    }
    for (const fn of g.functions) restore(fn);
    emit('configured', 'BARs and configuration restored');
  }
}
