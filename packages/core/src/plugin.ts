import type { ContainerModule } from 'inversify';
import { z } from 'zod';
import { VhwError } from './errors.js';

/** What a plugin is for; `vhw list` groups by it and the machine checks the composition. */
export type PluginKind = 'platform' | 'device' | 'passthrough' | 'vmm' | 'memory' | 'other';

/** A configured plugin: validated options and the one ContainerModule that binds its contributions. */
export interface VhwPlugin<O = unknown> {
  readonly name: string;
  readonly kind: PluginKind;
  /** Distinguishes several instances of one plugin (e.g. two devices); unique per machine. */
  readonly instance: string;
  readonly options: O;
  readonly module: ContainerModule;
  /**
   * The same plugin with some options changed: the options it was created with, with
   * `changes` over their top-level fields, validated again by the plugin's schema (how
   * `--set INSTANCE.FIELD=VALUE` reaches a plugin a scenario created). Not enumerable, so
   * a plugin still compares and serializes as its data.
   * @param changes - top-level option fields and their new values
   * @returns a new plugin; this one is unchanged
   * @throws VhwError E_CONFIG naming the plugin, the field, the value and what is allowed
   */
  withOptions(changes: Readonly<Record<string, unknown>>): VhwPlugin<O>;
}

export interface OptionDoc {
  field: string;
  type: string;
  default?: unknown;
  description?: string;
}

export interface PluginFactory<S extends z.ZodType> {
  (input?: z.input<S>): VhwPlugin<z.output<S>>;
  readonly pluginName: string;
  readonly kind: PluginKind;
  readonly description: string;
  readonly schema: S;
  /** One row per top-level option, for `vhw list` and docs. */
  describeOptions(): OptionDoc[];
}

export interface PluginDefinition<S extends z.ZodType> {
  name: string;
  kind: PluginKind;
  description: string;
  /** Options schema (zod). Prefer `z.strictObject` so unknown keys are refused. */
  schema: S;
  /** Instance name from the validated options (default: the plugin name). */
  instance?: (options: z.output<S>) => string;
  /** Builds the plugin's ContainerModule from its validated options. */
  module: (options: z.output<S>) => ContainerModule;
}

/**
 * Defines a plugin: a factory that validates options on creation and returns the
 * plugin with its ContainerModule. A bad option is a `VhwError('E_CONFIG')` naming the
 * plugin, the field, the value given and what is allowed.
 */
export function definePlugin<S extends z.ZodType>(def: PluginDefinition<S>): PluginFactory<S> {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(def.name)) {
    throw new VhwError('E_CONFIG', `plugin name "${def.name}": allowed: lowercase letters, digits and dashes`);
  }
  const factory = ((input?: z.input<S>) => {
    const parsed = def.schema.safeParse(input === undefined ? {} : input);
    if (!parsed.success) throw optionsError(def.name, parsed.error, input, def.schema);
    const options = parsed.data as z.output<S>;
    const plugin = {
      name: def.name,
      kind: def.kind,
      instance: def.instance ? def.instance(options) : def.name,
      options,
      module: def.module(options),
    };
    const inputFields = input !== null && typeof input === 'object' ? input : {};
    Object.defineProperty(plugin, 'withOptions', {
      value: (changes: Readonly<Record<string, unknown>>) => factory({ ...inputFields, ...changes } as z.input<S>),
    });
    return Object.freeze(plugin) as VhwPlugin<z.output<S>>;
  }) as PluginFactory<S>;
  Object.defineProperties(factory, {
    pluginName: { value: def.name },
    kind: { value: def.kind },
    description: { value: def.description },
    schema: { value: def.schema },
    describeOptions: { value: () => describeSchema(def.schema) },
  });
  return factory;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = input;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

