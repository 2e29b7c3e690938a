import { Container, ContainerModule, inject, injectable, named } from 'inversify';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  type ContributionProvider,
  ContributionProviderToken,
  bindContributionPoint,
  contributionProvider,
  resolveToken,
} from './contribution.js';
import { simplePlatform } from './builtin-plugins.js';
import { Machine } from './machine.js';
import { type Platform, PlatformToken, type Token, token } from './tokens.js';

interface Greeter {
  greet(): string;
}
const GreeterToken = token<Greeter>('vhw.test.Greeter');

@injectable()
class Greeting {
  constructor(@inject(ContributionProviderToken) @named(GreeterToken) readonly greeters: ContributionProvider<Greeter>) {}
  all(): string[] {
    return this.greeters.getContributions().map((g) => g.greet());
  }
}
const GreetingToken = token<Greeting>('vhw.test.Greeting');

function container(...greetings: string[]): Container {
  const c = new Container({ defaultScope: 'Singleton' });
  c.load(
    new ContainerModule((load) => {
      bindContributionPoint(load, GreeterToken);
      bindContributionPoint(load, GreeterToken); // a second declaration is a no-op
      load.bind(GreetingToken).to(Greeting);
    }),
    ...greetings.map((g) => new ContainerModule(({ bind }) => void bind(GreeterToken).toConstantValue({ greet: () => g }))),
  );
  return c;
}

describe('contribution points', () => {
  it('gives every contribution in load order to an injected provider', () => {
    expect(resolveToken(container('a', 'b'), GreetingToken).all()).toEqual(['a', 'b']);
  });

  it('gives none when no plugin contributed, without asking whether any was bound', () => {
    expect(resolveToken(container(), GreetingToken).all()).toEqual([]);
  });

  it('collects once: the provider returns the same contributions on every read', () => {
    const p = contributionProvider(container('a'), GreeterToken);
    expect(p.getContributions()).toBe(p.getContributions());
  });
});

describe('tokens', () => {
  it('are Symbol.for keys, so copies of a package agree', () => {
    expect(token<Platform>('vhw.Platform')).toBe(PlatformToken);
    expect(Symbol.keyFor(PlatformToken)).toBe('vhw.Platform');
  });

  it('type what Machine.get returns', () => {
    const m = Machine.create({ plugins: [simplePlatform()] });
    expectTypeOf(m.get(PlatformToken)).toEqualTypeOf<Platform>();
    expectTypeOf(m.getAll(GreeterToken)).toEqualTypeOf<Greeter[]>();
    expectTypeOf(GreeterToken).not.toEqualTypeOf<Token<Platform>>();
    expect(m.get(PlatformToken).name).toBe('simple');
    // @ts-expect-error a bare symbol carries no type: make it with token<T>()
    expect(() => m.get(Symbol.for('vhw.test.untyped'))).toThrow();
  });
});
