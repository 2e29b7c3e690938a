/**
 * The structure of the headline result, from the mechanism: which combinations change
 * the trap pattern and which cannot (no figure is asserted, only relations).
 */
import { describe, expect, it } from 'vitest';
import { type PatchSet, type RunResult, allPatchCombinations, loadScenario, runExperiment } from '@vhw/experiment';

const key = (p: PatchSet) => `${+p.alignBars}${+p.subPageMmap}${+p.msixMmap}`;

async function sweep(name: string, variant: 'rfc-2015' | 'upstream'): Promise<Map<string, RunResult>> {
  const s = await loadScenario(name);
  const out = new Map<string, RunResult>();
  for (const patches of allPatchCombinations()) out.set(key(patches), runExperiment(s, { patches, variant, seed: 1 }, { ops: 600 }));
  return out;
}

describe('the headline on ppc64-mixed', () => {
  it('rfc-2015: all three patches remove every trap and are the fastest; P1 or P2 alone change nothing', async () => {
    const r = await sweep('ppc64-mixed', 'rfc-2015');
    const none = r.get('000')!;
    const all = r.get('111')!;
    expect(none.mmio.direct).toBe(0);
    expect(all.mmio.trapped).toBe(0);
    for (const x of r.values()) {
      expect(x.workload.failed).toBe(0);
      expect(x.isolation.violations).toBe(0);
      expect(all.workload.opsPerSecond).toBeGreaterThanOrEqual(x.workload.opsPerSecond);
    }
    expect(all.workload.opsPerSecond).toBeGreaterThan(none.workload.opsPerSecond);
    expect(r.get('100')!.workload.simulatedNs).toBe(none.workload.simulatedNs);
    expect(r.get('010')!.workload.simulatedNs).toBe(none.workload.simulatedNs);
    // Same traps, but the sub-page BARs now say why patch 2 could not help.
    expect(r.get('010')!.mmio.trapped).toBe(none.mmio.trapped);
    expect(r.get('010')!.mmio.trapsByReason['sub-page-bar']).toBeUndefined();
    expect(r.get('010')!.mmio.trapsByReason['bars-not-page-aligned']).toBe(none.mmio.trapsByReason['sub-page-bar']);
    // P1+P2 frees the NIC's register BAR; P3 alone frees the 64 KiB NVMe; only all three free the 16 KiB NVMe.
    const nvme0 = (x: RunResult) => x.bars.find((b) => b.device === 'nvme0')!.mmap;
    const nic0 = (x: RunResult) => x.bars.find((b) => b.device === 'nic0' && b.bar === 0)!.mmap;
    const nvme1 = (x: RunResult) => x.bars.find((b) => b.device === 'nvme1')!.mmap;
    expect([nvme0(r.get('110')!), nic0(r.get('110')!), nvme1(r.get('110')!)]).toEqual(['none', 'full', 'none']);
    expect([nvme0(r.get('001')!), nic0(r.get('001')!), nvme1(r.get('001')!)]).toEqual(['none', 'none', 'full']);
    expect([nvme0(all), nic0(all), nvme1(all)]).toEqual(['full', 'full', 'full']);
  });

  it('upstream: P2 without P1 frees a sub-page BAR that happens to own its page, not one that shares it', async () => {
    const r = await sweep('ppc64-mixed', 'upstream');
    const p23 = r.get('011')!;
    expect(p23.bars.find((b) => b.device === 'nvme0')!.mmap).toBe('full');
    expect(p23.bars.find((b) => b.device === 'nic0' && b.bar === 0)!.reason).toBe('shared-page');
  });

  it('the 4 KiB control: no combination changes anything', async () => {
    const r = await sweep('generic-mixed', 'rfc-2015');
    const times = new Set([...r.values()].map((x) => x.workload.simulatedNs));
    expect(times.size).toBe(1);
    for (const x of r.values()) expect(x.mmio.trapped).toBe(0);
  });
});

describe('per-area trap counts and the cost of patch 1 in MMIO space', () => {
  it("the trapped areas account for every trap of the workload, and patch 1 widens the BARs' span", async () => {
    const s = await loadScenario('ppc64-mixed');
    const none = runExperiment(
      s,
      { patches: { alignBars: false, subPageMmap: false, msixMmap: false }, variant: 'rfc-2015', seed: 1 },
      { ops: 300 },
    );
    const perArea = none.bars.flatMap((b) => b.areas).reduce((n, a) => n + (a.traps ?? 0), 0);
    expect(perArea).toBe(none.mmio.trapped);
    const p1 = runExperiment(
      s,
      { patches: { alignBars: true, subPageMmap: false, msixMmap: false }, variant: 'rfc-2015', seed: 1 },
      { ops: 300 },
    );
    expect(p1.platform.barSpanBytes!).toBeGreaterThan(none.platform.barSpanBytes!);
  });
});
