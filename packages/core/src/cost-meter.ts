import type { CostModel } from './cost-model.js';
import { VhwError } from './errors.js';

/**
 * Monotonic counts of the guest accesses, kept by the guest CPU on itself (the one
 * increment an access makes): RAM, direct (mapped MMIO) and trapped. The clock charges
 * each by count rather than one by one (a trap's exit only; what the VMM does after the
 * exit it charges itself) and the statistics report them.
 */
export interface CountedAccesses {
  readonly ramReads: number;
  readonly ramWrites: number;
  readonly directReads: number;
  readonly directWrites: number;
  readonly trapReads: number;
  readonly trapWrites: number;
}

/** Counts of a machine with no guest CPU. */
export const NO_COUNTED_ACCESSES: CountedAccesses = Object.freeze({
  ramReads: 0,
  ramWrites: 0,
  directReads: 0,
  directWrites: 0,
  trapReads: 0,
  trapWrites: 0,
});

/** What one counted access costs, in nanoseconds. */
export interface CountedAccessCosts {
  ramNs: number;
  directReadNs: number;
  directWriteNs: number;
  /** The userspace exit of a trapped access. */
  trapExitNs: number;
}

/** What the meter charges: the simulated clock (`SimClock`), as far as the meter uses it. */
export interface ChargedClock {
  /** Charges `ns`. */
  add(ns: number): void;
  /** The guest CPU's access counts the clock charges. */
  readonly countedAccesses: CountedAccesses;
  /** The cost of each counted access. */
  setCountedAccessCosts(costs: CountedAccessCosts): void;
}

/**
 * A named charge: what one event costs (the VMM's dispatch of a trapped access, an MSI-X
 * table write, a device register read), made of named cost parameters. Layers declare
 * their charges next to the parameters they contribute; the meter resolves each once, at
 * machine creation, into a `Charge` the layer keeps.
 */
export interface ChargeSpec {
  /** Dotted name the breakdown reports (`vmm.dispatch`, `device.read`). */
  readonly name: string;
  /** The cost parameters the time comes from (their sources are the charge's sources). */
  readonly parameters: readonly string[];
  /** The time in ns from the model; by default the sum of `parameters` as nanoseconds. */
  readonly ns?: (costs: CostModel) => number;
}

/** One row of the attribution: how often a named charge was made and the time it added. */
export interface ChargeRow {
  readonly name: string;
  /** The cost parameters behind it (empty for charges whose time each caller gives). */
  readonly parameters: readonly string[];
  /** The time of one charge, in ns (0 where each call gives its own). */
  readonly nsEach: number;
  /** Charges made while attribution was on. */
  readonly count: number;
  /** The simulated time those charges added, in ns. */
  readonly ns: number;
}

/** Where a charge adds its time: the clock, or its attributing stand-in while attribution is on. */
interface ChargeTarget {
  add(ns: number, times?: number): void;
}

/**
 * A resolved named charge: the handle a layer keeps and charges through. `add()` is one
 * addition to the clock, through a method small enough that V8 always inlines it (and the
 * clock's `add` into it), so a charge on the hot path costs what a direct `clock.add` did.
 * While the meter's switch is on, the charge adds through a stand-in that also counts it
 * (its `count` and `totalNs`); the hot path never tests the switch. A charge combined from
 * others (`CostMeter.combine`) adds their sum at once and attributes to each part.
 */
export class Charge {
  /** The time of one charge, in ns. */
  ns: number;
  /** Charges made while attribution was on. */
  count = 0;
  /** Time those charges added, in ns. */
  totalNs = 0;
  private target: ChargeTarget;

  /** @internal made by `CostMeter` only. */
  constructor(
    private readonly clock: ChargedClock,
    readonly name: string,
    readonly parameters: readonly string[],
    ns: number,
    /** The charges this one adds at once (empty for a plain charge). */
    readonly parts: readonly Charge[] = [],
  ) {
    this.ns = ns;
    this.target = clock;
  }

  /** Charges it once. */
  add(): void {
    this.target.add(this.ns);
  }

  /** Charges it `n` times, as one addition of `n` times its time. */
  addTimes(n: number): void {
    this.target.add(n * this.ns, n);
  }

  /** Charges `ns` under this name: for charges whose time is the caller's (driver tuning, device latency), not a cost parameter. */
  addNs(ns: number): void {
    this.target.add(ns);
  }

  /** Whether its attribution is kept (the meter's switch). */
  get attributed(): boolean {
    return this.target !== this.clock;
  }

