import { type AccessConstraints, type MmioHandler, VhwError, WatchedFlag, hex } from '@vhw/core';
import { CapId, Cfg, Command, ConfigSpace, Status } from './config-space.js';
import { MsixTable } from './msix.js';
import { BarRegisterCounters, type RegisterCount, RegisterMap, type RegisterNames } from './registers.js';

export type BarKind = 'mem32' | 'mem64' | 'io';

/** One BAR as a device declares it. */
export interface BarDecl {
  index: number;
  size: number;
  kind?: BarKind;
  prefetchable?: boolean;
  /** A label for maps and reports ("registers", "msix"). */
  label?: string;
  /**
   * The parts of this BAR userspace may mmap, when the device describes them itself, as a
   * vfio variant driver, a mediated device's parent or a vfio-user server does: the list
   * vfio-pci reports as the region's sparse-mmap capability in place of the one it would
   * compute. Offsets and sizes are within the BAR; areas may not overlap; an empty list
   * means nothing of the BAR may be mapped. Absent (the default): vfio-pci decides alone.
   * Only memory BARs have one. The host page size is unknown here (a device does not know
   * where it runs): vfio-pci checks that the areas are whole host pages when it binds.
   */
  sparseAreas?: readonly SparseAreaDecl[];
}

/** One area of a BAR a device lets userspace mmap (an entry of a sparse-mmap list). */
export interface SparseAreaDecl {
  /** Offset of the area in the BAR, in bytes. */
  offset: number;
  /** Bytes in the area (more than 0). */
  size: number;
}

/** Where a function's MSI-X table and PBA live. */
export interface MsixDecl {
  vectors: number;
  tableBar: number;
  tableOffset: number;
  pbaBar: number;
  pbaOffset: number;
}

/** An extra capability structure in config space (for layout checks and discovery). */
export interface CapabilityDecl {
  id: number;
  offset: number;
  length: number;
}

export interface PciDeviceSpec {
  name: string;
  vendorId: number;
  deviceId: number;
  classCode: number;
  revision?: number;
  bars: BarDecl[];
  msix?: MsixDecl;
  capabilities?: CapabilityDecl[];
  /**
   * The device's register names per BAR (optional): reports and `vhw explain` name the
   * registers with them, and `hot` ones are what the MMIO workload and per-register
   * reports look at. See `RegisterNames`.
   */
  registers?: RegisterNames;
}

/** Services the host bridge gives a device: DMA through the platform's IOMMU and MSI delivery. */
export interface PciDeviceBus {
  /** Reads a dword at a bus (IO virtual) address; all-ones when the platform blocks the DMA. */
  dmaRead32(iova: number): number;
  /** Writes a dword; false when the platform blocked it (IOMMU fault, frozen PE). */
  dmaWrite32(iova: number, value: number): boolean;
  dmaRead(iova: number, out: Uint8Array): boolean;
  dmaWrite(iova: number, data: Uint8Array): boolean;
}

export const MSIX_CAP_OFFSET = 0x40;

/** True for 1, 2, 4, ... up to 2^52 (works beyond 32 bits, unlike bit tricks). */
export function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}
const MSIX_CAP_LENGTH = 12;

