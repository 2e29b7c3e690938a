import {
  ClockToken,
  ContainerModule,
  CostModelToken,
  type InterruptEvent,
  type IsolationEvent,
  Machine,
  guestRam,
  type VhwPlugin,
  definePlugin,
  simplePlatform,
  z,
} from '@vhw/core';
import { Cfg, Command, type MsixDecl, PciDeviceToken, PciHostToken } from '@vhw/pci';
import { genericPlatform } from '@vhw/platform-generic';
import { type Ppc64Phb, ppc64Platform } from '@vhw/platform-ppc64';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectVhwError, ToyDevice, toyDevice } from '@vhw/test-support';
import { VfioPciDevice, readMsixLayout } from './device.js';
import { SubPageMmapPolicy } from './policy.js';
import { VFIO_COST_PARAMETERS, VfioToken, vfioPci, vfioPciOptions } from './index.js';
import type { Variant } from '@vhw/core';
import {
  VFIO_PCI_CONFIG_REGION_INDEX,
  VFIO_REGION_INFO_FLAG_MMAP,
  VFIO_REGION_INFO_FLAG_READ,
  VFIO_REGION_INFO_FLAG_WRITE,
} from './uapi.js';

const PAGE = 0x10000;
const CFG = VFIO_PCI_CONFIG_REGION_INDEX;

const NVME_MSIX: MsixDecl = { vectors: 32, tableBar: 0, tableOffset: 0x2000, pbaBar: 0, pbaOffset: 0x3000 };
const nvme = (name: string) => toyDevice({ name, bars: [{ index: 0, size: 0x4000, kind: 'mem64' }], msix: NVME_MSIX });
const igbvf = (name: string) =>
  toyDevice({
    name,
    bars: [
      { index: 0, size: 0x4000 },
      { index: 3, size: 0x4000 },
    ],
    msix: { vectors: 3, tableBar: 3, tableOffset: 0, pbaBar: 3, pbaOffset: 0x2000 },
  });
const kioxia = (name: string) =>
  toyDevice({
    name,
    bars: [{ index: 0, size: 0x10000, kind: 'mem64' }],
    msix: { vectors: 64, tableBar: 0, tableOffset: 0x5200, pbaBar: 0, pbaOffset: 0xd600 },
  });
const plain = (name: string) => toyDevice({ name, bars: [{ index: 2, size: 0x1000 }] });

interface Toggles {
  variant?: Variant;
  p2?: boolean;
  p3?: boolean;
  devices?: string[];
}

function build(platform: VhwPlugin, devices: VhwPlugin[], t: Toggles = {}, costs?: Record<string, number>) {
  const machine = Machine.create({
    plugins: [
      platform,
      ...devices,
      vfioPci({ variant: t.variant ?? 'rfc-2015', subPageMmap: t.p2 ?? false, msixMmap: t.p3 ?? false, devices: t.devices }),
    ],
    costs,
  });
  const bridge = machine.get(PciHostToken);
  const driver = machine.get(VfioToken);
  const toy = (name: string) => bridge.findFunction(name).device as ToyDevice;
  return { machine, bridge, driver, toy, dev: (name: string) => driver.device(name) };
}

