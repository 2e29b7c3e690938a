import { hex } from '@vhw/core';
import { relocateMsix } from './msix-relocation.js';
import { planBar } from './plan.js';
import type { PolicyFunction, VmmPolicy, VmmRefusal } from './policy.js';
import { vmmTraits } from './policy-traits.js';

/** QEMU's answer for a PBA outside its BAR: Chelsio T5 VFs report one; QEMU moves it. */
const CHELSIO = 0x1425;

/**
 * QEMU's vfio-pci (`hw/vfio/pci.c` at 41192db3, `hw/pci/msix.c` `msix_init()`): the
 * kernel's sparse list taken as given; without MSIX_MAPPABLE one whole-BAR mmap is split
 * around the table rounded out to host pages (`vfio_pci_fixup_msix_region()`), the PBA never
 * carved out; the table emulated unless the machine sets `vfio-no-msix-emulation`; a
 * sub-page BAR grown to one page when its guest address is page aligned
 * (`vfio_sub_page_bar_update_mapping()`); `x-msix-relocation` (`vfio_pci_relocate_msix()`).
 * It refuses a PBA past its BAR (`vfio_msix_early_setup()`, Chelsio T5 VF excepted) and a
 * table and PBA that overlap or do not fit (`msix_init()`). vhw's behaviour before policies
 * existed, unchanged.
 */
export const qemuPolicy: VmmPolicy = {
  id: 'qemu',
  title: 'QEMU',
  sources: [
    { repo: 'qemu/qemu', commit: '41192db338588051f21501abc13743e62b0a5605', file: 'hw/vfio/pci.c', symbol: 'vfio_pci_fixup_msix_region' },
    { repo: 'qemu/qemu', commit: '41192db338588051f21501abc13743e62b0a5605', file: 'hw/vfio/pci.c', symbol: 'vfio_msix_early_setup' },
    { repo: 'qemu/qemu', commit: '41192db338588051f21501abc13743e62b0a5605', file: 'hw/pci/msix.c', symbol: 'msix_init' },
  ],
  traits: vmmTraits('qemu'),
  relocationKnob: true,
  admit(fn: PolicyFunction): VmmRefusal | undefined {
    const m = fn.msix;
    if (!m) return undefined;
    if (m.vectors < 1 || m.vectors > 2048) return { code: 'msix-vectors', why: `The number of MSI-X vectors is invalid (${m.vectors})` };
    const pbaBytes = (Math.ceil(m.vectors / 64) * 64) / 8;
    const pbaBarSize = fn.barSizes[m.pbaBar] ?? 0;
    // A Chelsio T5 VF reports its PBA past its BAR; QEMU takes it at 0x1000 (vfio_msix_early_setup).
    const chelsio = fn.vendorId === CHELSIO && (fn.deviceId & 0xff00) === 0x5800;
    if (m.pbaOffset >= pbaBarSize && !chelsio) {
      return {
        code: 'msix-pba-outside-bar',
        bar: m.pbaBar,
        why: `hardware reports invalid configuration, MSIX PBA outside of specified BAR (PBA at BAR${m.pbaBar}+${hex(m.pbaOffset)}, BAR size ${hex(pbaBarSize)})`,
      };
    }
    const pbaOffset = chelsio && m.pbaOffset >= pbaBarSize ? 0x1000 : m.pbaOffset;
    const tableEnd = m.tableOffset + m.vectors * 16;
    const overlap = m.tableBar === m.pbaBar && m.tableOffset < pbaOffset + pbaBytes && pbaOffset < tableEnd;
    const fits = tableEnd <= (fn.barSizes[m.tableBar] ?? 0) && pbaOffset + pbaBytes <= pbaBarSize;
    if (overlap || !fits || m.tableOffset % 8 !== 0 || pbaOffset % 8 !== 0) {
      return {
        code: 'msix-table-pba-overlap',
        bar: m.tableBar,
        why: `table & pba overlap, or they don't fit in BARs, or don't align (table BAR${m.tableBar}+${hex(m.tableOffset)} ${hex(m.vectors * 16)} bytes, PBA BAR${m.pbaBar}+${hex(pbaOffset)} ${hex(pbaBytes)} bytes)`,
      };
    }
    return undefined;
  },
  relocate: (input) => relocateMsix(input),
  planBar: (input) => planBar(input),
};
