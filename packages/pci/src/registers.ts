import { VhwError, hex } from '@vhw/core';

/**
 * One named register of a BAR, as a device's datasheet lists it. `hot` marks the
 * registers a driver touches on every operation (doorbells, tails, status polls): the
 * registers a per-register report and the MMIO workload look at first.
 */
export interface RegisterName {
  /** The datasheet's name (`SQ0TDBL`, `CSTS`, `TDT`): letters, digits, `_` and `.`. */
  readonly name: string;
  /** Byte offset within the BAR. */
  readonly offset: number;
  /** Width in bytes (1, 2, 4 or 8). */
  readonly size: 1 | 2 | 4 | 8;
  /** Touched on every operation of the device's usual workload. */
  readonly hot?: boolean;
}

/** A device's register names, per BAR index: what a device plugin (or an outside author) provides. */
export type RegisterNames = Readonly<Partial<Record<number, readonly RegisterName[]>>>;

/** Where a named register lives. */
export interface RegisterLocation {
  readonly bar: number;
  readonly offset: number;
  readonly size: 1 | 2 | 4 | 8;
  readonly name: string;
  readonly hot: boolean;
}

const NAME = /^[A-Za-z][A-Za-z0-9_.]*$/;

/**
 * The register names of one device, looked up both ways: (BAR, offset) → name, and
 * name → (BAR, offset, size). Built once from a `RegisterNames` table; lookups never
 * allocate per call beyond the returned record.
 * @example
 * const map = new RegisterMap('nvme0', { 0: [{ name: 'CSTS', offset: 0x1c, size: 4, hot: true }] });
 * map.nameAt(0, 0x1c); // 'CSTS'
 * map.find('CSTS'); // { bar: 0, offset: 0x1c, size: 4, name: 'CSTS', hot: true }
 */
export class RegisterMap {
  private readonly byName = new Map<string, RegisterLocation>();
  private readonly byBar = new Map<number, RegisterLocation[]>();

  /**
   * @param device - the device's name, for messages
   * @param names - the table, per BAR
   * @param barSizes - BAR index → size, to check every register lies inside its BAR
   * @throws VhwError E_CONFIG for a bad name, a duplicate, a bad size, or a register outside its BAR
   */
  constructor(
    readonly device: string,
    names: RegisterNames = {},
    barSizes?: ReadonlyMap<number, number>,
  ) {
    for (const [key, list] of Object.entries(names)) {
      const bar = Number(key);
      const fail = (msg: string): never => {
        throw new VhwError('E_CONFIG', `device "${device}" register names, BAR${key}: ${msg}`);
      };
      if (!Number.isInteger(bar) || bar < 0 || bar > 5) fail('allowed BAR indexes: 0..5');
      const size = barSizes?.get(bar);
      if (barSizes && size === undefined) fail('the device declares no such BAR');
      const out: RegisterLocation[] = [];
      for (const r of list ?? []) {
        if (typeof r.name !== 'string' || !NAME.test(r.name))
          fail(`name ${JSON.stringify(r.name)}; allowed: a letter then letters, digits, "_", "."`);
        if (![1, 2, 4, 8].includes(r.size)) fail(`${r.name} size ${String(r.size)}; allowed: 1, 2, 4, 8`);
        if (!Number.isInteger(r.offset) || r.offset < 0 || r.offset % r.size !== 0)
          fail(`${r.name} offset ${String(r.offset)}; allowed: a multiple of its size`);
        if (size !== undefined && r.offset + r.size > size) fail(`${r.name} at ${hex(r.offset)} lies outside the BAR (size ${hex(size)})`);
        if (this.byName.has(r.name)) fail(`${r.name} is named twice`);
        const loc: RegisterLocation = { bar, offset: r.offset, size: r.size, name: r.name, hot: r.hot === true };
        this.byName.set(r.name, loc);
        out.push(loc);
      }
      this.byBar.set(
        bar,
        out.sort((a, b) => a.offset - b.offset),
      );
    }
  }

  /** The name of the register covering byte `offset` of BAR `bar`, or undefined. */
  nameAt(bar: number, offset: number): string | undefined {
    const list = this.byBar.get(bar);
    if (!list) return undefined;
    // Binary search for the last register starting at or before `offset`.
    let lo = 0;
    let hi = list.length - 1;
    let found: RegisterLocation | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const r = list[mid]!;
      if (r.offset <= offset) {
        found = r;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found && offset < found.offset + found.size ? found.name : undefined;
  }

  /** Where register `name` lives, or undefined (names are case-sensitive, as in datasheets). */
  find(name: string): RegisterLocation | undefined {
    return this.byName.get(name);
  }

  /** Every named register, by BAR then offset. */
  all(): RegisterLocation[] {
    return [...this.byBar.keys()].sort((a, b) => a - b).flatMap((b) => this.byBar.get(b)!);
  }

  /** The registers marked hot, by BAR then offset. */
  hot(): RegisterLocation[] {
    return this.all().filter((r) => r.hot);
  }

  /** Some register names, for messages (`CAP, VS, ... (12 in all)`). */
  summary(max = 8): string {
    const names = this.all().map((r) => r.name);
    return names.length === 0
      ? 'none'
      : names.length <= max
        ? names.join(', ')
        : `${names.slice(0, max).join(', ')}, ... (${names.length} in all)`;
  }
}

/**
 * Per-register access counts of one device, kept by its BAR handlers while counting is on
 * (`PciDevice.countRegisters(true)`): reads and writes per dword of each BAR, and the
 * access sizes seen there (a bit mask of 1, 2, 4). Counting is a state change, not a
 * per-access test: while it is off the BAR handlers run without it.
 */
export interface RegisterCount {
  bar: number;
  /** Dword-aligned offset within the BAR. */
  offset: number;
  /** The largest access size seen at this dword (an 8-byte guest access reaches the device as two dwords). */
  size: 1 | 2 | 4;
  reads: number;
  writes: number;
}

/** The counters of one BAR: reads and writes per dword, and the sizes seen (bit mask). */
export class BarRegisterCounters {
  readonly reads: Uint32Array;
  readonly writes: Uint32Array;
  readonly sizes: Uint8Array;

  constructor(
    readonly bar: number,
    barSize: number,
  ) {
    const dwords = Math.ceil(barSize / 4);
    this.reads = new Uint32Array(dwords);
    this.writes = new Uint32Array(dwords);
    this.sizes = new Uint8Array(dwords);
  }

  /** The dwords that were touched, in offset order. */
  touched(): RegisterCount[] {
    const out: RegisterCount[] = [];
    for (let i = 0; i < this.reads.length; i++) {
      const r = this.reads[i]!;
      const w = this.writes[i]!;
      if (r === 0 && w === 0) continue;
      const m = this.sizes[i]!;
      out.push({ bar: this.bar, offset: i * 4, size: m & 4 ? 4 : m & 2 ? 2 : 1, reads: r, writes: w });
    }
    return out;
  }

  clear(): void {
    this.reads.fill(0);
    this.writes.fill(0);
    this.sizes.fill(0);
  }
}