describe('VfioPciDevice mmap', () => {
  it('refuses a region that is not mmappable, naming the reason', () => {
    const { dev } = build(ppc64Platform({}), [nvme('n')]);
    const e = expectVhwError(() => dev('n').mmap(0, 0, PAGE), 'E_MMAP_DENIED');
    expect(e.message).toContain('vfio n: mmap of region 0');
    expect(e.message).toContain('not mmappable (sub-page-bar)');
    expect(dev('n').counters.mmapRefused).toBe(1);
    expect(dev('n').counters.mmaps).toBe(0);
  });

  it('refuses unaligned offsets and sizes, and empty mappings', () => {
    const { dev } = build(ppc64Platform({}), [kioxia('k')], { p3: true });
    const d = dev('k');
    for (const [off, size] of [
      [0x1000, PAGE],
      [0, 0x8000],
      [0, 0],
      [0, -PAGE],
      [0.5, PAGE],
    ]) {
      expectVhwError(() => d.mmap(0, off!, size!), 'E_MMAP_DENIED', 'whole 65536-byte pages');
    }
    expect(d.counters.mmapRefused).toBe(5);
    expect(d.mmap(0, 0, PAGE).size).toBe(PAGE);
    expect(d.counters.mmaps).toBe(1);
  });

  it('refuses a mapping beyond the page-rounded region', () => {
    const { dev } = build(ppc64Platform({ alignBars: true }), [nvme('n')], { p2: true, p3: true });
    for (const [off, size] of [
      [PAGE, PAGE],
      [0, 2 * PAGE],
    ]) {
      const e = expectVhwError(() => dev('n').mmap(0, off!, size!), 'E_MMAP_DENIED');
      expect(e.message).toContain("beyond the region's 65536 mappable bytes");
    }
  });

  it('refuses a mapping that overlaps the excluded table pages, and allows the rest', () => {
    const dev = build(ppc64Platform({}), [
      toyDevice({
        name: 'w',
        bars: [{ index: 2, size: 0x20000, kind: 'mem64' }],
        msix: { vectors: 8, tableBar: 2, tableOffset: 0x18000, pbaBar: 2, pbaOffset: 0x1000 },
      }),
    ]).dev('w');
    expect(dev.mmap(2, 0, PAGE)).toMatchObject({ region: 2, offset: 0, size: PAGE });
    for (const [off, size] of [
      [PAGE, PAGE],
      [0, 2 * PAGE],
    ]) {
      expectVhwError(
        () => dev.mmap(2, off!, size!),
        'E_MMAP_DENIED',
        'overlaps the MSI-X table pages [0x10000, 0x20000) (msix-table-page)',
      );
    }
  });

  it('refuses regions of size 0 and regions that do not exist', () => {
    const { dev } = build(ppc64Platform({}), [kioxia('k')], { p3: true });
    for (const index of [1, 2, 5, 6, CFG, 8, -1, 99]) {
      expectVhwError(() => dev('k').mmap(index, 0, PAGE), 'E_MMAP_DENIED', 'does not exist or has size 0');
    }
  });

  it('maps the whole page of a sub-page BAR; the page holds nothing of anyone else', () => {
    for (const variant of ['rfc-2015', 'upstream'] as const) {
      const { bridge, dev, toy } = build(ppc64Platform({ alignBars: true, peGranularity: 'bus' }), [nvme('n'), igbvf('g')], {
        variant,
        p2: true,
        p3: true,
      });
      for (const [name, index] of [
        ['n', 0],
        ['g', 0],
        ['g', 3],
      ] as const) {
        const fn = bridge.findFunction(name);
        const m = dev(name).mmap(index, 0, PAGE);
        expect(m).toMatchObject({ region: index, offset: 0, size: PAGE, hostPa: fn.bar(index)!.address });
        const owners = bridge.ownersOf(m.hostPa, m.size);
        expect(owners.filter((o) => o.kind === 'bar')).toEqual([expect.objectContaining({ owner: name, bar: index })]);
        expect(owners.filter((o) => o.kind === 'reservation').map((o) => o.owner)).toEqual(variant === 'upstream' ? [name] : []);
        expect(owners.every((o) => o.group === fn.group.id)).toBe(true);
      }
      // The mapping reaches the registers, and (patch 3) the MSI-X table, at host addresses.
      const m = dev('n').mmap(0, 0, PAGE);
      m.handler.write(m.handlerOffset + 0x100, 4, 0xbeef);
      expect(toy('n').regs.get('0:256')).toBe(0xbeef);
      expect(m.handler.read(m.handlerOffset + 0x100, 4)).toBe(0xbeef);
      m.handler.write(m.handlerOffset + 0x2000 + 8, 4, 0x4242);
      expect(toy('n').msix!.entry(0).data).toBe(0x4242);
    }
  });

  it('refuses a sub-page BAR that does not start its page even when the policy lets it be mmapped', () => {
    // The policy is told BARs are page aligned (rfc-2015, patch 2) on a host that packs them:
    // the mmap's own check is all that stands between the guest and BAR0's bytes.
    const { machine, bridge } = build(genericPlatform({ pageSize: PAGE, alignBars: false }), [
      toyDevice({
        name: 't',
        bars: [
          { index: 0, size: 0x4000 },
          { index: 1, size: 0x4000 },
        ],
      }),
    ]);
    const fn = bridge.findFunction('t');
    const lying = new SubPageMmapPolicy(
      { variant: 'rfc-2015', subPageMmap: true, msixMmap: false },
      { pageSize: PAGE, allMmioBarsPageAligned: true, eeh: false },
    );
    const d = new VfioPciDevice(fn, bridge, lying, machine.get(ClockToken), machine.get(CostModelToken));
    const packed = [0, 1].find((i) => fn.bar(i)!.address % PAGE !== 0)!;
    expect(packed).toBeDefined();
    expect(d.getRegionInfo(packed).flags & VFIO_REGION_INFO_FLAG_MMAP).not.toBe(0);
    const e = expectVhwError(() => d.mmap(packed, 0, PAGE), 'E_MMAP_DENIED', 'not on a page boundary');
    expect(e.message).toContain(`the BAR starts at 0x${fn.bar(packed)!.address.toString(16)}`);
    expect(d.counters).toMatchObject({ mmaps: 0, mmapRefused: 1 });
    // The BAR that starts the page maps: the refusal is about the start, not the size.
    expect(d.mmap(1 - packed, 0, PAGE).hostPa).toBe(fn.bar(1 - packed)!.address);
    machine.dispose();
  });

  it('fails every call on a closed fd with E_STATE', () => {
    const { dev } = build(ppc64Platform({}), [kioxia('k')]);
    dev('k').close();
    dev('k').close(); // idempotent
    expectVhwError(() => dev('k').mmap(0, 0, PAGE), 'E_STATE');
    expectVhwError(() => dev('k').getRegionInfo(0), 'E_STATE');
    expectVhwError(() => dev('k').setMsixIrqs([]), 'E_STATE');
    expectVhwError(() => dev('k').reset(), 'E_STATE');
  });
});

