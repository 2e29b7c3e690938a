import { type CostModel, VhwError } from '@vhw/core';
import { HostBridge, type HostBridgeOptions, type HostBridgePolicy, type IsolationGroup, type PciDevice } from '@vhw/pci';
import { type EehState, type FreezeScope, PhbEeh } from './eeh.js';
import { M32Segments, type Segment } from './m32-segments.js';

export type { EehState } from './eeh.js';

export interface Ppc64PhbOptions extends HostBridgeOptions {
  /** Patch 1: every memory BAR aligned to the page size (what the allocator does; the platform's facts state it). */
  alignBars: boolean;
  /** PEs of the PHB, including the reserved last one (PHB3: 256, PE#255 reserved). */
  peCount: number;
  /** "device": each device is its own PE (own bus under a root port); "bus": all devices share one PE. */
  peGranularity: 'device' | 'bus';
  /** Whether a frozen PE's MSIs are blocked (on IODA2 MSIs are DMA writes from the PE). */
  freezeBlocksMsi: boolean;
  costs: CostModel;
}

/**
 * A PowerNV IODA2-like PHB: the M32 window split into one segment per PE
 * (`M32Segments`), each device's BARs packed inside its PE's segments with natural
 * alignment (or page alignment under patch 1), per-PE EEH freeze and MSI validation
 * (`PhbEeh`) and a TCE table per PE. EEH is on when the platform's facts say so.
 */
export class Ppc64Phb extends HostBridge {
  readonly m32: M32Segments;
  readonly eehUnit: PhbEeh;

  constructor(o: Ppc64PhbOptions) {
    const m32 = new M32Segments(o.name, o.window, o.peCount, o.platform.pageSize);
    const eeh = new PhbEeh({
      enabled: o.platform.eeh,
      freezeBlocksMsi: o.freezeBlocksMsi,
      events: o.events,
      clock: o.clock,
      costs: o.costs,
    });
    super({ ...o, policy: phbPolicy(o, m32, eeh) });
    this.m32 = m32;
    this.eehUnit = eeh;
  }

  get segmentSize(): number {
    return this.m32.segmentSize;
  }
  get segments(): readonly Segment[] {
    return this.m32.segments;
  }
  /** The PE number reserved by the PHB (the last one). */
  get reservedPe(): number {
    return this.m32.reservedPe;
  }
  /** The segment containing a host address, if inside M32. */
  segmentAt(addr: number): Segment | undefined {
    return this.m32.segmentAt(addr);
  }
  /** Segments in use (patch 1 raises this). */
  get segmentsUsed(): number {
    return this.m32.used;
  }

  // ---- EEH ----
  eehState(group: IsolationGroup | string): EehState {
    return this.eehUnit.state(typeof group === 'string' ? this.group(group) : group);
  }

  /** A PE by id. @throws VhwError E_NOT_FOUND listing the PEs. */
  group(id: string): IsolationGroup {
    const g = this.groups.find((x) => x.id === id);
    if (!g) throw new VhwError('E_NOT_FOUND', `PHB ${this.name}: no PE "${id}"; PEs: ${this.groups.map((x) => x.id).join(', ')}`);
    return g;
  }

  /** Freezes a PE (what the PHB does on an error it detects, or error injection). */
  freeze(group: IsolationGroup, what: FreezeScope, cause: string): void {
    this.eehUnit.freeze(group, what, cause);
  }

  /** Error injection (as EEH's error-injection interface): freezes the PE. @throws VhwError E_STATE with EEH off. */
  injectError(groupId: string, what: FreezeScope = 'both'): void {
    if (!this.eehUnit.enabled) throw new VhwError('E_STATE', `PHB ${this.name}: EEH is disabled; enable it (eeh: true) to inject errors`);
    this.freeze(this.group(groupId), what, 'error injection');
  }
}

/** The PHB's answers to its host bridge: PEs, M32 segments and EEH. */
function phbPolicy(o: Ppc64PhbOptions, m32: M32Segments, eeh: PhbEeh): HostBridgePolicy {
  const alignment = o.alignBars ? o.platform.pageSize : 0;
  return {
    groupIdFor: (device: PciDevice, slot: number) => {
      const pe = o.peGranularity === 'bus' ? 0 : slot;
      if (pe >= m32.reservedPe) {
        throw new VhwError(
          'E_ALLOCATION',
          `PHB ${o.name}: no PE left for "${device.name}" (PE#${m32.reservedPe} is reserved; ${m32.reservedPe} usable)`,
        );
      }
      return `${o.name}:pe${pe}`;
    },
    barAlignment: () => alignment,
    placeBars: (groups) => m32.placeBars(groups, alignment),
    segmentsIn: (base, size) => m32.segmentsIn(base, size),
    unassignedAccess: (addr, size, _isWrite, reason) => eeh.unassignedAccess(m32.segmentAt(addr)?.pe, addr, size, reason),
    validateMsi: (source, owner) => eeh.validateMsi(source, owner),
    msiBlockedByFreeze: (source) => eeh.msiBlockedByFreeze(source),
    dmaFault: (fn, iova) => eeh.dmaFault(fn, iova),
    resetGroup: (group, restore) => eeh.recover(group, restore),
  };
}
