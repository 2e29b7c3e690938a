import { Cfg, type HostBridge } from '@vhw/pci';

/** One memory BAR as a BAR table lists it: who owns it, where it is decoded and how big it is. */
export interface BarTableEntry {
  device: string;
  /** The isolation group (IOMMU group, PE) of the device. */
  group: string;
  index: number;
  address: number;
  size: number;
}

/** A device whose BAR addresses are read from its config space. */
export interface BarSource {
  device: string;
  group: string;
  /** Its memory BARs (index and size, from its declaration or a sizing probe). */
  bars: ReadonlyArray<{ index: number; size: number }>;
  /** A 4-byte config read at `offset` (the BAR registers are read from it). */
  configRead(offset: number, size: 4): number;
}

/** A window cut into equal segments that each belong to one group (PowerNV M32 segments). */
export interface SegmentGeometry {
  base: number;
  size: number;
  count: number;
}

/** Whether a BAR register holds a 64-bit memory BAR (type bits 2:1 = 10b). */
function is64(low: number): boolean {
  return (low & 0x7) === 0x4;
}

/**
 * The BAR table of `sources`, read from their BAR registers as firmware or a kernel reads
 * it: the low register's address bits and, for a 64-bit BAR, the upper register.
 */
export function readBarTable(sources: readonly BarSource[]): BarTableEntry[] {
  const out: BarTableEntry[] = [];
  for (const s of sources) {
    for (const b of s.bars) {
      const low = s.configRead(Cfg.Bar0 + b.index * 4, 4) >>> 0;
      const high = is64(low) ? s.configRead(Cfg.Bar0 + b.index * 4 + 4, 4) >>> 0 : 0;
      out.push({ device: s.device, group: s.group, index: b.index, address: high * 2 ** 32 + ((low & 0xfffffff0) >>> 0), size: b.size });
    }
  }
  return out;
}

/** The host's BAR sources: every function on `bridge`, its memory BARs as declared, its own config space (no freeze gate). */
export function hostBarSources(bridge: HostBridge): BarSource[] {
  return bridge.functions.map((fn) => ({
    device: fn.name,
    group: fn.group.id,
    bars: fn.device.spec.bars.filter((b) => b.kind !== 'io'),
    configRead: (off: number) => fn.device.config.read(off, 4),
  }));
}

/** The guest's BAR sources: each function of the guest's PCI bus, read through the guest's config accesses (no groups). */
export function guestBarSources(
  functions: ReadonlyArray<{
    name: string;
    bars: ReadonlyArray<{ index: number; size: number }>;
    configRead(offset: number, size: 4): number;
  }>,
): BarSource[] {
  return functions.map((f) => ({ device: f.name, group: '', bars: f.bars, configRead: (off: number) => f.configRead(off, 4) }));
}

function overlaps(a: number, aLen: number, b: number, bLen: number): boolean {
  return a < b + bLen && b < a + aLen;
}

const hex = (n: number) => `0x${n.toString(16)}`;

/**
 * Who owns which byte, recomputed from a BAR table alone (and, where the platform has
 * them, the segment geometry): an oracle for isolation that shares no code with the host
 * bridge's own bookkeeping. A byte belongs to the device whose BAR decodes it; a segment
 * belongs to the groups whose BARs lie in it.
 */
export class BarTableOracle {
  constructor(
    readonly table: readonly BarTableEntry[],
    readonly segments?: SegmentGeometry,
  ) {}

  /** The BAR that decodes byte `addr`, if any. */
  barAt(addr: number): BarTableEntry | undefined {
    return this.table.find((b) => addr >= b.address && addr < b.address + b.size);
  }

  /** Every BAR with a byte in `[addr, addr + size)`. */
  barsIn(addr: number, size: number): BarTableEntry[] {
    return this.table.filter((b) => overlaps(b.address, b.size, addr, size));
  }

  /** The index of the segment holding `addr`, or undefined outside the segmented window. */
  segmentOf(addr: number): number | undefined {
    const g = this.segments;
    if (!g) return undefined;
    const s = Math.floor((addr - g.base) / g.size);
    return s >= 0 && s < g.count ? s : undefined;
  }

