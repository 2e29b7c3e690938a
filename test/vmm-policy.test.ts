/**
 * One device, five VMMs: each policy reproduces what its VMM's own unit tests, commits or
 * bug reports describe (cited in the test names; layouts from packages/vmm/VMM-POLICIES.md
 * section 7), on 4 KiB and 64 KiB hosts; `--vmm qemu` equals today's results.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALL_PATCHES, allPatchCombinations } from '@vhw/core';
import { loadScenario, parseVmms, runExperiment, sweepGrid } from '@vhw/experiment';
import {
  Reason,
  VFIO_DEVICE_FLAGS_PCI,
  VFIO_REGION_INFO_CAP_MSIX_MAPPABLE,
  VFIO_REGION_INFO_CAP_SPARSE_MMAP,
  VFIO_REGION_INFO_FLAG_MMAP,
  type VfioRegionInfo,
} from '@vhw/vfio-pci';
import {
  type BarPlan,
  type BarPlanInput,
  type MsixLayout,
  type PolicyFunction,
  VMM_IDS,
  type VmmPolicy,
  type VmmRefusal,
  cloudHypervisorPolicy,
  crosvmPolicy,
  firecrackerPolicy,
  isRefusal,
  kvmtoolPolicy,
  qemuPolicy,
  vmmPolicy,
} from '@vhw/vmm';
import { goldenRow } from './golden-row';

const K4 = 0x1000;
const K64 = 0x10000;
const G = 0x4000_0000;

const region = (index: number, size: number, caps: VfioRegionInfo['caps'] = [], mmap = true): VfioRegionInfo => ({
  index,
  size,
  offset: 0,
  flags: 3 | (mmap ? VFIO_REGION_INFO_FLAG_MMAP : 0),
  caps,
});
const MAPPABLE = [{ id: VFIO_REGION_INFO_CAP_MSIX_MAPPABLE }] as VfioRegionInfo['caps'];
const sparse = (...areas: Array<[number, number]>): VfioRegionInfo['caps'] => [
  { id: VFIO_REGION_INFO_CAP_SPARSE_MMAP, areas: areas.map(([offset, size]) => ({ offset, size })) },
];

interface Case {
  pageSize: number;
  region: VfioRegionInfo;
  msix?: MsixLayout;
  is64?: boolean;
  guestAddress?: number;
  shared?: boolean;
}

/** Plans one BAR with `policy` as the `Vmm` would: its relocation first, then the BAR at its guest size. */
function plan(policy: VmmPolicy, c: Case): BarPlan | VmmRefusal {
  const bars = Array.from({ length: 6 }, (_, i) => ({
    size: i === c.region.index ? c.region.size : 0,
    is64: i === c.region.index && c.is64 !== false,
    io: false,
  }));
  const r = policy.relocate({ mode: 'off', pageSize: c.pageSize, device: 'dev', bars, msix: c.msix });
  const guest: MsixLayout | undefined =
    r && c.msix
      ? { vectors: c.msix.vectors, tableBar: r.bar, tableOffset: r.tableOffset, pbaBar: r.pbaBar ?? r.bar, pbaOffset: r.pbaOffset }
      : c.msix;
  const input: BarPlanInput = {
    pageSize: c.pageSize,
    guestAddress: c.guestAddress ?? G,
    region: c.region,
    deviceInfo: { flags: VFIO_DEVICE_FLAGS_PCI, numRegions: 9, numIrqs: 5 },
    noMsixEmulation: false,
    guestPageShared: () => c.shared === true,
    kernelReason: () => Reason.MsixTablePage,
    index: c.region.index,
    is64: c.is64 !== false,
    ...(r?.bar === c.region.index ? { barSize: r.guestSize } : {}),
    ...(c.msix && guest ? { msix: { guest, device: c.msix, ...(r ? { relocation: r } : {}) } } : {}),
    ...(guest && guest.tableBar === c.region.index ? { msixTable: { offset: guest.tableOffset, size: guest.vectors * 16 } } : {}),
  };
  return policy.planBar(input);
}

function planned(policy: VmmPolicy, c: Case): BarPlan {
  const p = plan(policy, c);
  if (isRefusal(p)) throw new Error(`refused: ${p.why}`);
  return p;
}

