/**
 * MSI-X relocation is a knob of its own: with it off, the PPC64 scenarios are exactly what
 * they were. Every PPC64 scenario at every patch combination and variant builds the same
 * machine (plugin options, BAR plans, page map) with `relocation: 'off'` as without the
 * field, and the default scenario's full sweep with relocation off gives the recorded
 * golden results.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type ExperimentConfig,
  VARIANTS,
  allPatchCombinations,
  barResults,
  buildPageMap,
  builtinScenarioNames,
  loadScenario,
  pluginRecords,
  prepare,
  runExperiment,
} from '@vhw/experiment';
import { goldenRow } from './golden-row';

const PPC64 = builtinScenarioNames().filter((n) => n.startsWith('ppc64-'));

/** A prepared machine's VMM view and resolved plugin options, for comparison. */
async function view(name: string, config: ExperimentConfig) {
  const run = prepare(await loadScenario(name), config);
  try {
    return { bars: barResults(run.vmm), map: buildPageMap(run), plugins: pluginRecords(run.machine.plugins) };
  } finally {
    run.machine.dispose();
  }
}

/** Rounds non-integers to 9 significant digits (simulated time is a sum of many charges). */
const rounded = (x: unknown): unknown =>
  JSON.parse(JSON.stringify(x), (_k, v: unknown) => (typeof v === 'number' && !Number.isInteger(v) ? Number(v.toPrecision(9)) : v));

describe('PPC64 scenarios with MSI-X relocation off', () => {
  it('covers the PPC64 scenarios', () => {
    expect(PPC64.length).toBeGreaterThanOrEqual(4);
  });

  for (const name of PPC64) {
    it(`${name}: relocation off builds the same machine as no relocation field, at every point`, async () => {
      for (const variant of VARIANTS) {
        for (const patches of allPatchCombinations()) {
          const base = { patches, variant, seed: 1 };
          const off = await view(name, { ...base, relocation: 'off' });
          expect(off).toEqual(await view(name, base));
          expect(off.bars.some((b) => b.msixRelocated !== undefined)).toBe(false);
          expect(off.map.msixRelocations).toBeUndefined();
        }
      }
    });
  }

  it('ppc64-mixed: the sweep with relocation off gives the golden results', async () => {
    const scenario = await loadScenario('ppc64-mixed');
    const golden = JSON.parse(readFileSync(join(resolve(__dirname), 'golden/ppc64-mixed.json'), 'utf8')) as Array<Record<string, unknown>>;
    let i = 0;
    for (const variant of VARIANTS) {
      for (const patches of allPatchCombinations()) {
        const r = runExperiment(scenario, { patches, variant, seed: 1, relocation: 'off' });
        expect(r.relocation).toBe('off');
        const row = goldenRow(r as unknown as Record<string, unknown>);
        expect(rounded(row)).toEqual(rounded(golden[i++]));
      }
    }
  }, 180_000);
});