/** Checks a device declaration; every problem names the device, the BAR and the field. */
export function validatePciDeviceSpec(spec: PciDeviceSpec): void {
  const who = `device "${spec.name}"`;
  const fail = (msg: string): never => {
    throw new VhwError('E_CONFIG', `${who}: ${msg}`);
  };
  if (typeof spec.name !== 'string' || spec.name.length === 0) fail('name must be a non-empty string');
  for (const [f, v, max] of [
    ['vendorId', spec.vendorId, 0xffff],
    ['deviceId', spec.deviceId, 0xffff],
    ['classCode', spec.classCode, 0xffffff],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > max) fail(`${f} is ${String(v)}; allowed: an integer 0..${hex(max)}`);
  }
  if (!Array.isArray(spec.bars)) fail('bars must be an array');
  const used = new Map<number, string>();
  for (const bar of spec.bars) {
    const b = `BAR${bar.index}`;
    if (!Number.isInteger(bar.index) || bar.index < 0 || bar.index > 5) fail(`BAR index ${String(bar.index)}; allowed: 0..5`);
    const kind = bar.kind ?? 'mem32';
    if (kind !== 'mem32' && kind !== 'mem64' && kind !== 'io') fail(`${b} kind "${String(kind)}"; allowed: mem32, mem64, io`);
    const min = kind === 'io' ? 4 : 16;
    if (!isPowerOfTwo(bar.size) || bar.size < min) {
      fail(`${b} size ${String(bar.size)}; allowed: a power of two >= ${min} bytes`);
    }
    if (kind === 'mem32' && bar.size > 2 ** 31) fail(`${b} size ${hex(bar.size)} does not fit a 32-bit BAR; use kind mem64`);
    if (kind === 'io' && bar.size > 256) fail(`${b} I/O size ${bar.size}; allowed: at most 256 bytes`);
    if (kind === 'mem64' && bar.index === 5) fail(`${b} is 64-bit but a 64-bit BAR needs two slots; allowed: index 0..4`);
    if (kind === 'io' && bar.prefetchable) fail(`${b} is an I/O BAR and cannot be prefetchable`);
    if (bar.sparseAreas !== undefined) validateSparseAreas(bar, fail);
    const slots = kind === 'mem64' ? [bar.index, bar.index + 1] : [bar.index];
    for (const s of slots) {
      const prev = used.get(s);
      if (prev) fail(`${b} overlaps ${prev} in BAR slot ${s}`);
      used.set(s, b);
    }
  }
  const caps: Array<{ what: string; start: number; end: number }> = [{ what: 'the type 0 header', start: 0, end: 0x40 }];
  if (spec.msix) {
    const m = spec.msix;
    if (!Number.isInteger(m.vectors) || m.vectors < 1 || m.vectors > 2048) fail(`msix.vectors ${String(m.vectors)}; allowed: 1..2048`);
    const tableSize = m.vectors * 16;
    const pbaSize = Math.ceil(m.vectors / 64) * 8;
    for (const [field, barIdx, off, size] of [
      ['msix.table', m.tableBar, m.tableOffset, tableSize],
      ['msix.pba', m.pbaBar, m.pbaOffset, pbaSize],
    ] as const) {
      const bar = spec.bars.find((b) => b.index === barIdx);
      if (!bar)
        fail(
          `${field} is in BAR${String(barIdx)}, which is not declared; declared: ${spec.bars.map((b) => `BAR${b.index}`).join(', ') || 'none'}`,
        );
      if ((bar!.kind ?? 'mem32') === 'io') fail(`${field} is in BAR${barIdx}, an I/O BAR; allowed: a memory BAR`);
      if (!Number.isInteger(off) || off < 0 || off % 8 !== 0)
        fail(`${field} offset ${String(off)}; allowed: a multiple of 8 inside BAR${barIdx}`);
      if (off + size > bar!.size) {
        fail(`${field} [${hex(off)}, ${hex(off + size)}) lies outside BAR${barIdx} (size ${hex(bar!.size)})`);
      }
    }
    if (m.tableBar === m.pbaBar && m.tableOffset < m.pbaOffset + pbaSize && m.pbaOffset < m.tableOffset + tableSize) {
      fail(
        `msix table [${hex(m.tableOffset)}, ${hex(m.tableOffset + tableSize)}) overlaps the PBA [${hex(m.pbaOffset)}, ${hex(m.pbaOffset + pbaSize)}) in BAR${m.tableBar}`,
      );
    }
    caps.push({ what: 'the MSI-X capability', start: MSIX_CAP_OFFSET, end: MSIX_CAP_OFFSET + MSIX_CAP_LENGTH });
  }
  for (const c of spec.capabilities ?? []) {
    if (!Number.isInteger(c.offset) || c.offset % 4 !== 0 || c.offset < 0x40 || c.offset + c.length > 0x100) {
      fail(`capability ${hex(c.id)} at offset ${String(c.offset)}; allowed: dword aligned within [0x40, 0x100)`);
    }
    for (const o of caps) {
      if (c.offset < o.end && o.start < c.offset + c.length) fail(`capability ${hex(c.id)} at ${hex(c.offset)} overlaps ${o.what}`);
    }
    caps.push({ what: `capability ${hex(c.id)} at ${hex(c.offset)}`, start: c.offset, end: c.offset + c.length });
  }
}

/**
 * Checks a BAR's own sparse-mmap list: a memory BAR's, each area a positive number of bytes
 * inside the BAR, no two overlapping (the sparse-mmap capability is a list of disjoint areas).
 */