/** The plan's areas as `offset+size path via reason` lines. */
const lines = (p: BarPlan) => p.areas.map((a) => `${a.offset.toString(16)}+${a.size.toString(16)} ${a.path} ${a.via} ${a.reason}`);
const directs = (p: BarPlan) => p.directs.map((d) => [d.offset, d.size]);

const fnView = (msix: MsixLayout | undefined, barSizes: number[], ids: Partial<PolicyFunction> = {}): PolicyFunction => ({
  name: 'dev',
  vendorId: 0x1b36,
  deviceId: 0x0010,
  msix,
  barSizes: [...barSizes, 0, 0, 0, 0, 0, 0].slice(0, 6),
  ioBars: [false, false, false, false, false, false],
  ...ids,
});

/** The KIOXIA CD8P layout (lspci quoted in Cloud Hypervisor PR #7904): 64-bit BAR0 64 KiB, 129 vectors, table 0x5200, PBA 0xD600. */
const KIOXIA: MsixLayout = { vectors: 129, tableBar: 0, tableOffset: 0x5200, pbaBar: 0, pbaOffset: 0xd600 };
/** The Intel NVMe DC SSD of Cloud Hypervisor PR #7939: 64-bit BAR0 16 KiB, 136 vectors, table 0x2000, PBA 0x3000. */
const INTEL_NVME: MsixLayout = { vectors: 136, tableBar: 0, tableOffset: 0x2000, pbaBar: 0, pbaOffset: 0x3000 };

describe('QEMU policy (hw/vfio/pci.c 41192db3, hw/pci/msix.c)', () => {
  it('Q1 KIOXIA CD8P layout (CH PR #7904), 4 KiB, MSIX_MAPPABLE: vfio_pci_fixup_msix_region keeps the table page out, the PBA page mapped', () => {
    const p = planned(qemuPolicy, { pageSize: K4, region: region(0, K64, MAPPABLE), msix: KIOXIA });
    expect(directs(p)).toEqual([
      [0, 0x5000],
      [0x6000, 0xa000],
    ]);
    expect(lines(p)).toContain('5200+810 trap msix-table msix-table');
  });

  it('Q1 on a 64 KiB host: the one page traps, table emulated, the rest from the VMM mmap', () => {
    const p = planned(qemuPolicy, { pageSize: K64, region: region(0, K64, MAPPABLE), msix: KIOXIA });
    expect(p.directs).toEqual([]);
    expect(lines(p)).toEqual([
      '0+5200 trap qemu-mmap msix-emulation',
      '5200+810 trap msix-table msix-table',
      '5a10+a5f0 trap qemu-mmap msix-emulation',
    ]);
  });

  it('Q2 vfio_msix_early_setup: a PBA outside its BAR is refused, except on a Chelsio T5 VF', () => {
    const m: MsixLayout = { vectors: 1, tableBar: 0, tableOffset: 0, pbaBar: 0, pbaOffset: 0x8000 };
    expect(qemuPolicy.admit(fnView(m, [0x2000]), K4)?.code).toBe('msix-pba-outside-bar');
    expect(qemuPolicy.admit(fnView(m, [0x2000], { vendorId: 0x1425, deviceId: 0x5803 }), K4)).toBeUndefined();
  });

  it('Q3 msix_init refuses a PBA overlapping the table (Linux c8bcb01352a8, cadence-ep: PBA after n - 1 entries)', () => {
    const m: MsixLayout = { vectors: 32, tableBar: 0, tableOffset: 0, pbaBar: 0, pbaOffset: 0x1f0 };
    const r = qemuPolicy.admit(fnView(m, [K4]), K4);
    expect(r?.code).toBe('msix-table-pba-overlap');
    expect(r?.why).toMatch(/table & pba overlap/);
  });
});

