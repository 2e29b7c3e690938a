/**
 * 8-byte guest accesses with a bigint value, for scripts and tests. The CPU itself passes
 * 8-byte values as two 32-bit halves so that no access allocates; these allocate.
 */
import type { GuestCpu } from './cpu.js';

/**
 * Loads 8 bytes at `gpa` as one bigint (allocates; not for hot loops).
 * @param cpu - the guest CPU
 * @param gpa - guest-physical address
 * @returns the unsigned 64-bit value
 * @example
 * load64(machine.cpu, 0x80); // 0xfedcba9876543210n
 */
export function load64(cpu: GuestCpu, gpa: number): bigint {
  const lo = cpu.load(gpa, 8);
  return (BigInt(cpu.high >>> 0) << 32n) | BigInt(lo >>> 0);
}

/**
 * Stores a bigint as 8 bytes at `gpa` (allocates; not for hot loops). Bits above 64 are dropped.
 * @param cpu - the guest CPU
 * @param gpa - guest-physical address
 * @param value - the value to store
 * @example
 * store64(machine.cpu, 0x80, 0xfedcba9876543210n);
 */
export function store64(cpu: GuestCpu, gpa: number, value: bigint): void {
  cpu.store(gpa, 8, Number(value & 0xffffffffn), Number((value >> 32n) & 0xffffffffn));
}
