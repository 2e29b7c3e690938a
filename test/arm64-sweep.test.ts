/**
 * The arm64 sweep from the mechanism: on a 64 KiB arm64 host whose QEMU `virt` guest
 * programs the MSI-X table (so the VMM emulates it), which of the RFC's patches still
 * change anything. Relations only, no figure asserted.
 */
import { describe, expect, it } from 'vitest';
import { type PatchSet, type RunResult, allPatchCombinations, loadScenario, runExperiment } from '@vhw/experiment';

const key = (p: PatchSet) => `${+p.alignBars}${+p.subPageMmap}${+p.msixMmap}`;

async function sweep(
  name: string,
  variant: 'rfc-2015' | 'upstream',
  pageSize?: number,
  relocation?: 'off' | 'auto',
): Promise<Map<string, RunResult>> {
  const s = await loadScenario(name);
  const out = new Map<string, RunResult>();
  for (const patches of allPatchCombinations()) {
    const config = { patches, variant, seed: 1, ...(pageSize ? { pageSize } : {}), ...(relocation ? { relocation } : {}) };
    out.set(key(patches), runExperiment(s, config, { ops: 600 }));
  }
  return out;
}

const mmapOf = (x: RunResult, device: string, bar = 0) => x.bars.find((b) => b.device === device && b.bar === bar)!;
/** Traps of one device's BAR, summed over its areas. */
const trapsOf = (x: RunResult, device: string, bar = 0) => mmapOf(x, device, bar).areas.reduce((n, a) => n + (a.traps ?? 0), 0);

describe('arm64-mixed, 64 KiB pages, virt guest (emulated MSI-X table)', () => {
  it('runs on the arm64 platform, every combination with 0 isolation violations and no failed request', async () => {
    for (const variant of ['rfc-2015', 'upstream'] as const) {
      for (const r of (await sweep('arm64-mixed', variant)).values()) {
        expect(r.platform).toMatchObject({ name: 'arm64', pageSize: 65536, eeh: false });
        expect(r.isolation.violations).toBe(0);
        expect(r.workload.failed).toBe(0);
      }
    }
  });

  it('rfc-2015: only P1+P2 change anything (the NIC register BAR); P3 never takes effect without EEH', async () => {
    const r = await sweep('arm64-mixed', 'rfc-2015');
    const none = r.get('000')!;
    expect(none.mmio.direct).toBe(0);
    for (const [k, x] of r) {
      const p1p2 = k.startsWith('11');
      // P3 adds nothing on top of any combination: its RFC condition is EEH.
      expect(x.workload.simulatedNs).toBe(r.get(`${k.slice(0, 2)}0`)!.workload.simulatedNs);
      expect(x.workload.simulatedNs === none.workload.simulatedNs).toBe(!p1p2);
      expect(mmapOf(x, 'nic0').mmap).toBe(p1p2 ? 'full' : 'none');
      if (k.endsWith('1')) expect(mmapOf(x, 'nvme1').reason).toBe('no-isolation');
      // The NVMe doorbells share a host page with the table: they trap in every combination.
      expect(mmapOf(x, 'nvme0').mmap).toBe('none');
      expect(mmapOf(x, 'nvme1').mmap).toBe('none');
      expect(trapsOf(x, 'nvme0')).toBe(trapsOf(none, 'nvme0'));
      expect(trapsOf(x, 'nvme1')).toBe(trapsOf(none, 'nvme1'));
    }
    expect(r.get('111')!.mmio.direct).toBe(trapsOf(none, 'nic0'));
  });

  it('upstream: P3 maps the table BARs in the kernel, but the emulated table keeps their pages trapping (cheaper traps, none direct)', async () => {
    const r = await sweep('arm64-mixed', 'upstream');
    for (const [k, x] of r) {
      const without = r.get(`${k.slice(0, 2)}0`)!;
      expect(x.mmio.direct).toBe(without.mmio.direct);
      expect(x.mmio.trapped).toBe(without.mmio.trapped);
      expect(mmapOf(x, 'nvme0').mmap).toBe('none');
      expect(mmapOf(x, 'nvme1').mmap).toBe('none');
      if (k.endsWith('1')) {
        // Served from QEMU's own mmap of the BAR instead of a pread/pwrite on the vfio fd.
        expect(mmapOf(x, 'nvme1').reason).toBe('msix-emulation');
        expect(x.mmio.trapsByReason['msix-emulation']).toBeGreaterThan(0);
        expect(x.workload.simulatedNs).toBeLessThan(without.workload.simulatedNs);
      }
    }
    expect(mmapOf(r.get('110')!, 'nic0').mmap).toBe('full');
    expect(r.get('111')!.mmio.direct).toBe(trapsOf(r.get('000')!, 'nic0'));
  });

  it('contrast: on ppc64-mixed all three patches remove every trap; on arm64 the NVMe traps stay', async () => {
    const ppc = runExperiment(await loadScenario('ppc64-mixed'), { patches: allOn(), variant: 'upstream', seed: 1 }, { ops: 600 });
    const arm = runExperiment(await loadScenario('arm64-mixed'), { patches: allOn(), variant: 'upstream', seed: 1 }, { ops: 600 });
    expect(ppc.mmio.trapped).toBe(0);
    expect(arm.mmio.trapped).toBe(trapsOf(arm, 'nvme0') + trapsOf(arm, 'nvme1'));
    expect(arm.mmio.trapped).toBeGreaterThan(0);
  });

  it('smaller granules: at 16 KiB no patch changes the trap count, at 4 KiB nothing traps', async () => {
    for (const variant of ['rfc-2015', 'upstream'] as const) {
      const at16k = await sweep('arm64-mixed', variant, 16384);
      expect(new Set([...at16k.values()].map((x) => x.mmio.trapped)).size).toBe(1);
      expect(mmapOf(at16k.get('000')!, 'nic0').mmap).toBe('full');
      const at4k = await sweep('arm64-mixed', variant, 4096);
      for (const x of at4k.values()) expect(x.mmio.trapped).toBe(0);
    }
  });
});

