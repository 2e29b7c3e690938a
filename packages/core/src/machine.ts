import 'reflect-metadata';
import { Container, ContainerModule } from 'inversify';
import { CORE_COST_PARAMETERS, type CostParameter, CostModel } from './cost-model.js';
import { SimClock } from './clock.js';
import { GuestCpu } from './cpu.js';
import { VhwError } from './errors.js';
import { MachineEvents } from './events.js';
import { Mmu } from './mmu.js';
import type { VhwPlugin } from './plugin.js';
import { Stats } from './stats.js';
import {
  ClockToken,
  CostModelToken,
  CostParameters,
  EventsToken,
  GuestCpuToken,
  Lifecycle,
  MachineOptionsToken,
  MmuToken,
  Platform,
  StatsToken,
} from './tokens.js';

export interface MachineOptions {
  /** The plugins that make up the machine: exactly one platform, any number of the rest. */
  plugins: readonly VhwPlugin[];
  /** Cost-model overrides by parameter name (`'vfio.fdRwCycles': 2000`). */
  costs?: Readonly<Record<string, number>>;
  /** Emit per-access events (`access`, `trap`, `interrupt`). Off by default: the hot path then neither emits nor allocates. */
  tracing?: boolean;
  /** A label for reports. */
  name?: string;
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
    this.platform = container.get<Platform>(Platform);
    this.clock = container.get(ClockToken);
    this.costs = container.get(CostModelToken);
    this.stats = container.get(StatsToken);
    this.events = container.get(EventsToken);
    this.mmu = container.get(MmuToken);
    this.cpu = container.get(GuestCpuToken);
    // The meter attributes charges per name while the machine traces.
    this.events.watchTracing((on) => this.clock.meter.setTracing(on));
    const lifecycles = container.isBound(Lifecycle) ? container.getAll<Lifecycle>(Lifecycle) : [];
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

  /** A service bound by core or a plugin. */
  get<T>(token: symbol): T {
    return this.container.get<T>(token);
  }

  /** All contributions to an extension point (empty when none). */
  getAll<T>(token: symbol): T[] {
    return this.container.isBound(token) ? this.container.getAll<T>(token) : [];
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
  return new ContainerModule(({ bind }) => {
    const { plugins: _plugins, ...rest } = options;
    bind(MachineOptionsToken).toConstantValue(rest);
    bind(CostParameters).toConstantValue(CORE_COST_PARAMETERS);
    bind(ClockToken).toConstantValue(new SimClock());
    bind(StatsToken).toConstantValue(new Stats());
    bind(EventsToken).toConstantValue(new MachineEvents());
    bind(CostModelToken).toDynamicValue((ctx) => {
      const params = ctx.getAll<readonly CostParameter[]>(CostParameters).flat();
      const platform = ctx.get<Platform>(Platform);
      return new CostModel(params, platform.costDefaults, options.costs ?? {});
    });
    bind(MmuToken).toDynamicValue((ctx) => new Mmu(ctx.get<Platform>(Platform).pageSize, ctx.get(StatsToken), ctx.get(EventsToken)));
    bind(GuestCpuToken).toDynamicValue(
      (ctx) => new GuestCpu(ctx.get(MmuToken), ctx.get(ClockToken), ctx.get(StatsToken), ctx.get(EventsToken), ctx.get(CostModelToken)),
    );
  });
}