function validateSparseAreas(bar: BarDecl, fail: (msg: string) => never): void {
  const field = `BAR${bar.index} sparseAreas`;
  const areas = bar.sparseAreas;
  if (!Array.isArray(areas)) fail(`${field} must be an array of { offset, size }`);
  if ((bar.kind ?? 'mem32') === 'io')
    fail(`${field}: BAR${bar.index} is an I/O BAR, which is never mmapped; allowed: only on a memory BAR`);
  areas!.forEach((a, i) => {
    const where = `${field}[${i}]`;
    if (!Number.isSafeInteger(a.offset) || a.offset < 0 || a.offset >= bar.size)
      fail(`${where}.offset ${String(a.offset)}; allowed: an integer 0..${hex(bar.size - 1)} (inside BAR${bar.index})`);
    if (!Number.isSafeInteger(a.size) || a.size <= 0 || a.offset + a.size > bar.size)
      fail(
        `${where}.size ${String(a.size)}; allowed: an integer 1..${hex(bar.size - a.offset)} (the area must end inside BAR${bar.index})`,
      );
  });
  const sorted = areas!.map((a, i) => ({ ...a, i })).sort((x, y) => x.offset - y.offset);
  for (let k = 1; k < sorted.length; k++) {
    const prev = sorted[k - 1]!;
    const cur = sorted[k]!;
    if (cur.offset < prev.offset + prev.size) {
      fail(
        `${field}[${cur.i}] [${hex(cur.offset)}, ${hex(cur.offset + cur.size)}) overlaps ${field}[${prev.i}] [${hex(prev.offset)}, ${hex(prev.offset + prev.size)}); allowed: disjoint areas`,
      );
    }
  }
}

/** Default register access rules: naturally aligned 1-8 byte accesses, handled as 1-4. */
const DEFAULT_BAR_CONSTRAINTS: AccessConstraints = { valid: { sizes: [1, 2, 4, 8] }, impl: { min: 1, max: 4 } };
const MSIX_CONSTRAINTS: AccessConstraints = { valid: { sizes: [4, 8] }, impl: { min: 4, max: 4 } };

/**
 * The base class device plugins extend. A device declares its BARs and MSI-X layout
 * and implements register reads and writes per BAR offset; the base builds config
 * space (IDs, command, BARs with sizing semantics, capability list with MSI-X) and
 * routes the MSI-X table and PBA ranges to the MsixTable model. A device never learns
 * where its BARs are, whether it is passed through or which platform it runs on.
 */
export abstract class PciDevice {
  readonly spec: PciDeviceSpec;
  readonly name: string;
  readonly config: ConfigSpace;
  readonly msix: MsixTable | undefined;
  private bus: PciDeviceBus | undefined;
  /** The device's register names (empty when its spec names none). */
  readonly registers: RegisterMap;
  /** The handler objects the host maps: their `read`/`write` are swapped when counting turns on or off. */
  private readonly handlers: MmioHandler[] = [];
  /** The plain register handlers, kept to switch counting off again. */
  readonly #plain: MmioHandler[] = [];
  readonly #registerCounters: BarRegisterCounters[] = [];
  #counting = false;

  constructor(spec: PciDeviceSpec) {
    validatePciDeviceSpec(spec);
    this.spec = spec;
    this.name = spec.name;
    this.config = new ConfigSpace(256);
    this.msix = spec.msix ? new MsixTable(spec.msix.vectors) : undefined;
    this.registers = new RegisterMap(spec.name, spec.registers, new Map(spec.bars.map((b) => [b.index, b.size])));
    this.initConfig();
    for (const bar of spec.bars) {
      const h = this.makeHandler(bar);
      this.#plain[bar.index] = h;
      this.handlers[bar.index] = { read: h.read, write: h.write };
    }
  }