  /** The groups with a BAR in segment `s`. */
  segmentGroups(s: number): Set<string> {
    const g = this.segments!;
    return new Set(this.barsIn(g.base + s * g.size, g.size).map((b) => b.group));
  }

  /**
   * What a direct mapping of host `[hostPa, hostPa + size)` given to `owner` would expose
   * that is not the owner's: another device's BAR bytes, and (with segments) a segment
   * holding another group's BARs, or host addresses outside the segmented window.
   * @returns one line per thing exposed; empty when the mapping exposes only the owner.
   */
  exposes(hostPa: number, size: number, owner: { device: string; group: string }): string[] {
    const out: string[] = [];
    for (const b of this.barsIn(hostPa, size)) {
      if (b.device !== owner.device) out.push(`host ${hex(hostPa)}+${hex(size)} holds ${b.device} BAR${b.index} at ${hex(b.address)}`);
    }
    const g = this.segments;
    if (g) {
      const first = Math.floor((hostPa - g.base) / g.size);
      const last = Math.floor((hostPa + size - 1 - g.base) / g.size);
      if (first < 0 || last >= g.count) out.push(`host ${hex(hostPa)}+${hex(size)} reaches outside the segmented window`);
      for (let s = Math.max(first, 0); s <= Math.min(last, g.count - 1); s++) {
        for (const grp of this.segmentGroups(s))
          if (grp !== owner.group) out.push(`host ${hex(hostPa)}+${hex(size)} touches segment ${s} of ${grp}`);
      }
    }
    return out;
  }

  /** Host pages of `pageSize` that hold bytes of a group other than `group`, in address order. */
  foreignGroupPages(group: string, pageSize: number): number[] {
    const pages = new Set<number>();
    for (const b of this.table) {
      if (b.group === group) continue;
      for (let p = Math.floor(b.address / pageSize) * pageSize; p < b.address + b.size; p += pageSize) pages.add(p);
    }
    return [...pages].sort((a, b) => a - b);
  }
}

/** A direct guest mapping: guest pages `[gpa, gpa + size)` backed by host `[hostPa, hostPa + size)`. */
export interface DirectMappingFacts {
  name: string;
  gpa: number;
  hostPa: number;
  size: number;
  owner: string | undefined;
}

/**
 * Checks one direct guest mapping against the host and guest BAR tables: it exposes only
 * its owner on the host side (`BarTableOracle.exposes`), and on the guest side its pages
 * hold exactly one guest BAR, the owner's, mapped linearly (guest offset in the BAR equals
 * host offset) onto that BAR's host pages.
 * @returns one line per violation, each starting with the mapping's name.
 */
export function directMappingViolations(m: DirectMappingFacts, host: BarTableOracle, guest: BarTableOracle, pageSize: number): string[] {
  const owner = host.table.find((b) => b.device === m.owner);
  if (!owner) return [`${m.name}: owner ${String(m.owner)} has no BAR in the host table`];
  const out = host.exposes(m.hostPa, m.size, owner).map((v) => `${m.name}: ${v}`);
  const guestBars = guest.barsIn(
    m.gpa - (m.gpa % pageSize),
    Math.ceil((m.gpa + m.size) / pageSize) * pageSize - (m.gpa - (m.gpa % pageSize)),
  );
  if (guestBars.length !== 1) {
    out.push(
      `${m.name}: guest pages hold ${guestBars.length} guest BARs (${guestBars.map((b) => `${b.device} BAR${b.index}`).join(', ')}), not one`,
    );
    return out;
  }
  const gb = guestBars[0]!;
  if (gb.device !== m.owner) out.push(`${m.name}: guest pages hold ${gb.device} BAR${gb.index}, not a BAR of ${String(m.owner)}`);
  const hb = host.table.find((b) => b.device === gb.device && b.index === gb.index);
  if (!hb) out.push(`${m.name}: ${gb.device} BAR${gb.index} has no host BAR`);
  else if (m.hostPa - hb.address !== m.gpa - gb.address)
    out.push(
      `${m.name}: guest offset ${hex(m.gpa - gb.address)} in ${gb.device} BAR${gb.index} maps host offset ${hex(m.hostPa - hb.address)}`,
    );
  return out;
}
