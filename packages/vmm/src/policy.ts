import type { BarPlan, BarPlanInput, MsixLayout } from './plan.js';
import type { MsixRelocation, MsixRelocationInput } from './msix-relocation.js';

/** The VMMs vhw can play, each one `VmmPolicy` (see packages/vmm/VMM-POLICIES.md). */
export const VMM_IDS = ['qemu', 'cloud-hypervisor', 'crosvm', 'kvmtool', 'firecracker'] as const;
/** One built-in VMM policy id. */
export type VmmId = (typeof VMM_IDS)[number];

/** Where a policy's rules were read: repository, commit, file and function. `explain` prints them. */
export interface SourceRef {
  readonly repo: string;
  readonly commit: string;
  readonly file: string;
  readonly symbol: string;
}

/**
 * A VMM's refusal of a device layout (issue 19 item 4): the device fails to realize in that
 * VMM, so the run reports "rejected by VMM X: why" instead of a measurement.
 */
export interface VmmRefusal {
  /** A stable code for tests, e.g. `msix-table-out-of-range`. */
  readonly code: string;
  /** The VMM's own message, in vhw's words, with the numbers filled in. */
  readonly why: string;
  /** The BAR the refusal is about, when it is about one. */
  readonly bar?: number;
}

/** What a policy reads of a passed-through function when it admits it. */
export interface PolicyFunction {
  readonly name: string;
  readonly vendorId: number;
  readonly deviceId: number;
  /** The device's own MSI-X layout, when it has MSI-X. */
  readonly msix: MsixLayout | undefined;
  /** The size vfio reports for each of the six BAR regions (0 when unimplemented). */
  readonly barSizes: readonly number[];
  /** Which BARs are I/O port BARs. */
  readonly ioBars: readonly boolean[];
}

/** The input of a policy's MSI-X placement: the relocation input with the full device layout. */
export interface PolicyRelocationInput extends MsixRelocationInput {
  readonly msix: MsixLayout | undefined;
}

/** The comparison rows of a policy, as data (for `explain`, the README and `compare`). */
export interface VmmTraits {
  /** How it treats a SPARSE_MMAP list. */
  readonly sparse: string;
  /** What MSIX_MAPPABLE makes it do. */
  readonly msixMappable: string;
  /** Its holes around the MSI-X table and PBA, and their rounding. */
  readonly holes: string;
  /** How it serves the PBA. */
  readonly pba: string;
  /** Whether and how it relocates the table. */
  readonly relocation: string;
  /** What it does with a BAR smaller than a host page. */
  readonly subPage: string;
  /** What it does with a guest BAR that is not host-page aligned. */
  readonly unalignedGuestBar: string;
  /** Which layouts it refuses. */
  readonly rejects: string;
}

/**
 * One VMM's rules for a passed-through function, derived from its source (cited in
 * `sources` and in packages/vmm/VMM-POLICIES.md). The `Vmm` asks its policy three things
 * when it builds the guest view (never per access): whether the device is admitted, where
 * the emulated MSI-X table and PBA go, and, per BAR at its guest address, which pieces are
 * mapped direct and how every other byte is served when it traps. The `Vmm` then installs
 * what the plan says with the one mechanism every policy shares (mmap through vfio-pci, the
 * isolation check, direct mappings, trap regions, the cost meter).
 */
export interface VmmPolicy {
  /** The id `--vmm` names. */
  readonly id: string;
  /** The VMM's name, for titles. */
  readonly title: string;
  /** Where its rules were read. */
  readonly sources: readonly SourceRef[];
  /** Its behaviour, one line per comparison row. */
  readonly traits: VmmTraits;
  /**
   * Whether `--msix-relocation` (QEMU's `x-msix-relocation`) applies to this VMM, and if not,
   * what applies instead: the message a refused combination prints.
   */
  readonly relocationKnob: true | string;
  /** Admission of the device as a whole, before any BAR is placed: undefined when admitted. */
  admit(fn: PolicyFunction, pageSize: number): VmmRefusal | undefined;
  /**
   * Where the VMM puts the MSI-X table and PBA the guest sees, when it moves them (QEMU's
   * option, Cloud Hypervisor's fix-up, kvmtool's table at offset 0).
   * @returns the relocation, or undefined when the guest sees the device's own layout.
   * @throws VhwError E_CONFIG for a relocation option the VMM refuses.
   */
  relocate(input: PolicyRelocationInput): MsixRelocation | undefined;
  /**
   * One BAR at its guest address: the plan (pieces covering the BAR in order, direct
   * mappings, the areas mmapped), or the VMM's refusal.
   */
  planBar(input: BarPlanInput): BarPlan | VmmRefusal;
}

/** Whether a plan result is a refusal. */
export function isRefusal(x: BarPlan | VmmRefusal | undefined): x is VmmRefusal {
  return x !== undefined && 'why' in x;
}
