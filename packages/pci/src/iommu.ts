import { FlatView, VhwError, hex } from '@vhw/core';

interface IommuEntry {
  name: string;
  base: number; // iova
  size: number;
  target: number; // guest physical address
}

/**
 * An IO address translation table for one isolation group (on PPC64 the PE's TCE
 * table; elsewhere the VFIO container's IOMMU domain): IOVA ranges mapped to guest
 * physical memory. A DMA outside every mapping is a fault.
 */
export class Iommu {
  private entries: IommuEntry[] = [];
  private view = new FlatView<IommuEntry>([]);

  constructor(readonly name: string) {}

  map(iova: number, size: number, gpa: number): void {
    if (!Number.isSafeInteger(iova) || !Number.isSafeInteger(size) || size <= 0 || !Number.isSafeInteger(gpa)) {
      throw new VhwError('E_RANGE', `${this.name}: bad IOMMU mapping iova=${String(iova)} size=${String(size)} gpa=${String(gpa)}`);
    }
    const e = { name: `${this.name}@${hex(iova)}`, base: iova, size, target: gpa };
    this.view = new FlatView([...this.entries, e]); // throws E_OVERLAP, leaving the table unchanged
    this.entries.push(e);
  }

  unmapAll(): void {
    this.entries = [];
    this.view = new FlatView([]);
  }

  get mappings(): ReadonlyArray<{ iova: number; size: number; gpa: number }> {
    return this.view.entries.map((e) => ({ iova: e.base, size: e.size, gpa: e.target }));
  }

  /** The guest physical address of `[iova, iova + size)`, or -1 when not entirely mapped. */
  translate(iova: number, size: number): number {
    const e = this.view.find(iova);
    if (e === undefined || iova + size > e.base + e.size) return -1;
    return e.target + (iova - e.base);
  }
}
