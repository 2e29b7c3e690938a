import 'reflect-metadata';
import { Container, ContainerModule } from 'inversify';
import { CORE_COST_PARAMETERS, CostModel } from './cost-model.js';
import { SimClock } from './clock.js';
import { GuestCpu } from './cpu.js';
import { VhwError } from './errors.js';
import { MachineEvents } from './events.js';
import { Mmu } from './mmu.js';
import type { VhwPlugin } from './plugin.js';
import { Stats } from './stats.js';
import { bindContributionPoint, collectContributions, contributionProvider, resolveToken } from './contribution.js';
import {
  ClockToken,
  CostModelToken,
  CostParametersToken,
  EventsToken,
  GuestCpuToken,
  type Lifecycle,
  LifecycleToken,
  type MachineDescription,
  MachineOptionsToken,
  MmuToken,
  type Platform,
  PlatformToken,
  StatsToken,
  type Token,
} from './tokens.js';

/** What `Machine.create` takes: the machine description and its plugins. */
export interface MachineOptions extends MachineDescription {
  /** The plugins that make up the machine: exactly one platform, any number of the rest. */
  plugins: readonly VhwPlugin[];
}

type LifecyclePhase = 'configure' | 'realize' | 'reset' | 'dispose';

/**
 * A machine built from plugins: an inversify container with core's services bound
 * (clock, cost model, statistics, events, MMU, guest CPU) and every plugin's module
 * loaded, realized in stage order. Scripts use `cpu` to run guest accesses and `get`
 * to reach any plugin's service.
 */
export class Machine {
  readonly name: string;
  readonly container: Container;
  readonly platform: Platform;
  readonly clock: SimClock;
  readonly costs: CostModel;
  readonly stats: Stats;
  readonly events: MachineEvents;
  readonly mmu: Mmu;
  readonly cpu: GuestCpu;
  readonly plugins: readonly VhwPlugin[];
  private readonly lifecycles: Lifecycle[];
  private disposed = false;

  private constructor(options: MachineOptions, container: Container) {
    this.name = options.name ?? 'machine';
    this.container = container;
    this.plugins = options.plugins;
    this.platform = container.get(PlatformToken);
    this.clock = container.get(ClockToken);
    this.costs = container.get(CostModelToken);
    this.stats = container.get(StatsToken);
    this.events = container.get(EventsToken);
    this.mmu = container.get(MmuToken);
    this.cpu = container.get(GuestCpuToken);
    // The meter attributes charges per name while the machine traces.
    this.events.watchTracing((on) => this.clock.meter.setTracing(on));
    const lifecycles = contributionProvider(container, LifecycleToken).getContributions();
    // Stable sort: equal stages keep plugin order.
    this.lifecycles = lifecycles
      .map((l, i) => ({ l, i }))
      .sort((a, b) => a.l.stage - b.l.stage || a.i - b.i)
      .map((x) => x.l);
  }

