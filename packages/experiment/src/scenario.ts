import { type PatchSet, type Variant, type VhwPlugin, VhwError, guestRam, type z } from '@vhw/core';
import { vfioPci } from '@vhw/vfio-pci';
import { type GuestBarPlacement, type MsixRelocationMode, vmm, type vmmOptions } from '@vhw/vmm';
import { type PlatformName, type ScenarioPlatformOptions, platforms } from './platforms.js';

/**
 * The most workload operations one run takes (scenario `ops` or `--ops`): 10^9. A run does
 * about half a million operations a second, so the largest run ends within the hour, and
 * every count it keeps (operations, accesses, nanoseconds) stays an exact integer, far below
 * 2^53 where adding one to a number no longer changes it (a run of 1e20 never ended).
 */
export const MAX_OPS = 1_000_000_000;

/** The largest seed: 2^53 - 1, the last integer a JSON number holds exactly. */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

/** One point of an experiment: which patches, which variant, and optional overrides. */
export interface ExperimentConfig {
  patches: PatchSet;
  variant: Variant;
  /**
   * QEMU's x-msix-relocation for the VMM (`--msix-relocation`), a knob independent of the
   * three patches; undefined keeps the scenario's choice (`off` unless it sets one).
   */
  relocation?: MsixRelocationMode;
  /**
   * Which VMM's rules build the guest view (`--vmm`): a `VmmPolicy` id (`qemu`,
   * `cloud-hypervisor`, `crosvm`, `kvmtool`, `firecracker`); undefined keeps the scenario's
   * (QEMU's unless it sets one).
   */
  vmm?: string;
  /** Host page size override (bytes); undefined keeps the platform's default. */
  pageSize?: number;
  seed: number;
}

/**
 * A scenario: a machine composed from plugins for a given experiment point, plus the
 * workload size. The machine comes from `machine(config)`; the workload is the guest
 * drivers its device plugins contribute.
 */
export interface Scenario {
  name: string;
  description: string;
  /** Default number of workload operations. */
  ops: number;
  machine(config: ExperimentConfig): VhwPlugin[];
}

/** Declares a scenario (validates its shape so a broken user file fails with a clear message). */
export function defineScenario(s: Scenario): Scenario {
  const bad = (field: string, allowed: string) =>
    new VhwError('E_CONFIG', `scenario ${JSON.stringify(s?.name ?? '?')}: ${field}; allowed: ${allowed}`);
  if (s === null || typeof s !== 'object') throw bad('is not an object', 'defineScenario({ name, description, ops, machine })');
  if (typeof s.name !== 'string' || !/^[a-z0-9][a-z0-9._-]*$/i.test(s.name))
    throw bad(`name ${JSON.stringify(s.name)}`, 'letters, digits, dot, dash, underscore');
  if (typeof s.description !== 'string') throw bad('description is missing', 'a string');
  if (!Number.isInteger(s.ops) || s.ops < 1 || s.ops > MAX_OPS) throw bad(`ops ${String(s.ops)}`, `a positive integer up to ${MAX_OPS}`);
  if (typeof s.machine !== 'function') throw bad('machine is not a function', 'machine(config) => plugins');
  return Object.freeze({ ...s });
}

/** The VMM plugin's options a scenario may set (the input of its schema). */
export type PassthroughVmmOptions = z.input<typeof vmmOptions>;

/**
 * The standard passthrough machine of a scenario: which platform (a name in the platform
 * registry), which devices, and options for the platform and the VMM.
 */
export interface PassthroughMachineSpec<P extends string = PlatformName> {
  /** A registered platform: `ppc64`, `generic`, or one added with `registerPlatform`. */
  platform: P;
  /** Device plugins (their guest drivers form the workload). */
  devices: VhwPlugin[];
  ramBytes?: number;
  guestBarPlacement?: GuestBarPlacement;
  /** Extra platform options (e.g. { interruptRemapping: true } on generic, { peGranularity: 'bus' } on ppc64). */
  platformOptions?: ScenarioPlatformOptions<P>;
  vmmOptions?: PassthroughVmmOptions;
}

/**
 * The standard passthrough stack for an experiment point: the platform with patch 1 as
 * its page-aligned-BARs option, guest RAM, the devices, vfio-pci with patches 2 and 3
 * and the variant, and the VMM (with the experiment's MSI-X relocation and VMM policy when it names them).
 * @param spec - platform name, devices and options
 * @param config - the experiment point
 * @returns the plugins of the machine, in order
 * @throws VhwError E_CONFIG when the platform is not registered (the message names the known
 *   ones) or a plugin option is bad
 * @example
 * machine: (config) => passthroughMachine({ platform: 'ppc64', devices: [nvmeLite({ name: 'nvme0' })] }, config)
 */
export function passthroughMachine<P extends string>(spec: PassthroughMachineSpec<P>, config: ExperimentConfig): VhwPlugin[] {
  const platform = platforms.create(spec.platform, {
    ...(spec.platformOptions ?? {}),
    alignBars: config.patches.alignBars,
    ...(config.pageSize !== undefined ? { pageSize: config.pageSize } : {}),
  });
  return [
    platform,
    guestRam({ size: spec.ramBytes ?? 16 * 1024 * 1024 }),
    ...spec.devices,
    vfioPci({ variant: config.variant, subPageMmap: config.patches.subPageMmap, msixMmap: config.patches.msixMmap }),
    vmm({
      guestBarPlacement: spec.guestBarPlacement ?? 'page-aligned',
      ...(spec.vmmOptions ?? {}),
      ...(config.relocation !== undefined ? { msixRelocation: config.relocation } : {}),
      ...(config.vmm !== undefined ? { policy: config.vmm } : {}),
    }),
  ];
}