function show(v: unknown): string {
  if (v === undefined) return 'missing';
  try {
    const s = JSON.stringify(v);
    return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 57)}...` : s;
  } catch {
    return String(v);
  }
}

/** Turns zod issues into one message naming plugin, field, value and what is allowed. */
export function optionsError(owner: string, error: z.ZodError, input: unknown, schema?: z.ZodType): VhwError {
  const parts = error.issues.map((issue) => {
    const field = issue.path.length ? issue.path.map(String).join('.') : '(options)';
    if (issue.code === 'unrecognized_keys') {
      const keys = (issue as { keys: string[] }).keys;
      const allowed = schema ? allowedKeysAt(schema, issue.path) : undefined;
      return `unknown option ${keys.map((k) => `"${[...issue.path.map(String), k].join('.')}"`).join(', ')}${allowed ? `; allowed: ${allowed}` : ''}`;
    }
    return `option "${field}" is ${show(valueAt(input, issue.path))}: ${issue.message}`;
  });
  return new VhwError('E_CONFIG', `${owner}: ${parts.join('; ')}`, { cause: error });
}

/** The keys an object schema accepts at `path`, when the schema can be walked there. */
function allowedKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string | undefined {
  let s: unknown = schema;
  for (const k of path) {
    const shape = (s as { shape?: Record<string, unknown> }).shape;
    if (shape && typeof k === 'string' && k in shape) s = shape[k];
    else if (typeof k === 'number' && (s as { element?: unknown }).element) s = (s as { element: unknown }).element;
    else return undefined;
    while ((s as { unwrap?: () => unknown }).unwrap) s = (s as { unwrap: () => unknown }).unwrap();
  }
  const shape = (s as { shape?: Record<string, unknown> }).shape;
  return shape ? Object.keys(shape).join(', ') : undefined;
}

function describeSchema(schema: z.ZodType): OptionDoc[] {
  let json: Record<string, unknown>;
  try {
    json = z.toJSONSchema(schema, { unrepresentable: 'any', io: 'input' }) as Record<string, unknown>;
  } catch {
    return [];
  }
  const props = (json.properties ?? {}) as Record<string, Record<string, unknown>>;
  return Object.entries(props).map(([field, p]) => ({
    field,
    type: typeOf(p),
    default: p.default,
    description: typeof p.description === 'string' ? p.description : undefined,
  }));
}

function typeOf(p: Record<string, unknown>): string {
  if (Array.isArray(p.enum)) return p.enum.map((e) => JSON.stringify(e)).join(' | ');
  if (p.const !== undefined) return JSON.stringify(p.const);
  if (Array.isArray(p.anyOf)) return (p.anyOf as Record<string, unknown>[]).map(typeOf).join(' | ');
  if (p.type === 'array') return `${typeOf((p.items ?? {}) as Record<string, unknown>)}[]`;
  if (typeof p.type === 'string') return `${p.type}${rangeOf(p)}`;
  return 'object';
}

/**
 * A number's bounds as a person reads them: " 2..4096", " >= 0", " <= 64", or nothing.
 * zod's `int()` alone bounds an integer by the safe-integer range, which says nothing to
 * the reader, so those bounds are left out.
 */
function rangeOf(p: Record<string, unknown>): string {
  const bound = (v: unknown, unbounded: number) => (typeof v === 'number' && v !== unbounded ? v : undefined);
  const lo = bound(p.minimum, Number.MIN_SAFE_INTEGER);
  const hi = bound(p.maximum, Number.MAX_SAFE_INTEGER);
  const xlo = bound(p.exclusiveMinimum, Number.MIN_SAFE_INTEGER);
  const xhi = bound(p.exclusiveMaximum, Number.MAX_SAFE_INTEGER);
  if (lo !== undefined && hi !== undefined) return ` ${lo}..${hi}`;
  const parts = [
    lo !== undefined ? `>= ${lo}` : xlo !== undefined ? `> ${xlo}` : undefined,
    hi !== undefined ? `<= ${hi}` : xhi !== undefined ? `< ${xhi}` : undefined,
  ].filter((x) => x !== undefined);
  return parts.length ? ` ${parts.join(', ')}` : '';
}