describe('VfioPciDevice region info', () => {
  it('describes config space, BARs, the upper half of a 64-bit BAR and absent regions', () => {
    const { dev } = build(ppc64Platform({}), [nvme('n')]);
    const d = dev('n');
    expect(d.getRegionInfo(CFG)).toEqual({
      index: CFG,
      flags: VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE,
      size: 256,
      offset: CFG * 2 ** 40,
      caps: [],
    });
    expect(d.getRegionInfo(0)).toMatchObject({ index: 0, size: 0x4000, offset: 0 });
    expect(d.getRegionInfo(1)).toEqual({ index: 1, flags: 0, size: 0, offset: 2 ** 40, caps: [] });
    expect(d.getRegionInfo(6)).toMatchObject({ size: 0, flags: 0 });
    expect(d.getRegionInfo(8)).toMatchObject({ size: 0, flags: 0 });
    for (const bad of [-1, 9, 1.5]) expectVhwError(() => d.getRegionInfo(bad), 'E_RANGE');
    expect(d.getDeviceInfo()).toMatchObject({ numRegions: 9, numIrqs: 5 });
  });
});

describe('VfioPciDevice fd path (region read/write)', () => {
  const layouts: Array<[string, () => VhwPlugin, number, number, number, number]> = [
    // name, plugin, register BAR, register offset, table BAR, table offset
    ['nvme-16k', () => nvme('d'), 0, 0x1000, 0, 0x2000],
    ['igbvf-like', () => igbvf('d'), 0, 0x10, 3, 0],
    ['kioxia-like', () => kioxia('d'), 0, 0x5000, 0, 0x5200],
  ];
  const platforms: Array<[string, (p1: boolean) => VhwPlugin]> = [
    ['ppc64', (p1) => ppc64Platform({ alignBars: p1 })],
    ['generic', (p1) => genericPlatform({ alignBars: p1 })],
  ];

  for (const [lname, plugin, regBar, regOff, tableBar, tableOff] of layouts) {
    for (const [pname, platform] of platforms) {
      it(`always protects the MSI-X table and reaches the registers (${lname}, ${pname}, all toggles, both variants)`, () => {
        for (const variant of ['rfc-2015', 'upstream'] as const) {
          for (const p1 of [false, true]) {
            for (const p2 of [false, true]) {
              for (const p3 of [false, true]) {
                const { bridge, dev, toy } = build(platform(p1), [plugin()], { variant, p2, p3 });
                const d = dev('d');
                const fn = bridge.findFunction('d');
                const entry = fn.bar(tableBar)!.address + tableOff;
                bridge.write(entry + 8, 4, 0x5555); // the host kernel's own write reaches the table
                expect(toy('d').msix!.entry(0).data).toBe(0x5555);

                expect(d.regionRead(tableBar, tableOff + 8, 4)).toBe(0xffffffff);
                expect(d.regionRead(tableBar, tableOff + 8, 2)).toBe(0xffff);
                expect(d.regionRead(tableBar, tableOff + 9, 1)).toBe(0xff);
                expect(d.regionRead(tableBar, tableOff + 8, 8)).toBe(0xffffffff);
                expect(d.high).toBe(0xffffffff);
                d.regionWrite(tableBar, tableOff + 8, 4, 0x1234);
                d.regionWrite(tableBar, tableOff + 12, 4, 0);
                d.regionWrite(tableBar, tableOff, 8, 0xfee00000, 0);
                expect(toy('d').msix!.entry(0)).toEqual({ addressLo: 0, addressHi: 0, data: 0x5555, masked: true });
                expect(d.counters.tableProtected).toBe(7);

                const writes = toy('d').writes;
                d.regionWrite(regBar, regOff, 4, 0xc0ffee);
                expect(toy('d').writes).toBe(writes + 1);
                expect(toy('d').regs.get(`${regBar}:${regOff}`)).toBe(0xc0ffee);
                expect(d.regionRead(regBar, regOff, 4)).toBe(0xc0ffee);
                expect(d.counters.tableProtected).toBe(7);
                expect(d.counters.regionReads).toBe(5);
                expect(d.counters.regionWrites).toBe(4);
              }
            }
          }
        }
      });
    }
  }

  it('protects any access that touches the table, not only accesses inside it, and leaves the PBA readable', () => {
    const { dev, toy, bridge } = build(ppc64Platform({}), [nvme('n')], { p2: true, p3: true });
    const d = dev('n');
    const tableEnd = 0x2000 + 32 * 16;
    expect(d.regionRead(0, 0x1ffe, 4)).toBe(0xffffffff); // straddles the start
    expect(d.regionRead(0, tableEnd - 2, 4)).toBe(0xffffffff); // straddles the end
    expect(d.regionRead(0, 0x1ff8, 8)).toBe(0); // 8 bytes ending right before: not the table
    expect(d.counters.tableProtected).toBe(2);
    d.regionWrite(0, tableEnd, 4, 9); // first byte after the table: a register
    expect(toy('n').regs.get(`0:${tableEnd}`)).toBe(9);
    // The PBA is not excluded on the fd path.
    bridge.configWrite(bridge.findFunction('n'), 0x42, 2, 0xc000);
    toy('n').fire(1);
    expect(d.regionRead(0, 0x3000, 4)).toBe(1 << 1);
    expect(d.counters.tableProtected).toBe(2);
  });

  it('charges vfio.fdRwCycles plus the device access to the machine clock', () => {
    const { machine, dev } = build(
      ppc64Platform({}),
      [nvme('n')],
      {},
      { 'vfio.fdRwCycles': 3500, 'cpu.hz': 3.5e9, 'dev.mmioReadNs': 800, 'dev.mmioWriteNs': 50 },
    );
    const d = dev('n');
    const step = (f: () => void) => {
      const t = machine.clock.now;
      f();
      return machine.clock.now - t;
    };
    expect(step(() => d.regionRead(0, 0x10, 4))).toBe(1000 + 800);
    expect(step(() => d.regionWrite(0, 0x10, 4, 1))).toBe(1000 + 50);
    expect(step(() => d.regionRead(0, 0x2000, 4))).toBe(1000); // table: the kernel answers, the device is not touched
    expect(step(() => d.regionWrite(0, 0x2000, 4, 1))).toBe(1000);
    expect(step(() => d.regionRead(CFG, 0, 2))).toBe(1000);
  });

  it('uses the default fd cost of 1500 cycles at cpu.hz', () => {
    const { machine, dev } = build(ppc64Platform({}), [nvme('n')]);
    expect(VFIO_COST_PARAMETERS.find((p) => p.name === 'vfio.fdRwCycles')).toMatchObject({ default: 1500, unit: 'cycles' });
    const t = machine.clock.now;
    dev('n').regionRead(0, 0x2000, 4);
    expect(machine.clock.now - t).toBeCloseTo((1500 / 3.5e9) * 1e9, 6);
  });

  it('throws E_RANGE outside a region', () => {
    const { dev } = build(ppc64Platform({}), [nvme('n')]);
    const d = dev('n');
    for (const [index, off, size] of [
      [0, 0x4000, 4],
      [0, 0x3ffe, 4],
      [0, 0x3ffc, 8],
      [0, -4, 4],
      [1, 0, 4],
      [2, 0, 4],
      [6, 0, 4],
      [8, 0, 4],
    ]) {
      expectVhwError(() => d.regionRead(index!, off!, size!), 'E_RANGE', `outside region ${index}`);
      expectVhwError(() => d.regionWrite(index!, off!, size!, 0), 'E_RANGE');
    }
    expect(d.regionRead(0, 0x3ffc, 4)).toBe(0);
  });

  it('answers any access as the checked rules say: E_RANGE, the protected table, or the BAR through the host bridge (property)', () => {
    const access = fc.record({
      dev: fc.constantFrom('v', 'n'),
      index: fc.constantFrom(-1, 0, 1, 2, 3, 5, 6, 8),
      offset: fc.oneof(
        fc.integer({ min: -8, max: 0x4010 }),
        fc.constantFrom(0x2000, 0x2004, 0x21fc, 0x2200, 0x1ffc, 0x3ffc, 16.5, 2 ** 32),
      ),
      size: fc.constantFrom(1, 2, 3, 4, 8),
      isWrite: fc.boolean(),
      value: fc.integer({ min: 0, max: 0xffffffff }),
    });
    fc.assert(
      fc.property(fc.array(access, { maxLength: 30 }), (accesses) => {
        // Two identical machines: the fd path on one, the host bridge (host MMIO) on the other.
        const a = build(
          ppc64Platform({}),
          [igbvf('v'), nvme('n')],
          { p2: true, p3: true },
          { 'vfio.fdRwCycles': 3500, 'cpu.hz': 3.5e9, 'dev.mmioReadNs': 800, 'dev.mmioWriteNs': 50 },
        );
        const b = build(ppc64Platform({}), [igbvf('v'), nvme('n')], { p2: true, p3: true });
        for (const x of accesses) {
          const d = a.dev(x.dev);
          const fn = b.bridge.findFunction(x.dev);
          const bar = fn.bar(x.index);
          const len = bar?.size ?? 0;
          const t = a.machine.clock.now;
          const table = x.dev === 'v' ? { bar: 3, start: 0, end: 3 * 16 } : { bar: 0, start: 0x2000, end: 0x2000 + 32 * 16 };
          const valid = Number.isInteger(x.offset) && x.offset >= 0 && x.offset + x.size <= len && x.size !== 3;
          if (!valid) {
            expectVhwError(
              () => (x.isWrite ? d.regionWrite(x.index, x.offset, x.size, x.value) : d.regionRead(x.index, x.offset, x.size)),
              'E_RANGE',
            );
            expect(a.machine.clock.now - t).toBe(1000);
            continue;
          }
          const inTable = x.index === table.bar && x.offset < table.end && table.start < x.offset + x.size;
          const host = bar!.address + x.offset;
          const parts = x.size === 8 ? [host, host + 4] : [host];
          const partSize = x.size === 8 ? 4 : x.size;
          if (x.isWrite) {
            d.regionWrite(x.index, x.offset, x.size, x.value, (x.value ^ 0xffff) >>> 0);
            if (!inTable) {
              parts.forEach((h, i) => {
                b.bridge.write(h, partSize, i === 0 ? x.value : (x.value ^ 0xffff) >>> 0);
              });
            }
          } else {
            const got = d.regionRead(x.index, x.offset, x.size);
            const want = inTable ? (x.size === 8 ? 0xffffffff : 2 ** (8 * x.size) - 1) : b.bridge.read(parts[0]!, partSize);
            expect(got).toBe(want);
            if (x.size === 8) expect(d.high).toBe(inTable ? 0xffffffff : b.bridge.read(parts[1]!, 4));
          }
          expect(a.machine.clock.now - t).toBe(1000 + (inTable ? 0 : x.isWrite ? 50 : 800));
        }
        for (const name of ['v', 'n']) expect([...a.toy(name).regs]).toEqual([...b.toy(name).regs]);
      }),
    );
  });

  it('reads config space, keeps BARs and MSI-X control to the host, passes the command register', () => {
    const { bridge, dev, toy } = build(ppc64Platform({}), [nvme('n')]);
    const d = dev('n');
    const fn = bridge.findFunction('n');
    const addr = fn.bar(0)!.address;
    expect(d.regionRead(CFG, Cfg.VendorId, 2)).toBe(0x1af4);
    expect(readMsixLayout(d)).toEqual(NVME_MSIX);
    d.regionWrite(CFG, Cfg.Bar0, 4, 0xffffffff);
    d.regionWrite(CFG, Cfg.Bar0 + 4, 4, 0xffffffff);
    expect(toy('n').barAddress(0)).toBe(addr);
    d.regionWrite(CFG, 0x42, 2, 0x8000);
    expect(toy('n').msix!.enabled).toBe(false);
    d.regionWrite(CFG, Cfg.Command, 2, Command.BusMaster);
    expect(d.regionRead(0, 0x10, 4)).toBe(0xffffffff); // memory decode off
    expect(bridge.counters.decodeDisabledAccesses).toBe(1);
    d.regionWrite(CFG, Cfg.Command, 2, Command.Memory | Command.BusMaster);
    d.regionWrite(0, 0x10, 4, 3);
    expect(d.regionRead(0, 0x10, 4)).toBe(3);
  });

  it('reads all-ones through a frozen PE', () => {
    const { bridge, dev } = build(ppc64Platform({}), [nvme('n')]);
    dev('n').regionWrite(0, 0x10, 4, 3);
    (bridge as Ppc64Phb).injectError('phb0:pe0');
    expect(dev('n').regionRead(0, 0x10, 4)).toBe(0xffffffff);
    expect(dev('n').regionRead(CFG, 0, 2)).toBe(0xffff);
  });
});