describe('Cloud Hypervisor policy (pci/src/vfio.rs ae44c297)', () => {
  for (const pageSize of [K4, K64]) {
    it(`C1 KIOXIA CD8P (issue #7898, fix 915675882), ${pageSize / 1024} KiB: BAR doubled, physical BAR mapped whole, relocated table emulated, the rest dropped`, () => {
      const p = planned(cloudHypervisorPolicy, { pageSize, region: region(0, K64, MAPPABLE), msix: KIOXIA });
      expect(directs(p)).toEqual([[0, K64]]);
      expect(lines(p)).toEqual([
        `0+10000 direct kvm mmap`,
        '10000+810 trap msix-table msix-table',
        '10810+f7f0 trap dropped msix-relocated',
      ]);
    });
  }

  it('C1 without MSIX_MAPPABLE: an MSI-X BAR is not mapped at all ("Don\'t try to mmap the region if it contains MSI-X")', () => {
    const p = planned(cloudHypervisorPolicy, { pageSize: K4, region: region(0, K64, sparse([0, 0x5000], [0x6000, 0xa000])), msix: KIOXIA });
    expect(p.directs).toEqual([]);
    expect(lines(p)[0]).toBe('0+10000 trap fd vmm-msix-bar');
  });

  it('C2 Intel NVMe 16 KiB BAR on 64 KiB arm64 (PR #7939, 23a980cd5): the sub-page area at 0 is expanded to one page', () => {
    const p = planned(cloudHypervisorPolicy, { pageSize: K64, region: region(0, 0x4000, MAPPABLE), msix: INTEL_NVME });
    expect(directs(p)).toEqual([[0, K64]]);
    expect(lines(p)).toContain('10000+880 trap msix-table msix-table');
  });

  it('C2 on a 4 KiB host: table page aligned, no relocation; holes around table and PBA', () => {
    const p = planned(cloudHypervisorPolicy, { pageSize: K4, region: region(0, 0x4000, MAPPABLE), msix: INTEL_NVME });
    expect(directs(p)).toEqual([[0, 0x2000]]);
    expect(lines(p)).toEqual(['0+2000 direct kvm mmap', '2000+880 trap msix-table msix-table', '2880+1780 trap fd vmm-msix-hole']);
  });

  it('C3 generate_sparse_areas refuses an MSI-X BAR whose size is not a 4 KiB multiple', () => {
    const m: MsixLayout = { vectors: 4, tableBar: 0, tableOffset: 0, pbaBar: 0, pbaOffset: 0x400 };
    const r = plan(cloudHypervisorPolicy, { pageSize: K4, region: region(0, 0x800, MAPPABLE), msix: m });
    expect(isRefusal(r) && r.code).toBe('region-size');
  });

  it('C4 hole rounding [down(o), down(o) + up(len)): a table at 0xF00 of a 32-bit BAR leaves its second page mapped', () => {
    const m: MsixLayout = { vectors: 32, tableBar: 0, tableOffset: 0xf00, pbaBar: 0, pbaOffset: 0 };
    const p = planned(cloudHypervisorPolicy, { pageSize: K4, region: region(0, 0x2000, MAPPABLE), msix: m, is64: false });
    expect(directs(p)).toEqual([[0x1000, 0x1000]]);
    expect(p.notes?.join()).toMatch(/misses the last page/);
  });

  it('a sub-page sparse area at a non-zero offset is refused (23a980cd5: "cannot be safely expanded")', () => {
    const r = plan(cloudHypervisorPolicy, { pageSize: K64, region: region(1, 0x8000, sparse([0x4000, 0x4000])) });
    expect(isRefusal(r) && r.code).toBe('mmap-area');
  });
});

