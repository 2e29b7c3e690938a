import { CORE_COST_PARAMETERS, CostModel, GuestCpu, GuestMemory, MachineEvents, Mmu, SimClock, Stats, VhwError } from '@vhw/core';
import { Cfg, Command, MSIX_CAP_OFFSET, PciDevice } from '@vhw/pci';
import { describe, expect, it } from 'vitest';
import type { GuestEeh } from './eeh.js';
import { GuestOs } from './os.js';
import type { GuestPciBus, GuestPciFunction } from './pci-bus.js';

const PAGE = 0x1000;
const RAM_SIZE = 4 << 20;
const BAR_GPA = 0x4000_0000;
const MSI_ADDRESS = 0x1_fee0_0000;

/** A device that records the guest's register writes in BAR0 (the MSI-X table there is the device's own). */
class TableDevice extends PciDevice {
  readonly writes: Array<[number, number]> = [];
  protected readRegister(): number {
    return 0;
  }
  protected writeRegister(_bar: number, offset: number, _size: 1 | 2 | 4, value: number): void {
    this.writes.push([offset, value]);
  }
  protected resetRegisters(): void {}
}

function guest(ramSize = RAM_SIZE) {
  const stats = new Stats();
  const events = new MachineEvents();
  const mmu = new Mmu(PAGE, stats, events);
  const cpu = new GuestCpu(mmu, new SimClock(), stats, events, new CostModel(CORE_COST_PARAMETERS));
  const memory = new GuestMemory();
  if (ramSize > 0) {
    const block = memory.add('ram', 0, ramSize);
    mmu.mapRam('ram', 0, ramSize, block.buffer);
  }
  return { cpu, mmu, memory, os: ramSize > 0 ? new GuestOs(cpu, memory) : undefined };
}

/** The guest's view of `dev` with BAR0 mapped direct at BAR_GPA, as a VMM would present it. */
function present(mmu: Mmu, dev: TableDevice, paravirtMsi?: GuestPciFunction['paravirtMsi']): GuestPciFunction {
  mmu.mapDirect({ name: 'bar0', gpa: BAR_GPA, size: PAGE, hostPa: 0x8000_0000, handler: dev.barHandler(0), handlerOffset: 0 });
  return {
    name: dev.name,
    vendorId: 1,
    deviceId: 2,
    bars: [{ index: 0, gpa: BAR_GPA, size: PAGE }],
    configRead: (o, s) => dev.config.read(o, s),
    configWrite: (o, s, v) => dev.config.write(o, s, v),
    paravirtMsi,
  };
}

const tableDevice = (msix = true) =>
  new TableDevice({
    name: 'dev0',
    vendorId: 1,
    deviceId: 2,
    classCode: 0,
    bars: [{ index: 0, size: PAGE }],
    msix: msix ? { vectors: 4, tableBar: 0, tableOffset: 0x800, pbaBar: 0, pbaOffset: 0xc00 } : undefined,
  });

const busOf = (...functions: GuestPciFunction[]): GuestPciBus => ({
  functions,
  msiAddress: MSI_ADDRESS,
  find: (name) => {
    const f = functions.find((x) => x.name === name);
    if (!f) throw new VhwError('E_NOT_FOUND', name);
    return f;
  },
});

const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return VhwError.is(e) ? e.code : String(e);
  }
  return 'no error';
};

describe('GuestOs: RAM and interrupts', () => {
  it('allocates aligned blocks from 1 MiB and refuses to run past the end of RAM', () => {
    const { os } = guest();
    expect(os!.alloc(100)).toBe(0x100000);
    expect(os!.alloc(16, 16)).toBe(0x100070);
    expect(os!.alloc(1)).toBe(0x101000);
    expect(code(() => os!.alloc(RAM_SIZE))).toBe('E_ALLOCATION');
  });

  it('starts the heap at half the RAM when the RAM is small, and needs RAM at all', () => {
    const small = guest(0x40000);
    expect(small.os!.alloc(8)).toBe(0x20000);
    const none = guest(0);
    expect(code(() => new GuestOs(none.cpu, none.memory))).toBe('E_CONFIG');
  });

  it('hands out vectors from 0x30, calls their handlers and counts the rest as spurious', () => {
    const { cpu, os } = guest();
    const seen: number[] = [];
    const v = os!.allocVector();
    expect(v).toBe(0x30);
    expect(os!.allocVector()).toBe(0x31);
    os!.requestIrq(v, (x) => seen.push(x));
    cpu.raiseInterrupt(v);
    cpu.raiseInterrupt(0x99);
    cpu.deliverPending();
    expect(seen).toEqual([v]);
    expect(os!.spuriousInterrupts).toBe(1);
  });
});

