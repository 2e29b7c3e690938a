import { AddressSpace, type UnassignedPolicy } from '@vhw/core';
import type { HostOwner } from './pci-function.js';
import type { HostBridgePolicy } from './platform-policy.js';

/** A range of host MMIO claimed on a function's behalf (upstream patch 2's dummy resource). */
export interface HostReservation {
  name: string;
  owner: string;
  base: number;
  size: number;
}

/** Whom the isolation rule is asked about: a function and the group it belongs to. */
export interface HostClaimant {
  /** The function's name: BARs and reservations are its own when they name it. */
  readonly name: string;
  /** Its group's id: segments are its own when they belong to this group. */
  readonly group: string | undefined;
}

/**
 * Who owns what in the host's MMIO: the address space the BARs are mapped into, the
 * reservations claimed beside them, and the platform's group segments. The one place
 * that answers "whose is this host range?", and the one definition of the isolation rule
 * ({@link HostResources.foreignOwners}) that vfio-pci, the VMM and the claim path call.
 */
export class HostResources {
  /** Host MMIO: every mapped BAR, behind its decode and freeze gate. */
  readonly space: AddressSpace;
  private readonly reservations: HostReservation[] = [];

  /**
   * @param name The bridge's name (the space is `<name>:mmio`).
   * @param unassignedPolicy How accesses no BAR decodes are answered.
   * @param policy The platform's policy: its segments and what an unassigned access does.
   * @param groupOf The group id of a function, by name (undefined for no such function).
   */
  constructor(
    name: string,
    unassignedPolicy: UnassignedPolicy,
    private readonly policy: HostBridgePolicy,
    private readonly groupOf: (owner: string) => string | undefined,
  ) {
    this.space = new AddressSpace(`${name}:mmio`, unassignedPolicy);
    const onUnassigned = policy.unassignedAccess?.bind(policy);
    if (onUnassigned) this.space.onUnassigned = (_space, addr, size, isWrite, reason) => onUnassigned(addr, size, isWrite, reason);
  }

  /** Group segments in `[base, base + size)` (none unless the platform has them). */
  segmentsIn(base: number, size: number): HostOwner[] {
    return this.policy.segmentsIn?.(base, size) ?? [];
  }

  /** Everything that occupies `[base, base + size)` of host MMIO: BARs, then reservations, then segments. */
  ownersOf(base: number, size: number): HostOwner[] {
    const out: HostOwner[] = [];
    for (const r of this.space.intersecting(base, size)) {
      const owner = r.owner ?? r.name;
      out.push({ kind: 'bar', owner, group: this.groupOf(owner), bar: r.tag, base: r.base, size: r.size });
    }
    for (const r of this.reservations) {
      if (overlaps(r, base, size))
        out.push({ kind: 'reservation', owner: r.owner, group: this.groupOf(r.owner), base: r.base, size: r.size });
    }
    out.push(...this.segmentsIn(base, size));
    return out;
  }

  /**
   * The isolation rule ("does this host range hold anything outside this function's
   * group?"), written once. A BAR or reservation is foreign unless it is `claimant`'s own;
   * a segment is foreign unless it belongs to `claimant`'s group. A host page may be handed
   * to whoever holds `claimant` (vfio-pci's mmap, the VMM's direct mapping) only when this
   * returns nothing; vfio-pci refuses and the VMM verifies with it, as two layers of defence.
   * @param base First host address of the range.
   * @param size Bytes in the range.
   * @param claimant The function asking, and its group.
   * @returns What in the range is not the claimant's, in `ownersOf` order (empty: isolated).
   * @example
   * const foreign = resources.foreignOwners(pageStart, pageSize, { name: fn.name, group: fn.group.id });
   * if (foreign.length > 0) refuse(`the page holds ${foreign[0].kind} of ${foreign[0].owner}`);
   */
  foreignOwners(base: number, size: number, claimant: HostClaimant): HostOwner[] {
    return this.ownersOf(base, size).filter((o) => (o.kind === 'segment' ? o.group !== claimant.group : o.owner !== claimant.name));
  }

  /**
   * Claims `[base, base + size)` for `owner`, as request_resource() on the parent resource
   * does: only if no BAR and no reservation (the owner's own included) occupies any of it,
   * and the isolation rule holds for the range (no other group's segment).
   * @returns Whether the range was claimed.
   */
  claim(name: string, owner: string, base: number, size: number): boolean {
    if (size <= 0) return false;
    if (this.space.intersecting(base, size).length > 0) return false;
    if (this.reservations.some((r) => overlaps(r, base, size))) return false;
    if (this.foreignOwners(base, size, { name: owner, group: this.groupOf(owner) }).length > 0) return false;
    this.reservations.push({ name, owner, base, size });
    return true;
  }

  /** Releases the reservation called `name`, if there is one. */
  release(name: string): void {
    const i = this.reservations.findIndex((r) => r.name === name);
    if (i >= 0) this.reservations.splice(i, 1);
  }

  /** The reservations held, in claim order. */
  get reservationList(): readonly HostReservation[] {
    return this.reservations;
  }
}

function overlaps(r: { base: number; size: number }, base: number, size: number): boolean {
  return r.base < base + size && base < r.base + r.size;
}
