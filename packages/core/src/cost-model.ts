import { VhwError } from './errors.js';

export type CostUnit = 'ns' | 'cycles' | 'Hz' | 'x' | 'ms' | 'count';
export type Confidence = 'high' | 'medium' | 'low';

/**
 * A named cost parameter. Every number the simulated clock charges comes from one of
 * these, and each carries the source it was taken from; results are outputs of the
 * mechanism times these parameters, never typed in.
 */
export interface CostParameter {
  name: string;
  default: number;
  unit: CostUnit;
  description: string;
  source: string;
  confidence: Confidence;
  /** Smallest allowed value (default 0). */
  min?: number;
}

/**
 * The parameters core itself charges, each with its source;
 * x86 figures stand in where no POWER8 figure could be cited, and say so.
 */
export const CORE_COST_PARAMETERS: readonly CostParameter[] = [
  {
    name: 'cpu.hz',
    default: 3.5e9,
    unit: 'Hz',
    description: 'guest/host CPU clock, converts cycle parameters to nanoseconds',
    source: 'typical POWER8 clock',
    confidence: 'low',
    min: 1,
  },
  {
    name: 'mem.ramAccessNs',
    default: 1,
    unit: 'ns',
    description: 'one guest RAM access through a stage-2 mapping (cache-friendly, no exit)',
    source: 'order of magnitude of an L1/L2 hit; not measured here',
    confidence: 'low',
  },
  {
    name: 'dev.mmioReadNs',
    default: 800,
    unit: 'ns',
    description: 'non-posted PCIe read round trip to a device register',
    source: 'common knowledge of PCIe read latency; not measured here',
    confidence: 'low',
  },
  {
    name: 'dev.mmioWriteNs',
    default: 50,
    unit: 'ns',
    description: 'issue cost of a posted PCIe write to a device register',
    source: 'posted writes do not wait for completion; not measured here',
    confidence: 'low',
  },
  {
    name: 'exit.inKernelRoundTripCycles',
    default: 2500,
    unit: 'cycles',
    description: 'guest exit handled in the host kernel and re-entry (KVM_RUN entry to exit)',
    source: 'LKML thread on SVM vmload vs wrgsbase, Dec 2020: about 2,528 cycles (x86 AMD, stands in for POWER8)',
    confidence: 'medium',
  },
  {
    name: 'exit.userspaceFactor',
    default: 3.0,
    unit: 'x',
    description: 'cost of an exit to the VMM in userspace relative to an in-kernel exit',
    source:
      'kvm-unit-tests x86/vmexit.c inl_from_qemu vs inl_from_kernel (46,747 vs 15,218 cycles in a nested-VMX cover letter; ratio only)',
    confidence: 'low',
    min: 1,
  },
  {
    name: 'guest.ioStackNs',
    default: 5000,
    unit: 'ns',
    description:
      'guest CPU work per workload operation outside MMIO and interrupts (system call, block or network stack, driver bookkeeping)',
    source:
      'order of magnitude of the Linux kernel stack per I/O request: microseconds per request (Yang, Minturn, Hady, "When Poll Is Better than Interrupt", FAST 2012); not measured here, not fitted; set 0 to see the MMIO path alone',
    confidence: 'low',
  },
  {
    name: 'irq.exitsPerInterrupt',
    default: 2,
    unit: 'count',
    description: 'in-kernel exits per delivered device interrupt (injection and EOI)',
    source: 'ELI (Gordon et al., ASPLOS 2012): without exitless interrupts each interrupt costs a delivery exit and an EOI exit',
    confidence: 'medium',
  },
];

/** A field of the model with its resolved value, for reports. */
export interface CostRow extends CostParameter {
  value: number;
  overridden: boolean;
}

/**
 * The cost model: parameters contributed by core and plugins, defaults raised or lowered
 * by the platform, and overrides from the scenario. Unknown names are refused with the
 * list of known ones, so a typo cannot silently leave a default in place.
 */
export class CostModel {
  private readonly params = new Map<string, CostParameter>();
  private readonly values = new Map<string, number>();
  private readonly overridden = new Set<string>();

  constructor(
    parameters: readonly CostParameter[],
    platformDefaults: Readonly<Record<string, number>> = {},
    overrides: Readonly<Record<string, number>> = {},
  ) {
    for (const p of parameters) {
      if (this.params.has(p.name)) {
        throw new VhwError('E_CONFIG', `cost parameter "${p.name}" is declared twice`);
      }
      this.params.set(p.name, p);
      this.values.set(p.name, p.default);
    }
    for (const [k, v] of Object.entries(platformDefaults)) this.set(k, v, 'platform default');
    for (const [k, v] of Object.entries(overrides)) {
      this.set(k, v, 'override');
      this.overridden.add(k);
    }
  }

  get names(): string[] {
    return [...this.params.keys()].sort();
  }

  has(name: string): boolean {
    return this.params.has(name);
  }

  private set(name: string, value: number, what: string): void {
    const p = this.params.get(name);
    if (p === undefined) {
      throw new VhwError(
        'E_CONFIG',
        `cost.${name} (${what}) is not a cost parameter; allowed: ${this.names.map((n) => `cost.${n}`).join(', ')}`,
      );
    }
    if (typeof value !== 'number' || !Number.isFinite(value) || value < (p.min ?? 0)) {
      throw new VhwError('E_CONFIG', `cost.${name} (${what}) is ${String(value)}; allowed: a finite number >= ${p.min ?? 0} (${p.unit})`);
    }
    this.values.set(name, value);
  }

  /** The raw value in the parameter's own unit. */
  get(name: string): number {
    const v = this.values.get(name);
    if (v === undefined) {
      throw new VhwError('E_NOT_FOUND', `cost.${name} is not a cost parameter; allowed: ${this.names.map((n) => `cost.${n}`).join(', ')}`);
    }
    return v;
  }

  /** Cycles converted to nanoseconds at `cpu.hz`. */
  cyclesToNs(cycles: number): number {
    return (cycles / this.get('cpu.hz')) * 1e9;
  }

  /** A parameter as nanoseconds (cycles converted at cpu.hz, ms scaled). */
  ns(name: string): number {
    const p = this.params.get(name);
    const v = this.get(name);
    if (p?.unit === 'cycles') return this.cyclesToNs(v);
    if (p?.unit === 'ms') return v * 1e6;
    if (p?.unit === 'ns') return v;
    throw new VhwError('E_CONFIG', `cost.${name} is in ${p?.unit}, not a time`);
  }

  /** Exit to the VMM in userspace and back: in-kernel round trip times the userspace factor. */
  get userspaceExitNs(): number {
    return this.ns('exit.inKernelRoundTripCycles') * this.get('exit.userspaceFactor');
  }

  /** Delivering one device interrupt to the guest. */
  get interruptNs(): number {
    return this.ns('exit.inKernelRoundTripCycles') * this.get('irq.exitsPerInterrupt');
  }

  rows(): CostRow[] {
    return this.names.map((n) => ({ ...this.params.get(n)!, value: this.get(n), overridden: this.overridden.has(n) }));
  }

  /** The values as a plain record, for results. */
  toJSON(): Record<string, number> {
    return Object.fromEntries(this.names.map((n) => [n, this.get(n)]));
  }
}
