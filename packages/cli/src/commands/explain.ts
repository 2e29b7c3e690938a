import type { Command } from 'commander';
import { VhwError, hex, parsePatchList, patchListOf } from '@vhw/core';
import {
  type PageMapMsixRelocation,
  findRegister,
  pageMapMsixRelocations,
  prepare,
  pciRegisterNamer,
  relocationOf,
  vfioOf,
} from '@vhw/experiment';
import { REASON_REMEDY } from '@vhw/vfio-pci';
import { VMM_REASON_REMEDY, type VmmPolicy } from '@vhw/vmm';
import { loadScenarioOf } from '../scenario-file.js';
import type { Io } from '../output.js';
import { type PointOptions, configOf, pointOptions } from '../options.js';

/** `vhw explain`. */
export interface ExplainCommandOptions extends PointOptions {
  address: string;
}

/** Parses an address: hex/decimal guest address, DEVICE:BARn[+OFFSET], or DEVICE:REGISTER (a name its plugin gives). */
function parseAddress(text: string): { gpa?: number; device?: string; bar?: number; offset?: number; register?: string } {
  const m = /^([A-Za-z0-9_.-]+):BAR([0-5])(?:\+(0x[0-9a-fA-F]+|\d+))?$/.exec(text);
  if (m) return { device: m[1], bar: Number(m[2]), offset: m[3] ? Number(m[3]) : 0 };
  const r = /^([A-Za-z0-9_.-]+):([A-Za-z][A-Za-z0-9_.]*)$/.exec(text);
  if (r) return { device: r[1], register: r[2] };
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new VhwError(
      'E_CONFIG',
      `--address ${text}; allowed: a guest address (e.g. 0x200001000), DEVICE:BARn+OFFSET (e.g. nvme0:BAR0+0x1000) or DEVICE:REGISTER (e.g. nvme0:SQ0TDBL)`,
    );
  }
  return { gpa: n };
}

/**
 * `vhw explain`: the path one guest address takes at one experiment point (pages, BAR,
 * vfio region, direct or trap) and, for a trap, its reason and what would change it.
 */
export async function explainAction(io: Io, scenarioRef: string, o: ExplainCommandOptions): Promise<void> {
  const scenario = await loadScenarioOf(io, scenarioRef);
  const run = prepare(scenario, configOf(o));
  try {
    const r = run.vmm.rejection;
    if (r) {
      io.out(
        `${scenario.name}, ${o.variant}, patches: ${patchListOf(parsePatchList(o.patches))}: rejected by VMM ${r.vmm}: ${r.device}${r.bar !== undefined ? ` BAR${r.bar}` : ''}: ${r.why} (the VM does not start; nothing is mapped)`,
      );
      return;
    }
    const a = parseAddress(o.address);
    if (a.register !== undefined) Object.assign(a, findRegister(run, a.device!, a.register));
    let gpa = a.gpa;
    if (gpa === undefined) {
      const bar = run.vmm.bars.find((b) => b.device === a.device && b.index === a.bar);
      if (!bar) {
        throw new VhwError(
          'E_NOT_FOUND',
          `--address ${o.address}: no passed-through ${a.device}:BAR${a.bar}; BARs: ${run.vmm.bars.map((b) => `${b.device}:BAR${b.index}`).join(', ')}`,
        );
      }
      const offset = a.offset ?? 0;
      // Past its end the address belongs to whatever follows the BAR: refuse, not explain that.
      if (offset >= bar.size) {
        throw new VhwError(
          'E_RANGE',
          `--address ${o.address}: offset ${hex(offset)} is past the end of ${bar.device}:BAR${bar.index} (${bar.size} bytes); allowed: an offset 0..${hex(bar.size - 1)}`,
        );
      }
      gpa = bar.guestAddress + offset;
    }
    const e = run.vmm.explain(gpa);
    const t = run.machine.mmu.translate(gpa);
    const lines: string[] = [];
    lines.push(
      `guest address ${hex(gpa)} (${scenario.name}, ${o.variant}, vmm ${run.vmm.policy.id}, patches: ${patchListOf(parsePatchList(o.patches))}, page ${run.vmm.pageSize / 1024} KiB)`,
    );
    lines.push(`  VMM: ${vmmLine(run.vmm.policy)}`);
    if (!e) {
      lines.push(
        `  guest page ${hex(Math.floor(gpa / run.vmm.pageSize) * run.vmm.pageSize)}: ${t.path === 'ram' ? 'guest RAM (direct)' : 'no passed-through BAR here'}`,
      );
      lines.push(`  path: ${t.path === 'ram' ? 'ram' : 'trap → VMM → unassigned (reads all-ones, writes dropped)'}`);
      io.out(lines.join('\n'));
      return;
    }
    const dev = vfioOf(run).device(e.bar.device);
    // Past the bytes the device backs lies the space the VMM added for a relocated MSI-X table: no host page.
    const emulatedOnly = e.offset >= e.bar.region.size && e.offset < e.bar.size;
    lines.push(
      `  guest page ${hex(e.guestPage)} → ${emulatedOnly ? 'no host page (space the VMM added for the relocated MSI-X table)' : `host page ${hex(e.hostPage)}`}`,
    );
    const relocated = e.bar.fn.relocation?.bar === e.bar.index;
    lines.push(
      `  BAR: ${e.bar.device} BAR${e.bar.index} (${e.bar.size} bytes${relocated && e.bar.region.size !== e.bar.size ? `, of which the device backs ${e.bar.region.size}` : ''}) guest ${hex(e.bar.guestAddress)} ${relocated && e.bar.fn.relocation?.added ? 'host: none (added by the VMM)' : `host ${hex(e.bar.hostAddress)}`}, offset ${hex(e.offset)}`,
    );
    const reloc = pageMapMsixRelocations(run.vmm).find((r) => r.device === e.bar.device);
    if (reloc) lines.push(...relocationLines(reloc, relocationOf(run.vmm)));
    const register = pciRegisterNamer(run.bridge)(e.bar.device, e.bar.index, e.offset);
    if (register) lines.push(`  register: ${register}`);
    const region = dev.getRegionInfo(e.bar.index);
    lines.push(
      `  vfio region info: flags=${hex(region.flags)} caps=[${region.caps.map((c) => ('areas' in c ? `sparse-mmap ${c.areas.map((x) => `${hex(x.offset)}+${hex(x.size)}`).join(' ')}` : 'msix-mappable')).join(', ')}], device flags=${hex(dev.getDeviceInfo().flags)}`,
    );
    for (const n of e.bar.plan.notes ?? []) lines.push(`  note (${run.vmm.policy.title}): ${n}`);
    if (e.area.path === 'direct' && e.offset >= e.bar.size) {
      lines.push(`  path: direct, but past the end of the BAR: nothing decodes it (reads all-ones; on PPC64 the PE freezes)`);
    } else if (e.area.path === 'direct') {
      lines.push(`  path: direct (mmapped host page mapped into the guest; no exit), reason: ${e.area.reason}`);
    } else {
      const via =
        e.area.via === 'fd'
          ? 'pread/pwrite on the vfio device fd'
          : e.area.via === 'qemu-mmap'
            ? "the VMM's own mmap (no syscall)"
            : e.area.via === 'msix-pba'
              ? "the VMM's PBA emulation"
              : e.area.via === 'dropped'
                ? 'nothing: the VMM has no handler there (reads 0, writes lost)'
                : "the VMM's MSI-X table emulation";
      lines.push(`  path: trap → VMM exit → ${via}`);
      lines.push(`  reason: ${e.area.reason}`);
      // The relocated table's space has no host page: no patch or machine setting maps it.
      const remedy = emulatedOnly
        ? "nothing: this is the VMM's own space for the relocated table, with no host page to map (relocation frees the device's own table page instead)"
        : (REASON_REMEDY[e.area.reason] ?? VMM_REASON_REMEDY[e.area.reason] ?? 'nothing known');
      lines.push(`  would change with: ${remedy}`);
    }
    io.out(lines.join('\n'));
  } finally {
    run.machine.dispose();
  }
}