describe('GuestOs.enableMsix', () => {
  it('programs the table through the BAR with the function masked, then enables MSI-X', () => {
    const { mmu, os } = guest();
    const dev = tableDevice();
    const fn = present(mmu, dev);
    const vectors = os!.enableMsix(busOf(fn), fn, 2);
    expect(vectors).toEqual([0x30, 0x31]);
    const table = dev.barHandler(0);
    const entry = (i: number) => [0, 4, 8, 12].map((o) => table.read(0x800 + i * 16 + o, 4));
    expect([entry(0), entry(1), entry(2)]).toEqual([
      [0xfee0_0000, 0x1, 0x30, 0],
      [0xfee0_0000, 0x1, 0x31, 0],
      [0, 0, 0, 1],
    ]);
    expect(dev.writes).toEqual([]);
    expect(fn.configRead(MSIX_CAP_OFFSET + 2, 2) & 0xc000).toBe(0x8000);
    expect(fn.configRead(Cfg.Command, 2) & (Command.Memory | Command.BusMaster)).toBe(Command.Memory | Command.BusMaster);
  });

  it('leaves the table alone where the machine sets MSIs up for the guest (RTAS ibm,change-msi)', () => {
    const { mmu, os } = guest();
    const dev = tableDevice();
    const fn = present(mmu, dev, (count) => ({
      status: 0,
      count,
      vectors: Array.from({ length: count }, (_, i) => 0x1000 + i),
    }));
    expect(os!.enableMsix(busOf(fn), fn, 3)).toEqual([0x1000, 0x1001, 0x1002]);
    expect(dev.writes).toEqual([]);
    expect(fn.configRead(Cfg.Command, 2) & Command.BusMaster).toBe(Command.BusMaster);
  });

  it('refuses a function without MSI-X, and more vectors than the table holds', () => {
    const { mmu, os } = guest();
    const plain = present(mmu, tableDevice(false));
    expect(code(() => os!.enableMsix(busOf(plain), plain, 1))).toBe('E_NOT_FOUND');
    const { mmu: mmu2, os: os2 } = guest();
    const fn = present(mmu2, tableDevice());
    expect(code(() => os2!.enableMsix(busOf(fn), fn, 5))).toBe('E_RANGE');
  });
});

describe('GuestOs.handleEeh', () => {
  /** A PE whose freezes the test controls; `recover` unfreezes it. */
  function pe(name: string) {
    const state = { frozen: false, recoveries: 0 };
    const eeh: GuestEeh = {
      pe: name,
      frozen: () => state.frozen,
      recover: () => {
        state.recoveries++;
        state.frozen = false;
      },
    };
    return { state, eeh };
  }
  const fnIn = (name: string, eeh: GuestEeh): GuestPciFunction => ({
    name,
    vendorId: 1,
    deviceId: 2,
    bars: [],
    configRead: () => 0,
    configWrite: () => {},
    paravirtMsi: undefined,
    eeh,
  });

  it('recovers a frozen PE once and tells only the drivers of that PE', () => {
    const { os } = guest();
    const a = pe('pe1');
    const b = pe('pe2');
    const bus = busOf(fnIn('x', a.eeh), fnIn('y', a.eeh), fnIn('z', b.eeh));
    const told: string[] = [];
    const drivers = ['x', 'y', 'z'].map((device) => ({ device, recover: () => told.push(device) }));
    expect(os!.handleEeh(bus, 'x', drivers)).toBe(false);
    a.state.frozen = true;
    expect(os!.handleEeh(bus, 'x', drivers)).toBe(true);
    expect(told).toEqual(['x', 'y']);
    expect(a.state.recoveries).toBe(1);
    expect(os!.eehRecoveries).toBe(1);
  });

  it('gives the PE up after maxEehAttempts recoveries whose drivers keep failing', () => {
    const { os } = guest();
    const a = pe('pe1');
    const bus = busOf(fnIn('x', a.eeh));
    a.state.frozen = true;
    const failing = [
      {
        device: 'x',
        recover: () => {
          throw new Error('device gone');
        },
      },
    ];
    expect(os!.handleEeh(bus, 'x', failing)).toBe(false);
    expect(a.state.recoveries).toBe(GuestOs.maxEehAttempts);
    expect(os!.eehGaveUp).toBe(1);
  });
});