  /**
   * Switches per-register counting on or off (a state change, as a freeze is: the BAR
   * handlers the host holds are swapped in place, so an access pays for counting only
   * while it is on). Counts accumulate until `clearRegisterCounts()`.
   */
  countRegisters(on: boolean): void {
    if (on === this.#counting) return;
    this.#counting = on;
    for (const bar of this.spec.bars) {
      const h = this.handlers[bar.index]!;
      const plain = this.#plain[bar.index]!;
      if (!on) {
        h.read = plain.read;
        h.write = plain.write;
        continue;
      }
      this.#registerCounters[bar.index] ??= new BarRegisterCounters(bar.index, bar.size);
      const c = this.#registerCounters[bar.index]!;
      const { reads, writes, sizes } = c;
      h.read = (off, size) => {
        const i = off >>> 2;
        reads[i] = reads[i]! + 1;
        sizes[i] = sizes[i]! | size;
        return plain.read(off, size);
      };
      h.write = (off, size, value) => {
        const i = off >>> 2;
        writes[i] = writes[i]! + 1;
        sizes[i] = sizes[i]! | size;
        plain.write(off, size, value);
      };
    }
  }

  /** Whether per-register counting is on. */
  get countingRegisters(): boolean {
    return this.#counting;
  }

  /** The registers accessed since counting started (or was cleared), by BAR then offset. */
  registerCounts(): RegisterCount[] {
    return this.#registerCounters.flatMap((c) => (c ? c.touched() : []));
  }

  /** Zeroes the per-register counts. */
  clearRegisterCounts(): void {
    for (const c of this.#registerCounters) c?.clear();
  }

  /** Implemented by the device: a register read at `offset` within BAR `bar`. */
  protected abstract readRegister(bar: number, offset: number, size: 1 | 2 | 4): number;
  /** Implemented by the device: a register write. */
  protected abstract writeRegister(bar: number, offset: number, size: 1 | 2 | 4, value: number): void;
  /** Device reset (function level): clear device state. MSI-X and config are reset by the base. */
  protected abstract resetRegisters(): void;

  /** The access sizes a BAR's registers accept. Override for stricter devices. */
  barConstraints(_bar: number): AccessConstraints {
    return DEFAULT_BAR_CONSTRAINTS;
  }

  /** The register handler of a BAR, with offsets relative to the BAR (used by the host bridge). */
  barHandler(bar: number): MmioHandler {
    const h = this.handlers[bar];
    if (!h) throw new VhwError('E_NOT_FOUND', `device "${this.name}" has no BAR${bar}`);
    return h;
  }

  bar(index: number): BarDecl | undefined {
    return this.spec.bars.find((b) => b.index === index);
  }

  /** Connects the device to its host bridge (DMA and MSI). */
  attach(bus: PciDeviceBus): void {
    this.bus = bus;
  }

  protected get dma(): PciDeviceBus {
    if (!this.bus) throw new VhwError('E_STATE', `device "${this.name}" is not attached to a bus`);
    return this.bus;
  }

  /** Raises MSI-X vector `v` (pending if masked, dropped and counted if MSI-X is off). */
  protected raiseMsix(v: number): void {
    this.msix?.raise(v);
  }

  /** Function-level reset: registers, MSI-X state and the command register. */
  reset(): void {
    this.resetRegisters();
    this.msix?.reset();
    this.config.setRaw(Cfg.Command, 2, 0);
    this.memoryEnabled = false;
    // A slot reset clears the BARs: whoever owns the device must program them again.
    for (const bar of this.spec.bars) {
      const kind = bar.kind ?? 'mem32';
      const off = Cfg.Bar0 + bar.index * 4;
      this.config.setRaw(off, 4, kind === 'io' ? 0x1 : (kind === 'mem64' ? 0x4 : 0) | (bar.prefetchable ? 0x8 : 0));
      if (kind === 'mem64') this.config.setRaw(off + 4, 4, 0);
    }
    if (this.msix) this.config.setRaw(MSIX_CAP_OFFSET + 2, 2, this.spec.msix!.vectors - 1);
  }

  /** Memory decode (command bit 1), kept in step with config space, with the watchers told when it changes (the BARs' gates re-route their mappings). */
  readonly memoryEnabledFlag = new WatchedFlag(false);

  /** Memory decode (command bit 1). */
  get memoryEnabled(): boolean {
    return this.memoryEnabledFlag.on;
  }
  set memoryEnabled(on: boolean) {
    this.memoryEnabledFlag.set(on);
  }

  get busMasterEnabled(): boolean {
    return (this.config.command & Command.BusMaster) !== 0;
  }

  /** The address programmed in BAR `index` (both halves for 64-bit BARs), or 0. */
  barAddress(index: number): number {
    const decl = this.bar(index);
    if (!decl) return 0;
    const lo = this.config.read(Cfg.Bar0 + index * 4, 4);
    if ((decl.kind ?? 'mem32') === 'io') return (lo & ~0x3) >>> 0;
    const base = (lo & 0xfffffff0) >>> 0;
    if (decl.kind === 'mem64') return base + this.config.read(Cfg.Bar0 + (index + 1) * 4, 4) * 2 ** 32;
    return base;
  }

  /** Programs BAR `index` (host bridge or guest firmware). */
  setBarAddress(index: number, address: number): void {
    const decl = this.bar(index);
    if (!decl) throw new VhwError('E_NOT_FOUND', `device "${this.name}" has no BAR${index}`);
    this.config.write(Cfg.Bar0 + index * 4, 4, address % 2 ** 32);
    if (decl.kind === 'mem64') this.config.write(Cfg.Bar0 + (index + 1) * 4, 4, Math.floor(address / 2 ** 32));
  }

  private initConfig(): void {
    const c = this.config;
    const s = this.spec;
    c.init(Cfg.VendorId, 2, s.vendorId);
    c.init(Cfg.DeviceId, 2, s.deviceId);
    c.init(Cfg.Command, 2, 0, Command.Io | Command.Memory | Command.BusMaster | Command.IntxDisable);
    c.init(Cfg.Revision, 1, s.revision ?? 0);
    c.init(Cfg.ClassCode, 1, s.classCode & 0xff);
    c.init(Cfg.ClassCode + 1, 2, (s.classCode >>> 8) & 0xffff);
    c.init(Cfg.InterruptLine, 1, 0, 0xff);
    for (const bar of s.bars) {
      const kind = bar.kind ?? 'mem32';
      const off = Cfg.Bar0 + bar.index * 4;
      if (kind === 'io') {
        c.init(off, 4, 0x1, (~(bar.size - 1) & 0xfffffffc) >>> 0);
      } else {
        c.initMemoryBar(off, bar.size, (kind === 'mem64' ? 0x4 : 0) | (bar.prefetchable ? 0x8 : 0), kind === 'mem64');
      }
    }
    let next = 0;
    const caps = [...(s.capabilities ?? [])].sort((a, b) => b.offset - a.offset);
    if (s.msix) {
      const m = s.msix;
      c.init(MSIX_CAP_OFFSET, 1, CapId.MsiX);
      // Message control: table size - 1 (RO), function mask (bit 14) and enable (bit 15) writable.
      c.init(MSIX_CAP_OFFSET + 2, 2, m.vectors - 1, 0xc000);
      c.init(MSIX_CAP_OFFSET + 4, 4, (m.tableOffset | m.tableBar) >>> 0);
      c.init(MSIX_CAP_OFFSET + 8, 4, (m.pbaOffset | m.pbaBar) >>> 0);
    }
    // Chain: extra capabilities in descending offset, MSI-X first.
    for (const cap of caps) {
      c.init(cap.offset, 1, cap.id);
      c.init(cap.offset + 1, 1, next);
      next = cap.offset;
    }
    if (s.msix) {
      c.init(MSIX_CAP_OFFSET + 1, 1, next);
      next = MSIX_CAP_OFFSET;
    }
    if (next !== 0) {
      c.init(Cfg.CapabilitiesPointer, 1, next);
      c.init(Cfg.Status, 2, Status.CapabilitiesList);
    }
    c.onWrite = (dword) => {
      if (dword === Cfg.Command) this.memoryEnabled = (this.config.command & Command.Memory) !== 0;
      if (this.msix && dword === MSIX_CAP_OFFSET) {
        const ctl = this.config.read(MSIX_CAP_OFFSET + 2, 2);
        this.msix.setControl((ctl & 0x8000) !== 0, (ctl & 0x4000) !== 0);
      }
    };
  }

  private makeHandler(bar: BarDecl): MmioHandler {
    const m = this.spec.msix;
    const msix = this.msix;
    const idx = bar.index;
    const tableStart = m && m.tableBar === idx ? m.tableOffset : -1;
    const tableEnd = tableStart >= 0 ? tableStart + m!.vectors * 16 : -1;
    const pbaStart = m && m.pbaBar === idx ? m.pbaOffset : -1;
    const pbaEnd = pbaStart >= 0 ? pbaStart + Math.ceil(m!.vectors / 64) * 8 : -1;
    if (tableStart < 0 && pbaStart < 0) {
      return {
        read: (off, size) => this.readRegister(idx, off, size),
        write: (off, size, value) => this.writeRegister(idx, off, size, value),
      };
    }
    return {
      read: (off, size) => {
        if (off >= tableStart && off < tableEnd) return msix!.readTable(off - tableStart, size);
        if (off >= pbaStart && off < pbaEnd) return msix!.readPba(off - pbaStart, size);
        return this.readRegister(idx, off, size);
      },
      write: (off, size, value) => {
        if (off >= tableStart && off < tableEnd) msix!.writeTable(off - tableStart, size, value);
        else if (off >= pbaStart && off < pbaEnd) msix!.writePba();
        else this.writeRegister(idx, off, size, value);
      },
    };
  }

  /** Access rules of the MSI-X structures (dword or qword, aligned). */
  static readonly msixConstraints = MSIX_CONSTRAINTS;
}
