import type { AddressSpace } from '@vhw/core';
import { type BarPlacement, type MmioWindowSpec, packBars } from './allocator.js';
import { BarGate } from './bar-access.js';
import { Cfg, Command } from './config-space.js';
import type { HostBridgePolicy } from './platform-policy.js';
import type { HostBridgeCounters, IsolationGroup, PciFunction } from './pci-function.js';

/** The host-space name of a function's BAR, e.g. "nvme0:BAR0" (also its placement key). */
export function barKey(fn: PciFunction | { name: string }, index: number): string {
  return `${fn.name}:BAR${index}`;
}

/** The memory BARs of `functions` as allocation requests. */
export function barRequests(functions: readonly PciFunction[]): Array<{ key: string; size: number }> {
  const out: Array<{ key: string; size: number }> = [];
  for (const fn of functions) {
    for (const b of fn.device.spec.bars) {
      if ((b.kind ?? 'mem32') !== 'io') out.push({ key: barKey(fn, b.index), size: b.size });
    }
  }
  return out;
}

/**
 * Where every memory BAR goes: the platform's placement (per group) if it has one,
 * otherwise `functions` in enumeration order packed the Linux way over the one window
 * with the platform's alignment.
 * @throws VhwError E_ALLOCATION when a BAR does not fit.
 */
export function placeBars(
  policy: HostBridgePolicy,
  groups: readonly IsolationGroup[],
  functions: readonly PciFunction[],
  window: MmioWindowSpec,
): BarPlacement[] {
  if (policy.placeBars) return policy.placeBars(groups, window);
  return packBars(window, barRequests(functions), policy.barAlignment?.() ?? 0);
}

/**
 * Programs a function's placed BARs (the address into each BAR register) and maps each
 * into `space` behind its decode and freeze gate, then enables memory decode and bus
 * mastering, as the host kernel does when it enables the device.
 */
export function mapFunctionBars(
  fn: PciFunction,
  placements: readonly BarPlacement[],
  space: AddressSpace,
  counters: HostBridgeCounters,
): void {
  const dev = fn.device;
  for (const decl of dev.spec.bars) {
    if ((decl.kind ?? 'mem32') === 'io') continue; // I/O BARs are not mapped into MMIO
    const p = placements.find((x) => x.key === barKey(fn, decl.index));
    if (!p) continue;
    dev.setBarAddress(decl.index, p.address);
    fn.bars.push({ index: decl.index, address: p.address, size: decl.size, label: decl.label });
    space.mapMmio({
      name: barKey(fn, decl.index),
      base: p.address,
      size: decl.size,
      handler: new BarGate(fn.group, dev, counters, dev.barHandler(decl.index)),
      constraints: dev.barConstraints(decl.index),
      owner: fn.name,
      tag: decl.index,
    });
  }
  restoreCommand(fn);
}

/** Re-programs a function after a reset: its BAR addresses and command register (what firmware or the host kernel restores). */
export function restoreFunction(fn: PciFunction): void {
  for (const b of fn.bars) fn.device.setBarAddress(b.index, b.address);
  restoreCommand(fn);
}

function restoreCommand(fn: PciFunction): void {
  fn.device.config.write(Cfg.Command, 2, Command.Memory | Command.BusMaster);
}

/** The bus/device/function address of the `slot`-th device: 32 devices per bus, buses from 0 (devices beyond 32 sit behind further bridges). */
export function bdfOf(slot: number): string {
  return `0000:${Math.floor(slot / 32)
    .toString(16)
    .padStart(2, '0')}:${(slot % 32).toString(16).padStart(2, '0')}.0`;
}