describe('arm64-mixed with MSI-X relocation (upstream)', () => {
  it('moves the emulated table out of the hot pages: the hot registers go direct where the layout allows, 0 violations', async () => {
    const off = await sweep('arm64-mixed', 'upstream', undefined, 'off');
    const auto = await sweep('arm64-mixed', 'upstream', undefined, 'auto');
    for (const [k, x] of auto) {
      const without = off.get(k)!;
      expect(x.relocation).toBe('auto');
      expect(without.relocation).toBe('off');
      expect(x.isolation.violations).toBe(0);
      expect(without.isolation.violations).toBe(0);
      expect(x.workload.failed).toBe(0);
      // Each device gets a BAR for the emulated table and PBA, reported as such.
      expect(x.bars.filter((b) => b.reason === 'msix-relocated').map((b) => b.device)).toEqual(['nvme0', 'nic0', 'nvme1']);
      // Relocation never costs a direct access, and without P3 (the kernel still refuses the
      // device's own table page) it frees nothing: the page traps through the fd instead.
      expect(x.mmio.direct).toBeGreaterThanOrEqual(without.mmio.direct);
      if (k.endsWith('0')) expect(x.mmio.trapped).toBe(without.mmio.trapped);
    }
    // P3 (unconditional in kernels since 4.16) is enough for the 64 KiB BAR once the table has moved.
    expect(mmapOf(auto.get('001')!, 'nvme1').mmap).toBe('full');
    expect(mmapOf(off.get('001')!, 'nvme1').mmap).toBe('none');
    expect(trapsOf(auto.get('001')!, 'nvme1')).toBe(0);
    // The 16 KiB BAR is sub-page: it needs P1+P2 as well, as on PPC64.
    expect(mmapOf(auto.get('011')!, 'nvme0').mmap).toBe('none');
    expect(mmapOf(auto.get('111')!, 'nvme0').mmap).toBe('full');
    // All three patches with relocation: no trap left, as on PPC64 with RTAS; without it the NVMe doorbells trap.
    expect(auto.get('111')!.mmio.trapped).toBe(0);
    expect(off.get('111')!.mmio.trapped).toBe(trapsOf(off.get('111')!, 'nvme0') + trapsOf(off.get('111')!, 'nvme1'));
    expect(off.get('111')!.mmio.trapped).toBeGreaterThan(0);
  });
});

function allOn(): PatchSet {
  return { alignBars: true, subPageMmap: true, msixMmap: true };
}