  /**
   * Builds and realizes a machine.
   * @throws VhwError E_CONFIG when the plugin set is not a valid machine (no or two
   *   platforms, duplicate instance names, bad cost overrides), or whatever a plugin's
   *   realize throws (allocation, isolation, ...).
   */
  static create(options: MachineOptions): Machine {
    if (options === null || typeof options !== 'object' || !Array.isArray(options.plugins)) {
      throw new VhwError('E_CONFIG', 'machine: options.plugins must be an array of plugins (from the plugin factories)');
    }
    options.plugins.forEach((p, i) => {
      if (!p || typeof p !== 'object' || !(p.module instanceof ContainerModule)) {
        throw new VhwError('E_CONFIG', `machine: plugins[${i}] is not a plugin; call a plugin factory, e.g. ppc64Platform({...})`);
      }
    });
    // Platforms first: two copies of one platform would otherwise be reported as a name clash.
    const platforms = options.plugins.filter((p) => p.kind === 'platform');
    if (platforms.length !== 1) {
      throw new VhwError(
        'E_CONFIG',
        platforms.length === 0
          ? 'machine: no platform plugin; add exactly one (e.g. ppc64Platform(), genericPlatform() or simplePlatform())'
          : `machine: ${platforms.length} platform plugins (${platforms.map((p) => p.instance).join(', ')}); allowed: exactly one`,
      );
    }
    const seen = new Map<string, VhwPlugin>();
    for (const p of options.plugins) {
      const prev = seen.get(p.instance);
      if (prev) {
        throw new VhwError(
          'E_CONFIG',
          `machine: two plugins use the instance name "${p.instance}" (${prev.name} and ${p.name}); give each device a distinct name`,
        );
      }
      seen.set(p.instance, p);
    }

    const container = new Container({ defaultScope: 'Singleton' });
    container.load(coreModule(options), ...options.plugins.map((p) => p.module));
    const machine = new Machine(options, container);
    machine.events.tracing = options.tracing === true;
    try {
      machine.runPhase('configure');
      machine.runPhase('realize');
    } catch (e) {
      // Release what the realized part holds (reservations, IRQs) before reporting.
      try {
        machine.dispose();
      } catch {
        /* the original error is the one to report */
      }
      throw e;
    }
    return machine;
  }

  /**
   * A service bound by core or a plugin, typed by its token.
   * @throws when nothing is bound under the token
   */
  get<T>(token: Token<T>): T {
    return this.container.get<T>(token);
  }

  /** Every contribution to an extension point, in plugin order (empty when none). */
  getAll<T>(point: Token<T>): T[] {
    return collectContributions(this.container, point);
  }

  /** Turns per-access events on or off. */
  trace(on: boolean): void {
    this.events.tracing = on;
  }

  /** Resets devices and the VMM (lifecycle `reset`), the clock, the statistics and the CPU. */
  reset(): void {
    this.assertLive();
    this.runPhase('reset');
    this.clock.reset();
    this.stats.reset();
    this.cpu.reset();
  }

  dispose(): void {
    if (this.disposed) return;
    for (const l of [...this.lifecycles].reverse()) l.dispose?.();
    this.events.removeAllListeners();
    this.disposed = true;
  }

  private assertLive(): void {
    if (this.disposed) throw new VhwError('E_STATE', `machine ${this.name} is disposed`);
  }

  private runPhase(phase: LifecyclePhase): void {
    for (const l of this.lifecycles) {
      const hook = l[phase];
      if (hook === undefined) continue;
      try {
        hook.call(l);
      } catch (e) {
        if (VhwError.is(e)) throw e;
        throw new VhwError('E_STATE', `${l.name}: ${phase} failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
      }
    }
  }
}

function coreModule(options: MachineOptions): ContainerModule {
  return new ContainerModule((load) => {
    const { bind } = load;
    const { plugins: _plugins, ...rest } = options;
    bindContributionPoint(load, LifecycleToken);
    bindContributionPoint(load, CostParametersToken);
    bind(MachineOptionsToken).toConstantValue(rest);
    bind(CostParametersToken).toConstantValue(CORE_COST_PARAMETERS);
    bind(ClockToken).toConstantValue(new SimClock());
    bind(StatsToken).toConstantValue(new Stats());
    bind(EventsToken).toConstantValue(new MachineEvents());
    bind(CostModelToken).toDynamicValue((ctx) => {
      const params = contributionProvider(ctx, CostParametersToken).getContributions().flat();
      return new CostModel(params, resolveToken(ctx, PlatformToken).costDefaults, options.costs ?? {});
    });
    bind(MmuToken).toDynamicValue(
      (ctx) => new Mmu(resolveToken(ctx, PlatformToken).pageSize, resolveToken(ctx, StatsToken), resolveToken(ctx, EventsToken)),
    );
    bind(GuestCpuToken).toDynamicValue(
      (ctx) =>
        new GuestCpu(
          resolveToken(ctx, MmuToken),
          resolveToken(ctx, ClockToken),
          resolveToken(ctx, StatsToken),
          resolveToken(ctx, EventsToken),
          resolveToken(ctx, CostModelToken),
        ),
    );
  });
}
