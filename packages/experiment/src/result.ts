/**
 * The result contract of `vhw run --format json` (one object) and `vhw sweep --format
 * json` (an array). Tests and users' scripts depend on these names: extend, never rename.
 */
import type { PatchSet, Variant } from '@vhw/core';
import type { BarMsixRelocation, PageMapMsixRelocation } from './msix-relocation-report.js';

/** The patch toggles and variant of a run: the one vocabulary of core (`PATCHES`, `VARIANTS`). */
export type { PatchSet, Variant };
export type AreaPath = 'direct' | 'trap';

/**
 * How the VMM serves the traps of an area, once the guest has exited: `vfio-fd` (a
 * pread/pwrite on the vfio device fd, where the kernel's MSI-X table protection applies),
 * `vmm-mmap` (the VMM's own mmap of the page: no syscall, still an exit), `msix-emulation`
 * (the VMM's emulated MSI-X table) or `unassigned` (nothing decodes the address).
 */
export type TrapServedVia = 'vfio-fd' | 'vmm-mmap' | 'msix-emulation' | 'unassigned';

export interface BarArea {
  /** Offset within the BAR. */
  offset: number;
  size: number;
  path: AreaPath;
  /** Why the area is direct or traps (a fixed set, e.g. `mmap`, `sub-page-bar`, `msix-table-page`). */
  reason: string;
  /** Trapped guest accesses to this area during the workload (0 for direct areas). */
  traps?: number;
  /** How the area's traps are served (trap areas only; extension). */
  via?: TrapServedVia;
}

export interface BarResult {
  device: string;
  bar: number;
  /** Host physical address, hex string (an I/O BAR: its host I/O port address). */
  address: string;
  /** Guest physical address, hex string; `-` for an I/O BAR (the guest reaches no port space here). */
  guestAddress: string;
  size: number;
  mmap: 'full' | 'partial' | 'none';
  reason: string;
  /** Cover the BAR exactly, in order, without gaps or overlaps. */
  areas: BarArea[];
  /** Present on the BAR that holds a relocated MSI-X table (x-msix-relocation), and only there. */
  msixRelocated?: BarMsixRelocation;
}

/**
 * One device register and how the workload used it: what `topRegisters` lists. Counted
 * where the accesses reach the device's BAR handler (direct or through a trap), so an
 * access the VMM answers itself (the emulated MSI-X table) or a frozen PE drops is not here.
 */
export interface RegisterResult {
  device: string;
  bar: number;
  /** Dword-aligned byte offset within the BAR. */
  offset: number;
  /** The largest access size seen there (an 8-byte guest access reaches the device as two dwords). */
  size: number;
  /** The device plugin's name of the register, when it names it. */
  name?: string;
  reads: number;
  writes: number;
  /** Whether the guest reaches the register's page direct or by a trap (the area holding it). */
  path: AreaPath;
  /** Why (the area's reason: the same vocabulary as `bars[].areas[].reason`). */
  reason: string;
  /** How its traps are served (trap only). */
  via?: TrapServedVia;
}

export interface TrappedPage {
  /** Guest page address, hex. */
  page: string;
  traps: number;
  reasons: string[];
}

