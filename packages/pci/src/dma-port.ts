import type { GuestMemory } from '@vhw/core';
import type { PciDeviceBus } from './device.js';
import type { HostBridgeCounters, PciFunction } from './pci-function.js';

/**
 * A function's DMA port: every DMA it issues goes through its group's IOMMU (the PE's TCE
 * table on PPC64) into guest memory. A DMA is blocked while the group's DMA is frozen or
 * bus mastering is off, and faults when the IOVA is not mapped or lands outside memory.
 * @param fn The function whose DMA this is.
 * @param memory Guest RAM (undefined: every DMA faults).
 * @param counters Where blocked DMAs are counted.
 * @param fault Called for every fault (counts it, and lets the platform react).
 * @returns The DMA services handed to the device.
 */
export function dmaPort(
  fn: PciFunction,
  memory: GuestMemory | undefined,
  counters: HostBridgeCounters,
  fault: (fn: PciFunction, iova: number) => void,
): PciDeviceBus {
  const group = fn.group;
  const iommu = group.iommu;
  const mem = memory;
  const translate = (iova: number, size: number): number => {
    if (group.dmaFrozen || !fn.device.busMasterEnabled) {
      counters.dmaBlocked++;
      return -1;
    }
    const gpa = iommu.translate(iova, size);
    if (gpa < 0 || mem === undefined || !mem.contains(gpa, size)) {
      fault(fn, iova);
      return -1;
    }
    return gpa;
  };
  return {
    dmaRead32: (iova) => {
      const gpa = translate(iova, 4);
      return gpa < 0 ? 0xffffffff : mem!.read32(gpa);
    },
    dmaWrite32: (iova, value) => {
      const gpa = translate(iova, 4);
      if (gpa < 0) return false;
      mem!.write32(gpa, value);
      return true;
    },
    dmaRead: (iova, out) => {
      const gpa = translate(iova, out.length);
      if (gpa < 0) {
        out.fill(0xff);
        return false;
      }
      mem!.readBytes(gpa, out);
      return true;
    },
    dmaWrite: (iova, data) => {
      const gpa = translate(iova, data.length);
      if (gpa < 0) return false;
      mem!.writeBytes(gpa, data);
      return true;
    },
  };
}
