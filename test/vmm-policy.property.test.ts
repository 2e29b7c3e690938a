/**
 * Isolation under every VMM policy, as a property: on random machines (random device
 * layouts, all three platforms and page sizes, every patch combination and variant, both
 * guest BAR placements) and a random VMM, no direct mapping exposes anything but its owner.
 * A policy may map less than another, never a page holding a foreign device. Checked by the
 * VMM's own audit() and by the BAR-table oracle of @vhw/test-support, which recomputes
 * ownership from the host and guest BAR tables alone. A VMM that refuses the device maps
 * nothing at all.
 *
 * The seed is printed; `VHW_SEED=<seed>` replays a run.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Machine, PageKind, type VhwPlugin, VhwError, guestRam } from '@vhw/core';
import { nicLite } from '@vhw/device-nic-lite';
import { nvmeLite } from '@vhw/device-nvme-lite';
import { type HostBridge, type MsixDecl, PciHostToken } from '@vhw/pci';
import { arm64Platform } from '@vhw/platform-arm64';
import { genericPlatform } from '@vhw/platform-generic';
import { Ppc64Phb, ppc64Platform } from '@vhw/platform-ppc64';
import { vfioPci } from '@vhw/vfio-pci';
import { VMM_IDS, type Vmm, VmmToken, vmm } from '@vhw/vmm';
import { BarTableOracle, directMappingViolations, guestBarSources, hostBarSources, readBarTable, toyDevice } from '@vhw/test-support';

const RUNS = 120;
const SEED = process.env.VHW_SEED ? Number(process.env.VHW_SEED) | 0 : (Date.now() ^ Math.floor(Math.random() * 2 ** 31)) | 0;

interface ToyChoice {
  sizeLog: number;
  is64: boolean;
  vectors: number;
  /** Where the table goes, as a fraction of the free space (0..1000). */
  tablePos: number;
  pbaPos: number;
  /** Table and PBA in a second BAR of their own. */
  ownBar: boolean;
}
type DeviceChoice = { type: 'toy'; toy: ToyChoice } | { type: 'nvme'; layout: 'bar0-16k' | 'bar0-64k' } | { type: 'nic' };
interface MachineChoice {
  platform: 'ppc64' | 'generic' | 'arm64';
  pageSize: number;
  devices: DeviceChoice[];
  p1: boolean;
  p2: boolean;
  p3: boolean;
  variant: 'rfc-2015' | 'upstream';
  placement: 'page-aligned' | 'natural';
  policy: (typeof VMM_IDS)[number];
}

const toyArb: fc.Arbitrary<ToyChoice> = fc.record({
  sizeLog: fc.integer({ min: 7, max: 17 }),
  is64: fc.boolean(),
  vectors: fc.integer({ min: 1, max: 8 }),
  tablePos: fc.nat({ max: 1000 }),
  pbaPos: fc.nat({ max: 1000 }),
  ownBar: fc.boolean(),
});
const deviceArb: fc.Arbitrary<DeviceChoice> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ type: fc.constant('toy' as const), toy: toyArb }) },
  {
    weight: 1,
    arbitrary: fc.record({ type: fc.constant('nvme' as const), layout: fc.constantFrom('bar0-16k' as const, 'bar0-64k' as const) }),
  },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('nic' as const) }) },
);
const machineArb: fc.Arbitrary<MachineChoice> = fc.record({
  platform: fc.constantFrom('ppc64' as const, 'generic' as const, 'arm64' as const),
  pageSize: fc.constantFrom(4096, 16384, 65536),
  devices: fc.array(deviceArb, { minLength: 1, maxLength: 6 }),
  p1: fc.boolean(),
  p2: fc.boolean(),
  p3: fc.boolean(),
  variant: fc.constantFrom('rfc-2015' as const, 'upstream' as const),
  placement: fc.constantFrom('page-aligned' as const, 'natural' as const),
  policy: fc.constantFrom(...VMM_IDS),
});

