/**
 * The parts of include/uapi/linux/vfio.h vhw models. Names follow the header; values
 * are the header's, except the two RFC flags, whose names and bits were never merged
 * and are vhw's choice — used only by the `rfc-2015` variant.
 */
export const VFIO_DEVICE_FLAGS_RESET = 1 << 0;
export const VFIO_DEVICE_FLAGS_PCI = 1 << 1;
export const VFIO_DEVICE_FLAGS_PLATFORM = 1 << 2;
export const VFIO_DEVICE_FLAGS_AMBA = 1 << 3;
/** Upstream bits 4-8 (never reused by the RFC variant's flags in the upstream variant). */
export const VFIO_DEVICE_FLAGS_CCW = 1 << 4;
export const VFIO_DEVICE_FLAGS_AP = 1 << 5;
export const VFIO_DEVICE_FLAGS_FSL_MC = 1 << 6;
export const VFIO_DEVICE_FLAGS_CAPS = 1 << 7;
export const VFIO_DEVICE_FLAGS_CDX = 1 << 8;
/** RFC 2015 only [unconfirmed name and bit]: the platform guarantees all MMIO BARs are page aligned. */
export const VFIO_DEVICE_FLAGS_PCI_PAGE_ALIGNED = 1 << 4;
/** RFC 2015 only [unconfirmed name and bit]: the MSI-X table may be mmapped. */
export const VFIO_DEVICE_FLAGS_PCI_MSIX_MMAP = 1 << 5;

export const VFIO_REGION_INFO_FLAG_READ = 1 << 0;
export const VFIO_REGION_INFO_FLAG_WRITE = 1 << 1;
export const VFIO_REGION_INFO_FLAG_MMAP = 1 << 2;
export const VFIO_REGION_INFO_FLAG_CAPS = 1 << 3;

export const VFIO_REGION_INFO_CAP_SPARSE_MMAP = 1;
export const VFIO_REGION_INFO_CAP_TYPE = 2;
export const VFIO_REGION_INFO_CAP_MSIX_MAPPABLE = 3;

export const VFIO_PCI_BAR0_REGION_INDEX = 0;
export const VFIO_PCI_BAR5_REGION_INDEX = 5;
export const VFIO_PCI_ROM_REGION_INDEX = 6;
export const VFIO_PCI_CONFIG_REGION_INDEX = 7;
export const VFIO_PCI_VGA_REGION_INDEX = 8;
export const VFIO_PCI_NUM_REGIONS = 9;

export const VFIO_PCI_INTX_IRQ_INDEX = 0;
export const VFIO_PCI_MSI_IRQ_INDEX = 1;
export const VFIO_PCI_MSIX_IRQ_INDEX = 2;
export const VFIO_PCI_NUM_IRQS = 5;

/** vfio-pci encodes the region index in the top bits of the fd offset. */
export const VFIO_PCI_OFFSET_SHIFT = 40;

export interface SparseMmapArea {
  offset: number;
  size: number;
}

export type RegionCapability =
  | { id: typeof VFIO_REGION_INFO_CAP_SPARSE_MMAP; areas: SparseMmapArea[] }
  | { id: typeof VFIO_REGION_INFO_CAP_MSIX_MAPPABLE };

export interface VfioDeviceInfo {
  flags: number;
  numRegions: number;
  numIrqs: number;
}

export interface VfioRegionInfo {
  index: number;
  flags: number;
  size: number;
  /** Offset of the region in the device fd. */
  offset: number;
  caps: RegionCapability[];
}
