import type { ContainerModuleLoadOptions, GetAllOptions, ResolutionContext, ServiceIdentifier } from 'inversify';
import { type Token, token } from './tokens.js';

/**
 * The contributions to one extension point, read lazily: every binding of the point, in
 * the order the plugins were loaded, collected once on first use (after every module is
 * loaded) and empty when no plugin contributed.
 */
export interface ContributionProvider<T> {
  getContributions(): readonly T[];
}

/**
 * The providers of every declared extension point, each bound under this token and named
 * by its point: inject one with `@inject(ContributionProviderToken) @named(PointToken)`,
 * or read it with `contributionProvider`.
 */
export const ContributionProviderToken = token<ContributionProvider<unknown>>('vhw.ContributionProvider');

/** What can list a point's bindings: a container or a resolution context. */
export interface ContributionSource {
  getAll<T>(id: ServiceIdentifier<T>, options?: GetAllOptions): T[];
}

/** Every contribution to `point` in `source` (empty when none is bound). */
export function collectContributions<T>(source: ContributionSource, point: Token<T>): T[] {
  return source.getAll<T>(point, { optional: true }) ?? [];
}

class CollectedContributions<T> implements ContributionProvider<T> {
  private collected: readonly T[] | undefined;
  constructor(
    private readonly source: ContributionSource,
    private readonly point: Token<T>,
  ) {}

  getContributions(): readonly T[] {
    this.collected ??= collectContributions(this.source, this.point);
    return this.collected;
  }
}

/**
 * Declares an extension point: binds its `ContributionProvider` (named by the point) so
 * consumers read every contribution, or none, without asking whether any was bound. The
 * package that owns the point declares it; declaring it again is a no-op.
 */
export function bindContributionPoint<T>(options: Pick<ContainerModuleLoadOptions, 'bind' | 'isBound'>, point: Token<T>): void {
  if (options.isBound(ContributionProviderToken, { name: point })) return;
  options
    .bind(ContributionProviderToken)
    .toDynamicValue((ctx) => new CollectedContributions<T>(ctx, point))
    .inSingletonScope()
    .whenNamed(point);
}

/** The provider of a declared point, from a container or a resolution context. */
export function contributionProvider<T>(
  source: { get(id: ServiceIdentifier<unknown>, options: { name: symbol }): unknown },
  point: Token<T>,
): ContributionProvider<T> {
  return source.get(ContributionProviderToken, { name: point }) as ContributionProvider<T>;
}

/**
 * A service by its token, typed: for `toDynamicValue` factories, whose context inversify
 * types by `ServiceIdentifier` and so cannot infer from a `Token`.
 */
export function resolveToken<T>(ctx: Pick<ResolutionContext, 'get'>, id: Token<T>): T {
  return ctx.get<T>(id);
}