describe('VfioPciDevice MSI-X (VFIO_DEVICE_SET_IRQS)', () => {
  for (const [pname, platform] of [
    ['ppc64', () => ppc64Platform({})],
    ['generic', () => genericPlatform({})],
  ] as const) {
    it(`programs the device table with the platform's messages; a raised vector reaches its trigger (${pname})`, () => {
      const { machine, bridge, dev, toy } = build(platform(), [nvme('n')]);
      const d = dev('n');
      const fn = bridge.findFunction('n');
      const fired: number[] = [];
      const interrupts: InterruptEvent[] = [];
      machine.events.on('interrupt', (e) => interrupts.push(e));
      d.setMsixIrqs([(v) => fired.push(v), undefined, (v) => fired.push(v)]);
      const irqs = d.msixIrqs;
      expect(irqs).toHaveLength(3);
      expect(new Set(irqs).size).toBe(3);
      const msix = toy('n').msix!;
      expect(msix.enabled).toBe(true);
      irqs.forEach((irq, i) => {
        expect(bridge.irqOwnerOf(irq)).toBe(fn);
        expect(msix.entry(i)).toEqual({
          addressLo: bridge.msiAddress % 2 ** 32,
          addressHi: Math.floor(bridge.msiAddress / 2 ** 32),
          data: irq,
          masked: false,
        });
      });
      expect(msix.entry(3).masked).toBe(true);
      toy('n').fire(2);
      toy('n').fire(0);
      expect(fired).toEqual([2, 0]);
      toy('n').fire(1); // no trigger for vector 1
      expect(fired).toEqual([2, 0]);
      expect(interrupts).toMatchObject([{ source: 'n', delivered: false, reason: 'no-handler' }]);

      d.setMsixIrqs([]);
      expect(msix.enabled).toBe(false);
      expect(d.msixIrqs).toEqual([]);
      for (const irq of irqs) expect(bridge.irqOwnerOf(irq)).toBeUndefined();
      toy('n').fire(0);
      expect(fired).toEqual([2, 0]);
    });
  }

  it('refuses more vectors than the device has, and devices without MSI-X', () => {
    const { dev } = build(ppc64Platform({}), [nvme('n'), plain('p')]);
    expectVhwError(() => dev('n').setMsixIrqs(new Array(33).fill(undefined)), 'E_RANGE');
    expectVhwError(() => dev('p').setMsixIrqs([() => {}]), 'E_NOT_FOUND');
  });

  it('re-programming replaces the previous vectors', () => {
    const { bridge, dev, toy } = build(ppc64Platform({}), [nvme('n')]);
    const first: number[] = [];
    const second: number[] = [];
    dev('n').setMsixIrqs([(v) => first.push(v)]);
    const old = dev('n').msixIrqs;
    dev('n').setMsixIrqs([(v) => second.push(v)]);
    expect(bridge.irqOwnerOf(old[0]!)).toBeUndefined();
    toy('n').fire(0);
    expect(first).toEqual([]);
    expect(second).toEqual([0]);
  });

  it('closing the fd frees the vectors and disables MSI-X', () => {
    const { bridge, dev, toy } = build(ppc64Platform({}), [nvme('n')]);
    dev('n').setMsixIrqs([() => {}]);
    const [irq] = dev('n').msixIrqs;
    dev('n').close();
    expect(bridge.irqOwnerOf(irq!)).toBeUndefined();
    expect(toy('n').msix!.enabled).toBe(false);
  });

  it("on PPC64 a guest that rewrites its mapped table to another PE's vector is stopped by MSI validation (patch 3's argument)", () => {
    const { machine, bridge, dev, toy } = build(ppc64Platform({ alignBars: true }), [nvme('a'), nvme('b')], { p2: true, p3: true });
    const isolation: IsolationEvent[] = [];
    machine.events.on('isolation', (e) => isolation.push(e));
    const gotA: number[] = [];
    const gotB: number[] = [];
    dev('a').setMsixIrqs([(v) => gotA.push(v)]);
    dev('b').setMsixIrqs([(v) => gotB.push(v)]);
    const m = dev('a').mmap(0, 0, PAGE);
    m.handler.write(m.handlerOffset + 0x2000 + 8, 4, dev('b').msixIrqs[0]!); // the guest, through its direct mapping
    toy('a').fire(0);
    expect(gotB).toEqual([]);
    expect(gotA).toEqual([]);
    expect((bridge as Ppc64Phb).eehState('phb0:pe0')).toBe('frozen');
    expect((bridge as Ppc64Phb).eehState('phb0:pe1')).toBe('normal');
    expect(isolation.map((e) => e.group)).toEqual(['phb0:pe0']);
    toy('b').fire(0);
    expect(gotB).toEqual([0]);
  });

  it('on the generic host without interrupt remapping the same rewrite reaches the other device (the risk)', () => {
    const { bridge, dev, toy } = build(genericPlatform({}), [kioxia('a'), kioxia('b')], { variant: 'upstream', p3: true });
    const gotB: number[] = [];
    dev('a').setMsixIrqs([() => {}]);
    dev('b').setMsixIrqs([(v) => gotB.push(v)]);
    const m = dev('a').mmap(0, 0x5000, 0x1000); // the table page
    m.handler.write(m.handlerOffset + 0x200 + 8, 4, dev('b').msixIrqs[0]!);
    toy('a').fire(0);
    expect(gotB).toEqual([0]);
    expect(bridge.counters.msiCrossGroupDelivered).toBe(1);
  });
});