  /** @internal the meter's switch. */
  setAttributed(on: boolean): void {
    if (on !== this.attributed) this.target = on ? new AttributingTarget(this, this.clock) : this.clock;
  }

  /** @internal counts `n` charges adding `ns` (to each part, at its own time, for a combined charge). */
  attribute(n: number, ns: number): void {
    if (this.parts.length === 0) {
      this.count += n;
      this.totalNs += ns;
      return;
    }
    for (const p of this.parts) {
      p.count += n;
      p.totalNs += n * p.ns;
    }
  }
}

/** A charge's target while attribution is on: counts the charge, then adds to the clock. */
class AttributingTarget implements ChargeTarget {
  constructor(
    private readonly charge: Charge,
    private readonly clock: ChargedClock,
  ) {}

  add(ns: number, times = 1): void {
    this.charge.attribute(times, ns);
    this.clock.add(ns);
  }
}

/** What the clock's counted accesses cost, as named charges (resolved by `CostMeter.countedAccessCharges`). */
export interface CountedAccessCharges {
  readonly ramAccess: Charge;
  readonly deviceRead: Charge;
  readonly deviceWrite: Charge;
  readonly trapExit: Charge;
}

/** A guest RAM access through a stage-2 mapping. */
export const RAM_ACCESS: ChargeSpec = { name: 'guest.ramAccess', parameters: ['mem.ramAccessNs'] };
/**
 * A read of a device register, wherever it is made from (a direct guest access, the VMM's
 * own mmap, the vfio fd): the one place `dev.mmioReadNs` is looked up.
 */
export const DEVICE_READ: ChargeSpec = { name: 'device.read', parameters: ['dev.mmioReadNs'] };
/** A write to a device register (posted), wherever it is made from. */
export const DEVICE_WRITE: ChargeSpec = { name: 'device.write', parameters: ['dev.mmioWriteNs'] };
/** A guest exit to the VMM in userspace and back (in-kernel round trip times the userspace factor). */
export const USERSPACE_EXIT: ChargeSpec = {
  name: 'exit.userspace',
  parameters: ['exit.inKernelRoundTripCycles', 'exit.userspaceFactor'],
  ns: (c) => c.userspaceExitNs,
};
/** Delivering one device interrupt to the guest (its in-kernel exits). */
export const INTERRUPT: ChargeSpec = {
  name: 'guest.interrupt',
  parameters: ['exit.inKernelRoundTripCycles', 'irq.exitsPerInterrupt'],
  ns: (c) => c.interruptNs,
};
/** The guest's I/O stack per workload operation (system call, block or network stack). */
export const GUEST_IO_STACK: ChargeSpec = { name: 'guest.ioStack', parameters: ['guest.ioStackNs'] };
/** Guest CPU work whose time the caller gives (driver poll intervals, modelled device latency). */
export const GUEST_WORK: ChargeSpec = { name: 'guest.work', parameters: [], ns: () => 0 };

/**
 * The one place that turns named charges into simulated time (the clock's accounting, as
 * crosvm's bus statistics are its bus's): every layer resolves its charges here once, at
 * machine creation, and charges through the handles; none computes a time itself.
 *
 * One switch, `attribution`: while on (it is on while the machine traces, or when asked),
 * each charge counts how often it was made and the time it added, and `breakdown()`
 * reports them with the counted guest accesses (RAM, direct and trap exits, which the clock
 * charges from the guest CPU's counts). While off a charge is one addition to the clock.
 */
export class CostMeter {
  private readonly charges = new Map<string, Charge>();
  private readonly combined: Charge[] = [];
  private asked = false;
  private tracing = false;
  private counted: CountedAccessCharges | undefined;
  private countedBase: CountedAccesses | undefined;

  constructor(private readonly clock: ChargedClock) {}

  /**
   * The handle of a named charge, its time resolved from `costs` now. Resolving a name
   * again returns the same handle with its time re-read (the costs changed), so every layer
   * charging it shares one attribution.
   * @throws VhwError E_CONFIG when the time is not a finite number of ns >= 0; E_NOT_FOUND for an unknown parameter.
   */
  resolve(spec: ChargeSpec, costs: CostModel): Charge {
    const ns = spec.ns ? spec.ns(costs) : spec.parameters.reduce((sum, p) => sum + costs.ns(p), 0);
    if (!Number.isFinite(ns) || ns < 0)
      throw new VhwError('E_CONFIG', `cost meter: charge ${spec.name} is ${String(ns)} ns; it must be a finite number >= 0`);
    let c = this.charges.get(spec.name);
    if (c === undefined) {
      c = new Charge(this.clock, spec.name, spec.parameters, ns);
      c.setAttributed(this.attribution);
      this.charges.set(spec.name, c);
    } else if (c.ns !== ns) {
      c.ns = ns;
      for (const k of this.combined) if (k.parts.includes(c)) k.ns = sumNs(k.parts);
    }
    return c;
  }

