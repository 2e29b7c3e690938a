/**
 * The platforms an experiment can run on: a registry of platform plugins by name, so a
 * scenario says `platform: 'ppc64'` and a user adds a host of their own with
 * `registerPlatform`. An unknown name is an error that names the known ones, never a
 * silent fall-back to another host.
 */
import { type VhwPlugin, VhwError, type z } from '@vhw/core';
import { arm64Platform, type arm64PlatformOptions } from '@vhw/platform-arm64';
import { genericPlatform, type genericPlatformOptions } from '@vhw/platform-generic';
import { ppc64Platform, type ppc64PlatformOptions } from '@vhw/platform-ppc64';

/**
 * The options every platform takes from the experiment point: patch 1 (page-aligned BARs)
 * and the host page-size override. The registry passes them with the scenario's own
 * platform options.
 */
export interface ExperimentPlatformOptions {
  /** Patch 1: the host allocates every MMIO BAR page aligned. */
  alignBars: boolean;
  /** Host page size in bytes; undefined keeps the platform's default. */
  pageSize?: number;
}

/**
 * The options a scenario may give each registered platform, by platform name: the input
 * type of the platform plugin's own zod schema. A user who registers a platform adds its
 * entry by declaration merging (`declare module '@vhw/experiment' { interface
 * PlatformOptionsMap { riscv: RiscvInput } }`) to have its options checked at compile time.
 */
export interface PlatformOptionsMap {
  ppc64: z.input<typeof ppc64PlatformOptions>;
  generic: z.input<typeof genericPlatformOptions>;
  arm64: z.input<typeof arm64PlatformOptions>;
}

/** The name of a platform known at compile time. */
export type PlatformName = keyof PlatformOptionsMap;

/**
 * The scenario's options for platform `P`, without the two the experiment point sets.
 * A platform known only at run time takes any record; its plugin's schema checks it.
 */
export type ScenarioPlatformOptions<P extends string> = P extends PlatformName
  ? Omit<PlatformOptionsMap[P], keyof ExperimentPlatformOptions>
  : Record<string, unknown>;

/**
 * A platform plugin as the experiment sees it: a name and a factory from typed options to
 * the machine plugin.
 * @example
 * registerPlatform({ name: 'riscv', description: 'RISC-V host', create: (o) => riscvPlatform(o) });
 */
export interface PlatformPlugin<O extends object = object> {
  /** The name scenarios give as `platform` (e.g. `ppc64`). */
  readonly name: string;
  /** One line for listings. */
  readonly description: string;
  /**
   * Builds the platform plugin for one experiment point.
   * @throws VhwError E_CONFIG when an option is bad (the plugin's schema says which)
   */
  create(options: O & ExperimentPlatformOptions): VhwPlugin;
}

/** Platform plugins by name. One default registry (`platforms`) serves scenarios and the CLI. */
export class PlatformRegistry {
  private readonly byName = new Map<string, PlatformPlugin>();

  /** @param plugins - the platforms known from the start */
  constructor(plugins: readonly PlatformPlugin[] = []) {
    for (const p of plugins) this.register(p);
  }

  /**
   * Adds a platform.
   * @param plugin - its name must be new to this registry
   * @throws VhwError E_CONFIG when the name is already registered or is not a plain name
   */
  register<O extends object>(plugin: PlatformPlugin<O>): void {
    if (!/^[a-z0-9][a-z0-9._-]*$/i.test(plugin.name)) {
      throw new VhwError('E_CONFIG', `platform name ${JSON.stringify(plugin.name)}; allowed: letters, digits, dot, dash, underscore`);
    }
    if (this.byName.has(plugin.name)) {
      throw new VhwError('E_CONFIG', `platform ${plugin.name} is already registered; known: ${this.names().join(', ')}`);
    }
    // The registry holds plugins of different option types; each checks its own options.
    this.byName.set(plugin.name, plugin as PlatformPlugin);
  }

  /** The registered names, sorted. */
  names(): string[] {
    return [...this.byName.keys()].sort();
  }

  /** Whether `name` is registered. */
  has(name: string): boolean {
    return this.byName.has(name);
  }

  /**
   * The platform registered as `name`.
   * @throws VhwError E_CONFIG naming the known platforms when `name` is unknown
   */
  get(name: string): PlatformPlugin {
    const p = this.byName.get(name);
    if (!p) throw new VhwError('E_CONFIG', `unknown platform ${JSON.stringify(name)}; known: ${this.names().join(', ')}`);
    return p;
  }

  /**
   * Builds platform `name` for one experiment point.
   * @param name - a registered platform
   * @param options - the experiment point's options with the scenario's own for this platform
   * @throws VhwError E_CONFIG when the name is unknown or an option is bad
   */
  create(name: string, options: ExperimentPlatformOptions): VhwPlugin {
    return this.get(name).create(options);
  }
}

/** The PowerNV-like PPC64 host (64 KiB pages, PEs, EEH). */
export const ppc64PlatformPlugin: PlatformPlugin<PlatformOptionsMap['ppc64']> = {
  name: 'ppc64',
  description: 'PowerNV-like PPC64 host: 64 KiB pages, PEs and M32 segments, EEH, MSI validation',
  create: (o) => ppc64Platform(o),
};

/** The 4 KiB-page control host. */
export const genericPlatformPlugin: PlatformPlugin<PlatformOptionsMap['generic']> = {
  name: 'generic',
  description: '4 KiB-page control host: flat MMIO window, no EEH, optional interrupt remapping',
  create: (o) => genericPlatform(o),
};

/** The arm64 host (4/16/64 KiB pages, SMMU groups, GICv3 ITS isolated MSI, no EEH, QEMU `virt` guest). */
export const arm64PlatformPlugin: PlatformPlugin<PlatformOptionsMap['arm64']> = {
  name: 'arm64',
  description: 'arm64 host: 64 KiB pages by default, SMMU groups, GICv3 ITS isolated MSI, no EEH, QEMU virt guest',
  create: (o) => arm64Platform(o),
};

/**
 * The default registry, with `ppc64`, `generic` and `arm64`. `passthroughMachine` looks platforms up here.
 * @example
 * platforms.names(); // ['arm64', 'generic', 'ppc64']
 */
export const platforms = new PlatformRegistry([ppc64PlatformPlugin, genericPlatformPlugin, arm64PlatformPlugin]);

/**
 * Registers a platform in the default registry, so scenarios can name it.
 * @param plugin - the platform's name, description and factory
 * @throws VhwError E_CONFIG when the name is taken
 * @example
 * registerPlatform({ name: 'riscv', description: 'RISC-V host', create: (o) => riscvPlatform(o) });
 * passthroughMachine({ platform: 'riscv', devices }, config);
 */
export function registerPlatform<O extends object>(plugin: PlatformPlugin<O>): void {
  platforms.register(plugin);
}