describe('crosvm policy (devices/src/pci/vfio_pci.rs f1e797a6)', () => {
  const SSD660P: MsixLayout = { vectors: 22, tableBar: 0, tableOffset: 0x2000, pbaBar: 0, pbaOffset: 0x2100 };

  it('X1 Intel SSD 660P (6087a7907), 4 KiB, no capabilities: table clipped to 16 entries, one page hole, the rest mapped', () => {
    const p = planned(crosvmPolicy, { pageSize: K4, region: region(0, 0x4000), msix: SSD660P });
    expect(directs(p)).toEqual([
      [0, 0x2000],
      [0x3000, 0x1000],
    ]);
    expect(lines(p)).toEqual([
      '0+2000 direct kvm mmap',
      '2000+100 trap msix-table msix-table',
      '2100+8 trap msix-pba msix-pba',
      '2108+ef8 trap fd vmm-msix-hole',
      '3000+1000 direct kvm mmap',
    ]);
    expect(p.notes?.join()).toMatch(/clips the MSI-X table to 16 entries/);
  });

  it('X1 on a 64 KiB host, no capabilities: the page-rounded hole covers the BAR, all traps', () => {
    const p = planned(crosvmPolicy, { pageSize: K64, region: region(0, 0x4000), msix: SSD660P });
    expect(p.directs).toEqual([]);
  });

  for (const pageSize of [K4, K64]) {
    it(`X1 with MSIX_MAPPABLE (eb98b0b02), ${pageSize / 1024} KiB: no holes, the table page is mapped (slot rounded up, e2d00176e)`, () => {
      const p = planned(crosvmPolicy, { pageSize, region: region(0, 0x4000, MAPPABLE), msix: SSD660P });
      expect(directs(p)).toEqual([[0, Math.max(pageSize, 0x4000)]]);
      expect(p.notes?.join()).toMatch(/emulation is bypassed/);
    });
  }

  it('X2 NVIDIA vGPU sparse list (eb98b0b02): a device list covering the table is mapped as given', () => {
    const m: MsixLayout = { vectors: 4, tableBar: 0, tableOffset: 0, pbaBar: 0, pbaOffset: 0x800 };
    const p = planned(crosvmPolicy, { pageSize: K4, region: region(0, 0x4000, sparse([0, 0x4000])), msix: m });
    expect(directs(p)).toEqual([[0, 0x4000]]);
  });

  it('X3 PBA before the table (e892738ed): no clipping, no refusal', () => {
    const m: MsixLayout = { vectors: 64, tableBar: 0, tableOffset: 0x2000, pbaBar: 0, pbaOffset: 0x1000 };
    expect(crosvmPolicy.admit(fnView(m, [0x4000]), K4)).toBeUndefined();
    expect(planned(crosvmPolicy, { pageSize: K4, region: region(0, 0x4000), msix: m }).notes ?? []).toEqual([]);
  });
});

describe('kvmtool policy (vfio/pci.c b48735e5)', () => {
  const RTL8168: MsixLayout = { vectors: 4, tableBar: 4, tableOffset: 0, pbaBar: 4, pbaOffset: 0x800 };

  it('K1 RTL8168 on a 64 KiB host (f93acc0): BAR4 emulates only the table and PBA windows, the rest dropped', () => {
    const p = planned(kvmtoolPolicy, { pageSize: K64, region: region(4, 0x4000), msix: RTL8168 });
    expect(lines(p)).toEqual([
      '0+40 trap msix-table msix-table',
      '40+7c0 trap dropped vmm-unreachable',
      '800+8 trap fd msix-pba',
      '808+37f8 trap dropped vmm-unreachable',
    ]);
  });

  it('K1 RTL8168 BAR2 at guest 0x50004000 on a 64 KiB host (b4fc4f6): not page aligned, the whole BAR traps', () => {
    const p = planned(kvmtoolPolicy, { pageSize: K64, region: region(2, K4), msix: RTL8168, guestAddress: 0x5000_4000 });
    expect(lines(p)).toEqual(['0+1000 trap fd guest-bar-unaligned']);
  });

  it('K2 SiI3132 128-byte BAR at guest 0x41004600 (b4fc4f6): trapped through the fd', () => {
    const p = planned(kvmtoolPolicy, { pageSize: K4, region: region(0, 0x80), guestAddress: 0x4100_4600 });
    expect(p.directs).toEqual([]);
  });

  it('a sub-page BAR at a page-aligned guest address maps one whole page (vfio_map_region rounds the slot up)', () => {
    const p = planned(kvmtoolPolicy, { pageSize: K64, region: region(0, 0x4000) });
    expect(directs(p)).toEqual([[0, K64]]);
    expect(p.grown).toBe(true);
  });

  it('K3 NVMe-like BAR: the table moves to offset 0 and the registers around it are unreachable', () => {
    const p = planned(kvmtoolPolicy, { pageSize: K4, region: region(0, 0x4000), msix: INTEL_NVME });
    expect(lines(p)[0]).toBe('0+880 trap msix-table msix-table');
    expect(p.notes?.join()).toMatch(/unreachable/);
  });

  it('K4 vfio_pci_create_msix_table: "MSIX table overlaps with PBA" once the table is moved to 0', () => {
    const m: MsixLayout = { vectors: 256, tableBar: 0, tableOffset: 0x1000, pbaBar: 0, pbaOffset: 0x800 };
    expect(kvmtoolPolicy.admit(fnView(m, [0x4000]), K4)?.code).toBe('msix-table-overlaps-pba');
  });
});