  /**
   * A charge made of `parts` always made together (a syscall and the device access behind
   * it): one addition of their sum, attributed to each part.
   */
  combine(parts: readonly Charge[]): Charge {
    const name = parts.map((p) => p.name).join('+');
    let c = this.charges.get(name);
    if (c === undefined) {
      c = new Charge(
        this.clock,
        name,
        parts.flatMap((p) => p.parameters),
        sumNs(parts),
        parts.flatMap((p) => (p.parts.length > 0 ? p.parts : [p])),
      );
      c.setAttributed(this.attribution);
      this.charges.set(name, c);
      this.combined.push(c);
    }
    return c;
  }

  /**
   * Resolves the costs of the clock's counted accesses (RAM, direct reads and writes, trap
   * exits) and has the clock charge its counts at them (the guest CPU calls this).
   */
  countedAccessCharges(costs: CostModel): CountedAccessCharges {
    const counted: CountedAccessCharges = {
      ramAccess: this.resolve(RAM_ACCESS, costs),
      deviceRead: this.resolve(DEVICE_READ, costs),
      deviceWrite: this.resolve(DEVICE_WRITE, costs),
      trapExit: this.resolve(USERSPACE_EXIT, costs),
    };
    this.clock.setCountedAccessCosts({
      ramNs: counted.ramAccess.ns,
      directReadNs: counted.deviceRead.ns,
      directWriteNs: counted.deviceWrite.ns,
      trapExitNs: counted.trapExit.ns,
    });
    this.counted = counted;
    return counted;
  }

  /** The switch: per-charge attribution kept (on while the machine traces, too). */
  get attribution(): boolean {
    return this.asked || this.tracing;
  }

  set attribution(on: boolean) {
    this.asked = on;
    this.applySwitch();
  }

  /** Attribution follows the machine's tracing as well as the switch (the machine calls this on a tracing change). */
  setTracing(on: boolean): void {
    this.tracing = on;
    this.applySwitch();
  }

  /**
   * The attribution since it was first switched on (or since the last reset): per named charge made at least
   * once, how often and the time it added; then the counted guest accesses (RAM, device
   * reads and writes made direct, trap exits), from the guest CPU's counts. In name order.
   * Empty while attribution is off and nothing was attributed.
   */
  breakdown(): ChargeRow[] {
    const rows = new Map<string, ChargeRow>();
    for (const c of this.charges.values()) {
      if (c.parts.length > 0 || c.count === 0) continue;
      rows.set(c.name, { name: c.name, parameters: c.parameters, nsEach: c.ns, count: c.count, ns: c.totalNs });
    }
    const counted = this.counted;
    const base = this.countedBase;
    if (counted && base) {
      const now = this.clock.countedAccesses;
      const countedRow = (name: string, charge: Charge, n: number) => {
        if (n > 0) rows.set(name, { name, parameters: charge.parameters, nsEach: charge.ns, count: n, ns: n * charge.ns });
      };
      countedRow('counted.ramAccess', counted.ramAccess, now.ramReads + now.ramWrites - base.ramReads - base.ramWrites);
      countedRow('counted.directRead', counted.deviceRead, now.directReads - base.directReads);
      countedRow('counted.directWrite', counted.deviceWrite, now.directWrites - base.directWrites);
      countedRow('counted.trapExit', counted.trapExit, now.trapReads + now.trapWrites - base.trapReads - base.trapWrites);
    }
    return [...rows.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Clears the attribution (the machine's reset does). */
  resetAttribution(): void {
    for (const c of this.charges.values()) {
      c.count = 0;
      c.totalNs = 0;
    }
    this.countedBase = this.attribution ? { ...this.clock.countedAccesses } : undefined;
  }

  private applySwitch(): void {
    const on = this.attribution;
    for (const c of this.charges.values()) c.setAttributed(on);
    if (on && this.countedBase === undefined) this.countedBase = { ...this.clock.countedAccesses };
  }
}

function sumNs(parts: readonly Charge[]): number {
  let ns = 0;
  for (const p of parts) ns += p.ns;
  return ns;
}
