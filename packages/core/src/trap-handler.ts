/**
 * What the guest CPU calls out to: the VMM's trap handler (a trapped access exits to
 * userspace) and the guest OS's interrupt entry point.
 */
import type { HighHalf } from './access.js';

/**
 * The VMM's side of a trap: the access exits to it with the guest-physical address.
 * The handler counts the trap with `stats.countTrap`, because only it knows
 * the region the access lands in; `reasonId` is the MMU page's reason, its default.
 * 8-byte values travel as {@link HighHalf} says.
 */
export interface TrapHandler extends HighHalf {
  read(gpa: number, size: number, reasonId: number): number;
  write(gpa: number, size: number, value: number, high: number, reasonId: number): void;
}

/** Guest interrupt handler: called at an instruction boundary, after the access that caused it has completed. */
export type GuestInterruptHandler = (vector: number) => void;