describe('Firecracker policy (src/vmm/src/vfio.rs, PR #6055 85c8fe03)', () => {
  const tableAndPba = (to: number, po: number, n = 32): MsixLayout => ({
    vectors: n,
    tableBar: 0,
    tableOffset: to,
    pbaBar: 0,
    pbaOffset: po,
  });

  it('F1 test_calculate_bar_areas_msix_table_and_pba_in_different_bars: 0x1000 BARs give no areas, 0x2000 BARs one each', () => {
    const m: MsixLayout = { vectors: 32, tableBar: 0, tableOffset: 0, pbaBar: 2, pbaOffset: 0 };
    for (const [size, expected] of [
      [0x1000, []],
      [0x2000, [[0x1000, 0x1000]]],
    ] as const) {
      expect(directs(planned(firecrackerPolicy, { pageSize: K4, region: region(0, size, MAPPABLE), msix: m }))).toEqual(expected);
      expect(directs(planned(firecrackerPolicy, { pageSize: K4, region: region(2, size, MAPPABLE), msix: m }))).toEqual(expected);
    }
  });

  it('F2 ..._msix_table_and_pba_in_the_same_bar: two holes, no areas', () => {
    expect(planned(firecrackerPolicy, { pageSize: K4, region: region(0, 0x2000, MAPPABLE), msix: tableAndPba(0, 0x1000) }).directs).toEqual(
      [],
    );
  });

  it('F3 ..._overlapping_msix_holes: one merged hole, the second page mapped', () => {
    const p = planned(firecrackerPolicy, { pageSize: K4, region: region(0, 0x2000, MAPPABLE), msix: tableAndPba(0, 0x200) });
    expect(directs(p)).toEqual([[0x1000, 0x1000]]);
  });

  it('F4 ..._same_gpa_different_size_msix_holes: the PBA straddling 0x1000 makes one hole of the whole BAR', () => {
    const p = planned(firecrackerPolicy, { pageSize: K4, region: region(0, 0x2000, MAPPABLE), msix: tableAndPba(0, 0xff8, 128) });
    expect(p.directs).toEqual([]);
  });

  it('F5 ..._msix_table_past_region_end: MsixTableOutOfRange(0, 0x0, 0x2000, 0x1000)', () => {
    const r = firecrackerPolicy.admit(fnView(tableAndPba(0xff8, 0, 1), [0x1000]), K4);
    expect(r?.code).toBe('msix-table-out-of-range');
    expect(r?.why).toBe('BAR 0 MSI-X table at offset 0x0 size 0x2000 does not fit in region of size 0x1000');
  });

  it('F6 ..._msix_pba_past_region_end: MsixPbaOutOfRange(0, 0x0, 0x2000, 0x1000)', () => {
    const r = firecrackerPolicy.admit(fnView(tableAndPba(0, 0xff8, 128), [0x1000]), K4);
    expect(r?.code).toBe('msix-pba-out-of-range');
    expect(r?.why).toBe('BAR 0 MSI-X PBA at offset 0x0 size 0x2000 does not fit in region of size 0x1000');
  });

  it('F7 test_calculate_bar_areas_sparse_mmap: a checked list is mapped as given; an area past the end is refused', () => {
    const ok = planned(firecrackerPolicy, { pageSize: K4, region: region(1, 0x4000, sparse([0, 0x1000], [0x2000, 0x1000])) });
    expect(directs(ok)).toEqual([
      [0, 0x1000],
      [0x2000, 0x1000],
    ]);
    const bad = plan(firecrackerPolicy, { pageSize: K4, region: region(1, 0x4000, sparse([0, 0x1000], [0x2000, 0x3000])) });
    expect(isRefusal(bad) && bad.code).toBe('sparse-mmap-area-out-of-range');
  });

  it('F8 test_handle_bar_access_*: in a table-only hole the table is emulated and the rest of the page goes to the fd', () => {
    const m: MsixLayout = { vectors: 4, tableBar: 0, tableOffset: 0, pbaBar: 1, pbaOffset: 0x800 };
    const p = planned(firecrackerPolicy, { pageSize: K4, region: region(0, 0x2000, MAPPABLE), msix: m });
    expect(lines(p)).toEqual(['0+40 trap msix-table msix-table', '40+fc0 trap fd vmm-msix-hole', '1000+1000 direct kvm mmap']);
  });

  it('F9 on a 64 KiB host the Intel NVMe 16 KiB BAR is refused: MsixTableOutOfRange(0, 0x0, 0x10000, 0x4000)', () => {
    expect(firecrackerPolicy.admit(fnView(INTEL_NVME, [0x4000]), K64)?.why).toBe(
      'BAR 0 MSI-X table at offset 0x0 size 0x10000 does not fit in region of size 0x4000',
    );
  });

  it('a device without MSI-X is refused (vfio_prepare_device: NoMsixIrq)', () => {
    expect(firecrackerPolicy.admit(fnView(undefined, [0x4000]), K4)?.code).toBe('no-msix-irq');
  });
});