/** A valid toy layout: one register BAR with the MSI-X table and PBA in it, or a second BAR for them. */
function toyLayout(t: ToyChoice): { bars: Array<{ index: number; size: number; kind: 'mem32' | 'mem64' }>; msix: MsixDecl } {
  const size = 2 ** t.sizeLog;
  const kind = t.is64 ? 'mem64' : 'mem32';
  const table = t.vectors * 16;
  const pba = 8;
  if (t.ownBar || size < table + pba) {
    let own = 16;
    while (own < table + pba) own *= 2;
    return {
      bars: [
        { index: 0, size, kind },
        { index: 2, size: own, kind: 'mem32' },
      ],
      msix: { vectors: t.vectors, tableBar: 2, tableOffset: 0, pbaBar: 2, pbaOffset: table },
    };
  }
  // Table anywhere (8-byte aligned), PBA after it or before it, never overlapping.
  const tableOffset = Math.floor(((size - table - pba) / 8) * (t.tablePos / 1000)) * 8;
  const after = size - tableOffset - table - pba;
  const pbaOffset =
    after >= 0 && t.pbaPos % 2 === 0
      ? tableOffset + table + Math.floor((after / 8) * (t.pbaPos / 1000)) * 8
      : tableOffset >= pba
        ? 0
        : tableOffset + table;
  return { bars: [{ index: 0, size, kind }], msix: { vectors: t.vectors, tableBar: 0, tableOffset, pbaBar: 0, pbaOffset } };
}

function plugins(c: MachineChoice): VhwPlugin[] {
  const platform =
    c.platform === 'ppc64'
      ? ppc64Platform({ pageSize: c.pageSize, alignBars: c.p1 })
      : c.platform === 'arm64'
        ? arm64Platform({ pageSize: c.pageSize, alignBars: c.p1 })
        : genericPlatform({ pageSize: c.pageSize, alignBars: c.p1 });
  const devices = c.devices.map((d, i) =>
    d.type === 'nvme'
      ? nvmeLite({ name: `d${i}`, layout: d.layout })
      : d.type === 'nic'
        ? nicLite({ name: `d${i}` })
        : toyDevice({ name: `d${i}`, ...toyLayout(d.toy) }),
  );
  return [
    platform,
    guestRam({ size: 1 << 20 }),
    ...devices,
    vfioPci({ variant: c.variant, subPageMmap: c.p2, msixMmap: c.p3 }),
    vmm({ guestBarPlacement: c.placement, policy: c.policy }),
  ];
}

/** Every direct mapping against the BAR-table oracle, and the VMM's own audit. */
function violations(machine: Machine, v: Vmm, bridge: HostBridge): string[] {
  const segments =
    bridge instanceof Ppc64Phb ? { base: bridge.segments[0]!.base, size: bridge.segmentSize, count: bridge.segments.length } : undefined;
  const host = new BarTableOracle(readBarTable(hostBarSources(bridge)), segments);
  const guest = new BarTableOracle(readBarTable(guestBarSources(v.functions)));
  const oracle = machine.mmu.entries
    .filter((m) => m.kind === PageKind.Direct)
    .flatMap((m) =>
      directMappingViolations({ name: m.name, gpa: m.base, hostPa: m.hostPa, size: m.size, owner: m.owner }, host, guest, v.pageSize),
    );
  return [...v.audit(), ...oracle];
}

describe('isolation holds under every VMM policy', () => {
  it(`${RUNS} random machines, a random VMM each (seed ${SEED})`, () => {
    console.log(`vmm-policy isolation property: seed ${SEED} (replay with VHW_SEED=${SEED})`);
    const seen = new Set<string>();
    fc.assert(
      fc.property(machineArb, (c) => {
        let machine: Machine;
        try {
          machine = Machine.create({ plugins: plugins(c) });
        } catch (e) {
          // Host resources a random machine cannot have (windows or PEs exhausted) are not the property.
          if (VhwError.is(e) && (e.code === 'E_ALLOCATION' || e.code === 'E_CONFIG')) return;
          throw e;
        }
        try {
          const v = machine.get(VmmToken);
          const bridge = machine.get(PciHostToken);
          seen.add(v.rejection ? `${c.policy} rejected` : c.policy);
          if (v.rejection) {
            expect(machine.mmu.entries.filter((m) => m.kind === PageKind.Direct)).toEqual([]);
            return;
          }
          expect(violations(machine, v, bridge)).toEqual([]);
        } finally {
          machine.dispose();
        }
      }),
      { numRuns: RUNS, seed: SEED },
    );
    for (const id of VMM_IDS)
      expect(
        [...seen].some((s) => s.startsWith(id)),
        `${id} ran`,
      ).toBe(true);
  }, 120_000);
});