/** What `explain` says of a function whose MSI-X table the VMM relocated: where it went, and what became of the device's own table page. */
/** One line on the VMM whose rules built the view, with the source they were read in. */
function vmmLine(p: VmmPolicy): string {
  const s = p.sources[0];
  return `${p.title} (${p.id})${s ? `, rules read in ${s.repo} ${s.file} at ${s.commit.slice(0, 8)}` : ''}; sparse areas: ${p.traits.sparse}; MSI-X holes: ${p.traits.holes}; PBA: ${p.traits.pba}; relocation: ${p.traits.relocation}`;
}

function relocationLines(r: PageMapMsixRelocation, mode: string): string[] {
  const kind = r.added
    ? `added in an unused slot, ${r.guestSize} bytes`
    : `doubled to ${r.guestSize} bytes, the device backs the lower ${r.deviceSize}`;
  const t = r.deviceTable;
  return [
    `  MSI-X relocation (x-msix-relocation=${mode}${r.auto ? ", vhw's auto rule" : ''}): table at BAR${r.bar}+${hex(r.table.offset)} and PBA at BAR${r.bar}+${hex(r.pba.offset)} (${kind}), ${r.emulated ? 'emulated by the VMM' : 'not emulated: the machine sets vfio-no-msix-emulation'}`,
    `  the device's own table at BAR${t.bar}+${hex(t.offset)} (host page ${hex(t.hostPage)}) is ${t.why}`,
  ];
}

/** Adds `vhw explain` to `program`. */
export function addExplainCommand(program: Command, io: Io): void {
  const explain = program
    .command('explain')
    .description('for one guest address: the whole path an access takes, and for a trap the reason and the patch that would change it')
    .argument('<scenario>', 'a built-in scenario name or a scenario file')
    .requiredOption(
      '--address <addr>',
      'a guest address, DEVICE:BARn+OFFSET (e.g. nvme0:BAR0+0x1000) or DEVICE:REGISTER (e.g. nvme0:SQ0TDBL)',
    );
  pointOptions(explain).action((scenario: string, o: ExplainCommandOptions) => explainAction(io, scenario, o));
}