describe('--vmm on whole machines', () => {
  it('knows the five VMMs, and `all` is each of them', () => {
    expect(parseVmms('all')).toEqual([...VMM_IDS]);
    expect(() => parseVmms('bochs')).toThrow(/allowed: qemu, cloud-hypervisor, crosvm, kvmtool, firecracker, all/);
    for (const id of VMM_IDS) expect(vmmPolicy(id).id).toBe(id);
  });

  it("refuses QEMU's relocation knob with another VMM, and `--vmm all --msix-relocation both` runs the others once", () => {
    expect(() => sweepGrid('s', ['rfc-2015'], undefined, ['auto'], ['crosvm'])).toThrow(/QEMU's|never relocates/);
    const grid = sweepGrid('s', ['rfc-2015'], undefined, ['off', 'auto'], [...VMM_IDS]);
    expect(grid.length).toBe(8 * (2 + 4));
  });

  it("every row records its VMM; a layout a VMM refuses is that row's rejection, not a failed run", async () => {
    const scenario = await loadScenario('arm64-nvme');
    const rows = VMM_IDS.map((vmm) =>
      runExperiment(scenario, { patches: ALL_PATCHES, variant: 'upstream', seed: 1, pageSize: K64, vmm }, { ops: 200 }),
    );
    expect(rows.map((r) => r.vmm)).toEqual([...VMM_IDS]);
    const fc = rows[4]!;
    expect(fc.rejected).toMatchObject({ vmm: 'firecracker', code: 'msix-table-out-of-range' });
    expect(fc.workload.ops).toBe(0);
    for (const r of rows) if (!r.rejected) expect(r.isolation.violations).toBe(0);
  });

  it('the CLI refuses a bad --vmm and a relocation another VMM has no use for, with status 2', () => {
    const vhw = (...args: string[]) =>
      spawnSync(process.execPath, [resolve(__dirname, '../packages/cli/bin/vhw.mjs'), ...args], {
        encoding: 'utf8',
        env: { ...process.env, NO_COLOR: '1' },
      });
    const bad = vhw('sweep', 'ppc64-nic', '--vmm', 'bochs', '--no-progress');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/allowed: qemu, cloud-hypervisor, crosvm, kvmtool, firecracker, all/);
    const reloc = vhw('run', 'ppc64-nic', '--vmm', 'firecracker', '--msix-relocation', 'auto');
    expect(reloc.status).toBe(2);
    expect(reloc.stderr).toMatch(/Firecracker never relocates/);
  });

  it('--vmm qemu gives the recorded golden results of ppc64-nvme', async () => {
    const file = resolve(__dirname, 'golden/ppc64-nvme.json');
    if (!existsSync(file)) return;
    const golden = JSON.parse(readFileSync(file, 'utf8')) as Array<Record<string, unknown>>;
    const scenario = await loadScenario('ppc64-nvme');
    let i = 0;
    for (const variant of ['rfc-2015', 'upstream'] as const) {
      for (const patches of allPatchCombinations()) {
        const row = runExperiment(scenario, { patches, variant, seed: 1, vmm: 'qemu' }) as unknown as Record<string, unknown>;
        const want = goldenRow(golden[i++]!);
        const got = goldenRow(row);
        expect({ ...got, workload: undefined }).toEqual({ ...want, workload: undefined });
        const w = (x: Record<string, unknown>) => (x.workload as { opsPerSecond: number }).opsPerSecond;
        expect(w(got)).toBeCloseTo(w(want), 3);
      }
    }
    expect(i).toBe(golden.length);
  });
});
