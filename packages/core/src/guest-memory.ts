import { VhwError, hex } from './errors.js';
import { FlatView } from './flat-view.js';

export interface RamBlock {
  readonly name: string;
  readonly base: number;
  readonly size: number;
  readonly buffer: ArrayBuffer;
  readonly view: DataView;
}

/**
 * Guest RAM as the host sees it (for device DMA after IOMMU translation and for the
 * VMM). Accesses here are not guest CPU accesses: they are not counted or charged.
 */
export class GuestMemory {
  private blocks: RamBlock[] = [];
  private view = new FlatView<RamBlock>([]);

  add(name: string, base: number, size: number, buffer: ArrayBuffer = new ArrayBuffer(size)): RamBlock {
    const block: RamBlock = { name, base, size, buffer, view: new DataView(buffer, 0, size) };
    this.view = new FlatView([...this.blocks, block]);
    this.blocks.push(block);
    return block;
  }

  get entries(): readonly RamBlock[] {
    return this.view.entries;
  }

  /** True when `[gpa, gpa + size)` lies inside one RAM block. */
  contains(gpa: number, size: number): boolean {
    const b = this.view.find(gpa);
    return b !== undefined && gpa + size <= b.base + b.size;
  }

  private block(gpa: number, size: number): RamBlock {
    const b = this.view.find(gpa);
    if (b === undefined || gpa + size > b.base + b.size) {
      throw new VhwError('E_RANGE', `guest memory: [${hex(gpa)}, ${hex(gpa + size)}) is not RAM`);
    }
    return b;
  }

  read32(gpa: number): number {
    const b = this.block(gpa, 4);
    return b.view.getUint32(gpa - b.base, true);
  }

  write32(gpa: number, value: number): void {
    const b = this.block(gpa, 4);
    b.view.setUint32(gpa - b.base, value >>> 0, true);
  }

  read16(gpa: number): number {
    const b = this.block(gpa, 2);
    return b.view.getUint16(gpa - b.base, true);
  }

  write16(gpa: number, value: number): void {
    const b = this.block(gpa, 2);
    b.view.setUint16(gpa - b.base, value & 0xffff, true);
  }

  /** Copies `out.length` bytes from guest memory into `out`. */
  readBytes(gpa: number, out: Uint8Array): void {
    const b = this.block(gpa, out.length);
    out.set(new Uint8Array(b.buffer, gpa - b.base, out.length));
  }

  writeBytes(gpa: number, data: Uint8Array): void {
    const b = this.block(gpa, data.length);
    new Uint8Array(b.buffer, gpa - b.base, data.length).set(data);
  }
}
