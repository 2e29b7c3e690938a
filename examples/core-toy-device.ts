// A machine from core alone: RAM plus a toy MMIO device with one direct page and one trapped page.
import { AddressSpace, ContainerModule, CoreStage, GuestCpuToken, LifecycleToken, Machine, MmuToken, StatsToken } from '@vhw/core';
import { definePlugin, guestRam, resolveToken, simplePlatform, z, type MmioHandler } from '@vhw/core';

const toyDevice = definePlugin({
  name: 'toy-device',
  kind: 'device',
  description: 'a counter register (each read counts up) and a scratch register',
  schema: z.strictObject({ at: z.number().int().nonnegative().default(0x10000000) }),
  module: ({ at }) =>
    new ContainerModule(({ bind }) => {
      let counter = 0; // offset 0: counts reads
      let scratch = 0; // offset 4: a scratch register
      const regs: MmioHandler = {
        read: (off) => (off === 0 ? counter++ : scratch),
        write: (off, _size, v) => {
          if (off === 4) scratch = v;
        },
      };
      bind(LifecycleToken).toDynamicValue((ctx) => {
        const mmu = resolveToken(ctx, MmuToken),
          cpu = resolveToken(ctx, GuestCpuToken),
          stats = resolveToken(ctx, StatsToken),
          page = mmu.pageSize;
        return {
          name: 'toy-device',
          stage: CoreStage.Device,
          realize() {
            mmu.mapDirect({ name: 'toy-direct', gpa: at, size: page, hostPa: 0x3fe000000000, handler: regs, handlerOffset: 0 });
            mmu.mapTrap('toy-trap', at + page, page, 'toy-trap-page');
            const vmm = new AddressSpace('vmm', 'ignore'); // the VMM's view: the same registers behind the trapped page
            vmm.mapMmio({ name: 'toy-regs', base: at + page, size: 8, handler: regs, constraints: { valid: { sizes: [4] } } });
            const count = (reason: number) => stats.trapsByReasonCounts[reason]!++; // the trap handler (the VMM) counts traps; every reason id has a counter
            cpu.setTrapHandler({
              high: 0,
              read: (gpa, size, why) => {
                count(why);
                return vmm.read(gpa, size);
              },
              write: (gpa, size, v, hi, why) => {
                count(why);
                vmm.write(gpa, size, v, hi);
              },
            });
          },
        };
      });
    }),
});

const machine = Machine.create({ plugins: [simplePlatform({ pageSize: 65536 }), guestRam({ size: 1 << 20 }), toyDevice()] });
const cpu = machine.cpu;
const direct = 0x10000000;
const trapped = direct + machine.mmu.pageSize;
cpu.store(0x100, 4, 0xc0ffee); // RAM
cpu.mmioStore(direct + 4, 4, cpu.load(0x100, 4)); // direct: the scratch register, no exit
console.log('counter read direct, then trapped:', cpu.mmioLoad(direct, 4), cpu.mmioLoad(trapped, 4));
console.log('scratch read trapped:', cpu.mmioLoad(trapped + 4, 4).toString(16));
console.log('no register there (master abort):', cpu.mmioLoad(trapped + 0x100, 4).toString(16));
console.log(machine.stats.summary());
console.log(`simulated time: ${machine.clock.now.toFixed(1)} ns`);
