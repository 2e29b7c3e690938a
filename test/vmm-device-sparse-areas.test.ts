/**
 * Issue 19 item 2, the policy side: a device that hands vfio-pci its own sparse-mmap list
 * (nvme-lite `sparseAreas`), under each VMM policy. Each VMM uses the list as its rules in
 * packages/vmm/VMM-POLICIES.md say: QEMU, crosvm and Cloud Hypervisor trust it, Firecracker
 * checks it, kvmtool never reads the capabilities. The expected pages are computed here from
 * the layout and the documented rule (section 6's table), not from the policies' code.
 */
import { describe, expect, it } from 'vitest';
import { ALL_PATCHES, NO_PATCHES, type PatchSet } from '@vhw/core';
import { nvmeLite } from '@vhw/device-nvme-lite';
import { barResults, defineScenario, passthroughMachine, prepare, vfioOf } from '@vhw/experiment';
import { VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, VFIO_REGION_INFO_CAP_SPARSE_MMAP } from '@vhw/vfio-pci';

type Range = { offset: number; size: number };

const P = 0x1000; // the generic platform's 4 KiB host page
// nvme-lite's bar0-16k layout: 16 KiB BAR0, doorbells at 0x1000, 8-vector table at 0x2000, PBA at 0x3000.
const BAR = 0x4000;
const TABLE = { offset: 0x2000, size: 8 * 16 };
const PBA = { offset: 0x3000, size: 8 };

const down = (x: number) => Math.floor(x / P) * P;
const up = (x: number) => Math.ceil(x / P) * P;
const pages = (from: number, to: number) => Array.from({ length: (to - from) / P }, (_, i) => from + i * P);
/** Host pages wholly inside one of `areas`. */
const pagesIn = (areas: readonly Range[]) => pages(0, BAR).filter((p) => areas.some((a) => a.offset <= p && p + P <= a.offset + a.size));
/** Host pages touched by `r` (rounded out). */
const pagesOf = (r: Range) => pages(down(r.offset), up(r.offset + r.size));
const minus = (a: number[], b: number[]) => a.filter((x) => !b.includes(x));

function scenarioWith(sparseAreas: Range[]) {
  return defineScenario({
    name: 'generic-nvme-own-list',
    description: 'nvme-lite 16 KiB BAR0 with its own sparse list on a 4 KiB host',
    ops: 1,
    machine: (config) =>
      passthroughMachine({ platform: 'generic', devices: [nvmeLite({ name: 'nvme0', layout: 'bar0-16k', sparseAreas })] }, config),
  });
}

/** What one policy made of BAR0: its direct pages (from the row's areas), the capability chain it was given, and any rejection. */
function underPolicy(vmm: string, list: Range[], patches: PatchSet = ALL_PATCHES) {
  const run = prepare(scenarioWith(list), { patches, variant: 'upstream', seed: 1, vmm });
  try {
    const bar = barResults(run.vmm).find((b) => b.device === 'nvme0' && b.bar === 0);
    const direct = (bar?.areas ?? []).filter((a) => a.path === 'direct');
    const caps = vfioOf(run)
      .device('nvme0')
      .getRegionInfo(0)
      .caps.map((c) => c.id);
    return { direct: pagesIn(direct), caps, rejection: run.vmm.rejection, pageSize: run.vmm.pageSize };
  } finally {
    run.machine.dispose();
  }
}

describe('a device with its own sparse list under each VMM policy (nvme-lite sparseAreas, 4 KiB host, upstream, every patch)', () => {
  // Leaves the doorbell page out (a server that wants to see doorbells); keeps the table and PBA pages in.
  const list = [
    { offset: 0, size: 0x1000 },
    { offset: 0x2000, size: 0x2000 },
  ];
  const listed = pagesIn(list);

  it('the kernel hands every VMM the device list (precondition of the rules below)', () => {
    const q = underPolicy('qemu', list);
    expect(q.pageSize).toBe(P);
    expect(q.caps).toContain(VFIO_REGION_INFO_CAP_SPARSE_MMAP);
  });

  it('QEMU trusts the list and still emulates the table: listed pages but the table page (vfio_setup_region_sparse_mmaps)', () => {
    const r = underPolicy('qemu', list);
    expect(r.rejection).toBeUndefined();
    expect(r.direct).toEqual(minus(listed, pagesOf(TABLE)));
  });

  it('crosvm trusts the list and marks the BAR MSI-X mappable: every listed page, table page included (eb98b0b02)', () => {
    const r = underPolicy('crosvm', list);
    expect(r.rejection).toBeUndefined();
    expect(r.direct).toEqual(listed);
  });

  it('Cloud Hypervisor: the first of SPARSE_MMAP / MSIX_MAPPABLE in the chain wins; no MSIX_MAPPABLE on an MSI-X BAR maps nothing', () => {
    for (const patches of [ALL_PATCHES, NO_PATCHES]) {
      const r = underPolicy('cloud-hypervisor', list, patches);
      const sparseAt = r.caps.indexOf(VFIO_REGION_INFO_CAP_SPARSE_MMAP);
      const mappableAt = r.caps.indexOf(VFIO_REGION_INFO_CAP_MSIX_MAPPABLE);
      // generate_sparse_areas(): its own holes on the MSIX_MAPPABLE path are [down(to), down(to)+up(16n)) and [down(po), down(po)+up(pbaLen)).
      const holes = [
        ...pages(down(TABLE.offset), down(TABLE.offset) + up(TABLE.size)),
        ...pages(down(PBA.offset), down(PBA.offset) + up((Math.floor(8 / 64) + 1) * 8)),
      ];
      const expected = mappableAt < 0 ? [] : sparseAt >= 0 && sparseAt < mappableAt ? listed : minus(pages(0, BAR), holes);
      expect(r.direct, JSON.stringify(r.caps)).toEqual(expected);
      // Both branches are taken: with patch 3 (upstream) the kernel adds MSIX_MAPPABLE after the list, without it none.
      expect(mappableAt >= 0).toBe(patches.msixMmap);
    }
  });

  it('Firecracker checks the list and maps it as given, holes inside it shadowed by the slot; outside the list and the holes nothing answers', () => {
    // The whole BAR as one area: checked (inside the BAR, page aligned), mapped, the table page included.
    const whole = underPolicy('firecracker', [{ offset: 0, size: BAR }]);
    expect(whole.rejection).toBeUndefined();
    expect(whole.direct).toEqual(pages(0, BAR));
    // The doorbell page is neither listed nor a hole: Firecracker has no trap path for it, so the driver's doorbells go nowhere.
    const r = underPolicy('firecracker', list);
    expect(r.direct).toEqual(listed);
    expect(r.rejection).toMatchObject({ vmm: 'firecracker', code: 'guest-driver-failed' });
  });

  it('kvmtool never reads the capabilities: the MSI-X BAR is not mapped, whatever the list says (vfio/pci.c)', () => {
    for (const l of [list, [{ offset: 0, size: BAR }], []]) {
      expect(underPolicy('kvmtool', l).direct).toEqual([]);
    }
  });
});