export interface RunResult {
  scenario: string;
  platform: {
    name: string;
    pageSize: number;
    eeh: boolean;
    /** Host MMIO taken by the passed-through BARs (per isolation group, first to last BAR byte): patch 1 raises it. */
    barSpanBytes?: number;
  };
  variant: Variant;
  /** The VMM's MSI-X relocation (QEMU's x-msix-relocation): off, auto or bar0..bar5. Written by every run; optional for older files. */
  relocation?: string;
  /** The VMM whose rules built the guest view (`--vmm`): qemu, cloud-hypervisor, crosvm, kvmtool, firecracker. Written by every run; optional for older files (qemu). */
  vmm?: string;
  /**
   * Present when that VMM refuses the device layout ("rejected by VMM X: why"): the VM does
   * not start, so nothing is measured (workload, mmio and bars are empty).
   */
  rejected?: { vmm: string; why: string; device: string; bar?: number; code: string };
  patches: PatchSet;
  /** The --seed the run was made with (workloads are deterministic; kept for reproduction). */
  seed?: number;
  workload: {
    ops: number;
    simulatedNs: number;
    opsPerSecond: number;
    completed?: number;
    failed?: number;
    eehRecoveries?: number;
    /** PEs still frozen, or failed for good by the guest, when the run ended; absent when none. */
    frozenAtEnd?: number;
    /**
     * What one operation is, when it is not an I/O request: `MMIO accesses` for a register
     * loop (the `ppc64-mmio` workload), so `opsPerSecond` is MMIO accesses per simulated
     * second. Absent for I/O workloads (extension).
     */
    unit?: string;
  };
  /**
   * The all-vs-none comparison of a register-loop workload: MMIO accesses per simulated
   * second with no patch and with all three, same variant and costs, and their ratio
   * (`vhw run` adds it for such scenarios; extension).
   */
  allVsNone?: { none: number; all: number; ratio: number };
  mmio: { direct: number; trapped: number; trapsByReason: Record<string, number> };
  bars: BarResult[];
  isolation: { violations: number };
  /** The most trapped guest pages with their reasons (extension). */
  topTrappedPages?: TrappedPage[];
  /** The most accessed device registers during the workload, most first (extension; at most 10). */
  topRegisters?: RegisterResult[];
  /** Cost parameters in effect (extension). */
  costs?: Record<string, number>;
  /** Plugin options set with `--set TARGET.FIELD=VALUE`, as applied: target → field → value (extension; only when set). */
  pluginOverrides?: Record<string, Record<string, unknown>>;
  /**
   * The `--vary` values of this run, one per dimension in the order given (extension): a number
   * for a cost parameter, a number or the text as written for a plugin option (`nvme0.layout`).
   */
  vary?: Array<{ field: string; value: number | string }>;
  /** Host MMIO page map (extension; used by `vhw map` and the HTML report). */
  pageMap?: PageMap;
  /** The machine the run was built from: every plugin with its options as resolved by its schema (extension). */
  plugins?: PluginRecord[];
  /** The sweep grid this row is a point of, so shards can be checked to form one experiment (extension). */
  experiment?: ExperimentRecord;
}

/** One plugin of a run's machine with the options it ran with (defaults filled in by its schema). */
export interface PluginRecord {
  name: string;
  kind: string;
  instance: string;
  options: unknown;
}

/**
 * What makes a set of runs one experiment: two sweeps with the same identity run the same
 * grid and give the same results. Shards of one sweep share it; `vhw merge` refuses rows
 * whose identities differ and names the first field that does.
 */
export interface GridIdentity {
  /** The scenario's name and the SHA-256 of its file (a user file and a built-in one of the same name differ). */
  scenario: { name: string; sha256: string };
  variants: Variant[];
  /** The patch combinations, in grid order (`none`, `P1`, ... `P1+P2+P3`). */
  combinations: string[];
  /** The `--vary` dimensions in order: each one's field, count, first and last value, and a hash of all its values. */
  vary?: Array<{ field: string; kind?: 'plugin'; count: number; first: number | string; last: number | string; sha256: string }>;
  /** Workload operations of every run (`--ops` or the scenario's default). */
  ops: number;
  seed: number;
  /** `--page-size` in bytes, when given. */
  pageSize?: number;
  /** `--set` cost overrides (not the `--vary` field, which each row records in `vary`). */
  costs: Record<string, number>;
  /** `--set` overrides of plugin options (`TARGET.FIELD=VALUE`, in order), when any were given. */
  plugins?: string[];
  /** The MSI-X relocation modes the grid runs (`--msix-relocation`), when given. */
  relocations?: string[];
  /** The VMM policies the grid runs (`--vmm`), when given. */
  vmms?: string[];
}

/** A row's place in its sweep grid. */
export interface ExperimentRecord {
  /** SHA-256 (hex, 16 digits) of the canonical JSON of `identity`. */
  id: string;
  identity: GridIdentity;
  /** The row's index in the full grid, and the grid's size. */
  point: number;
  points: number;
  /** How the scenario was named on the command line (a built-in name or an absolute path), to reload it. */
  scenarioRef: string;
  /** Present on rows of a `--shard I/N` sweep; a merge removes it. */
  shard?: { index: number; count: number };
}

/** One host page of the MMIO window and what lies in it. */
export interface PageMapPage {
  /** Host physical address of the page. */
  hostPa: number;
  /** The PE (isolation group) owning the page's segment, if the platform has PEs. */
  group?: string;
  /** BAR pieces in this page; `offset` is the piece's offset within this host page (not within the BAR). */
  pieces: Array<{ device: string; bar: number; offset: number; size: number; path: AreaPath | 'unmapped'; reason: string }>;
  /** direct: the guest reaches the whole page without exits; trap: some part traps; unused: no BAR. */
  path: 'direct' | 'trap' | 'mixed' | 'unused';
}

export interface PageMap {
  pageSize: number;
  pages: PageMapPage[];
  /** The relocated MSI-X tables (x-msix-relocation), when any: they live in guest BARs, not in host pages. */
  msixRelocations?: PageMapMsixRelocation[];
}