describe('upstream sub-page reservation lifetime', () => {
  it('holds the rest of the page while the fd is open and releases it on close', () => {
    const { bridge, dev } = build(ppc64Platform({}), [nvme('n')], { variant: 'upstream', p2: true });
    const addr = bridge.findFunction('n').bar(0)!.address;
    expect(bridge.reservationList).toEqual([{ name: 'vfio sub-page reserved n BAR0', owner: 'n', base: addr + 0x4000, size: 0xc000 }]);
    expect(bridge.ownersOf(addr + 0x8000, 4)).toContainEqual(expect.objectContaining({ kind: 'reservation', owner: 'n' }));
    // Another claim for the same PE (e.g. a function hot-added behind it) is refused while held...
    expect(bridge.claim('hotplug', 'n', addr + 0x4000, 0x4000)).toBe(false);
    expect(bridge.claim('hotplug', 'n', addr + 0xfff0, 0x10)).toBe(false);
    // ...and a claim for a device outside the PE never gets into the PE's segment at all.
    expect(bridge.claim('foreign', 'other', addr + 0x4000, 0x4000)).toBe(false);
    dev('n').close();
    expect(bridge.reservationList).toEqual([]);
    expect(bridge.claim('hotplug', 'n', addr + 0x4000, 0x4000)).toBe(true);
  });

  it('is released when the machine is disposed', () => {
    const { machine, bridge } = build(ppc64Platform({}), [nvme('n')], { variant: 'upstream', p2: true });
    expect(bridge.reservationList).toHaveLength(1);
    machine.dispose();
    expect(bridge.reservationList).toEqual([]);
  });

  it('is never taken by rfc-2015', () => {
    const { bridge } = build(ppc64Platform({ alignBars: true }), [nvme('n'), igbvf('g')], {
      variant: 'rfc-2015',
      p2: true,
      p3: true,
    });
    expect(bridge.reservationList).toEqual([]);
  });
});

describe('VfioPciDriver binding', () => {
  it("refuses to bind part of a PE: the group is not viable (peGranularity 'bus')", () => {
    const e = expectVhwError(
      () => build(ppc64Platform({ peGranularity: 'bus' }), [nvme('a'), nvme('b')], { devices: ['a'] }),
      'E_ISOLATION',
    );
    expect(e.message).toContain('"a"');
    expect(e.message).toContain('phb0:pe0');
    expect(e.message).toContain('"b"');
    expect(e.message).toContain('not viable');
  });

  it('binds the whole PE, or one device of its own PE', () => {
    const both = build(ppc64Platform({ peGranularity: 'bus' }), [nvme('a'), nvme('b')], { devices: ['a', 'b'] });
    expect(both.driver.devices.map((d) => d.name)).toEqual(['a', 'b']);
    const one = build(ppc64Platform({}), [nvme('a'), nvme('b')], { devices: ['b'] });
    expect(one.driver.devices.map((d) => d.name)).toEqual(['b']);
    expectVhwError(() => one.driver.device('a'), 'E_NOT_FOUND', 'bound: b');
  });

  it('binds every device by default', () => {
    const { driver } = build(genericPlatform({}), [nvme('a'), igbvf('b'), kioxia('c')]);
    expect(driver.devices.map((d) => d.name)).toEqual(['a', 'b', 'c']);
    expect(driver.patches).toEqual({ variant: 'rfc-2015', subPageMmap: false, msixMmap: false });
  });

  it('refuses an unknown device name as an option error listing the devices', () => {
    const e = expectVhwError(() => build(ppc64Platform({}), [nvme('a'), nvme('b')], { devices: ['a', 'nvme9'] }), 'E_CONFIG');
    expect(e.message).toMatch(/^vfio-pci: option "devices" names "nvme9"/);
    expect(e.message).toContain('allowed: a, b');
  });

  it('refuses devices naming a device the machine does not have, naming vfio-pci and devices', () => {
    const plugins = [
      ppc64Platform(),
      guestRam(),
      toyDevice({ name: 'nvme0', bars: [{ index: 0, size: 0x4000 }] }),
      vfioPci({ devices: ['nvme9'] }),
    ];
    expectVhwError(() => Machine.create({ plugins }), 'E_CONFIG', /^vfio-pci: .*"devices"/);
  });

  it('needs a platform with a PCI host bridge', () => {
    expectVhwError(() => Machine.create({ plugins: [simplePlatform({}), vfioPci({})] }), 'E_CONFIG', 'no PCI host bridge');
  });

  it('validates its options', () => {
    expect(vfioPciOptions.parse({})).toEqual({ variant: 'rfc-2015', subPageMmap: false, msixMmap: false });
    for (const bad of [{ variant: 'v2' }, { subPageMmap: 'yes' }, { devices: [''] }, { p1: true }]) {
      expectVhwError(() => vfioPci(bad as never), 'E_CONFIG', 'vfio-pci');
    }
  });
});

describe('fixes found in review', () => {
  it('an I/O BAR is served through the fd', () => {
    const io = definePlugin({
      name: 'io-dev',
      kind: 'device',
      description: 'x',
      schema: z.strictObject({}),
      module: () =>
        new ContainerModule(({ bind }) => {
          bind(PciDeviceToken).toDynamicValue(
            () =>
              new ToyDevice('io', [
                { index: 0, size: 32, kind: 'io' },
                { index: 2, size: 0x1000 },
              ]),
          );
        }),
    });
    const d = Machine.create({ plugins: [ppc64Platform({}), io(), vfioPci({})] })
      .get(VfioToken)
      .device('io');
    expect(d.getRegionInfo(0)).toMatchObject({ size: 32 });
    d.regionWrite(0, 4, 4, 0xabcd);
    expect(d.regionRead(0, 4, 4)).toBe(0xabcd);
  });

  it('reading the config region past its end is E_RANGE', () => {
    const { dev } = build(ppc64Platform({}), [nvme('n')], {});
    expect(() => dev('n').regionRead(7, 256, 4)).toThrow(/outside region 7 \(size 256\)/);
    expect(() => dev('n').regionWrite(7, 254, 4, 0)).toThrow(/outside region 7/);
  });

  it('a reset keeps the MSI-X set-up (restored like pci_restore_msi_state) and close frees it', () => {
    const { bridge, dev } = build(ppc64Platform({}), [nvme('n')], {});
    const got: number[] = [];
    dev('n').setMsixIrqs([(v) => got.push(v)]);
    const [irq] = dev('n').msixIrqs;
    dev('n').reset();
    (bridge.findFunction('n').device as ToyDevice).fire(0);
    expect(got).toEqual([0]);
    dev('n').close();
    expect(bridge.irqOwnerOf(irq!)).toBeUndefined();
  });

  it('MSI-X set-up programs the table even while the user has memory decode off', () => {
    const { bridge, dev } = build(ppc64Platform({}), [nvme('n')], {});
    dev('n').regionWrite(7, Cfg.Command, 2, Command.BusMaster);
    const got: number[] = [];
    dev('n').setMsixIrqs([(v) => got.push(v)]);
    dev('n').regionWrite(7, Cfg.Command, 2, Command.Memory | Command.BusMaster);
    (bridge.findFunction('n').device as ToyDevice).fire(0);
    expect(got).toEqual([0]);
  });

  it('refuses a device named twice', () => {
    expect(() => vfioPci({ devices: ['n', 'n'] })).toThrow(/devices.*each device name once/);
  });
});
