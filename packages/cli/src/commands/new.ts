import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { VhwError } from '@vhw/core';
import type { Io } from '../output.js';

/**
 * `vhw new device NAME [DIR]`: writes a ready device plugin package from the templates
 * shipped with the CLI (`templates/device/`, every file a `.tmpl` with `{{key}}` holes).
 */

/** What the templates are filled with. */
export interface DeviceTemplateValues {
  /** The npm package name, e.g. `demo-dev` or `@acme/demo-dev`. */
  name: string;
  /** The plugin name (`definePlugin({ name })`): the package name without scope, in lowercase letters, digits and dashes. */
  plugin: string;
  /** The factory's identifier, e.g. `demoDev`. */
  ident: string;
  /** The prefix of the class names, e.g. `DemoDev`. */
  Class: string;
  /** The default instance name, e.g. `demo-dev0`. */
  instance: string;
  /** The ID register's value, as a hex literal. */
  hexId: string;
  /** The vhw version the package depends on. */
  vhwVersion: string;
}

// npm's rules for a new package name: lowercase, URL-safe, optional scope, at most 214 characters.
const NPM_NAME = /^(?:@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/;

/**
 * The template values for a package name.
 * @param name - the npm package name
 * @param vhwVersion - the version of vhw the package will depend on
 * @throws VhwError E_CONFIG when `name` is not a valid npm package name, or has no letter or digit to name a plugin
 */
export function deviceTemplateValues(name: string, vhwVersion: string): DeviceTemplateValues {
  if (name.length > 214 || !NPM_NAME.test(name) || name.startsWith('.') || name.startsWith('_'))
    throw new VhwError(
      'E_CONFIG',
      `package name "${name}"; allowed: an npm package name (lowercase letters, digits, - . _ ~, optionally @scope/), e.g. demo-dev`,
    );
  const words = (name.split('/').pop() ?? name).split(/[^a-z0-9]+/).filter(Boolean);
  if (words.length === 0 || !/^[a-z]/.test(words[0]!))
    throw new VhwError('E_CONFIG', `package name "${name}"; allowed: a name that starts with a letter once the scope is removed`);
  const plugin = words.join('-');
  const cap = (w: string) => w[0]!.toUpperCase() + w.slice(1);
  // A signature derived from the name, so two generated devices rarely share one.
  let h = 0x811c9dc5;
  for (const c of plugin) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return {
    name,
    plugin,
    ident: words[0]! + words.slice(1).map(cap).join(''),
    Class: words.map(cap).join(''),
    instance: `${plugin}0`,
    hexId: `0x${h.toString(16).padStart(8, '0')}`,
    vhwVersion,
  };
}

/** The CLI package's folder (the one with its package.json), from sources or from a build. */
function cliRoot(): string {
  for (let d = dirname(fileURLToPath(import.meta.url)); dirname(d) !== d; d = dirname(d)) {
    const pkg = join(d, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'vhw') return d;
  }
  throw new VhwError('E_NOT_FOUND', 'vhw new: cannot find the vhw package folder (its templates)');
}

function templateFiles(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? templateFiles(join(dir, e.name), `${prefix}${e.name}/`) : e.name.endsWith('.tmpl') ? [`${prefix}${e.name}`] : [],
  );
}

/** Fills `{{key}}` holes; a hole with no value is an error in the template, not in the user's input. */
export function fillTemplate(text: string, values: DeviceTemplateValues): string {
  return text.replace(/\{\{(\w+)\}\}/g, (hole, key: string) => {
    const v = (values as unknown as Record<string, unknown>)[key];
    if (typeof v !== 'string') throw new VhwError('E_STATE', `vhw new: template hole ${hole} has no value`);
    return v;
  });
}

/**
 * Writes the device plugin package `name` into `dir`.
 * @returns the files written, relative to `dir`
 * @throws VhwError E_CONFIG for a bad name, or when `dir` exists and is not an empty folder
 */
export function writeDevicePackage(name: string, dir: string): string[] {
  const root = cliRoot();
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  const values = deviceTemplateValues(name, version);
  if (existsSync(dir) && (!statSync(dir).isDirectory() || readdirSync(dir).length > 0))
    throw new VhwError('E_CONFIG', `${dir} exists and is not empty; allowed: a new or empty folder`);
  const templates = join(root, 'templates/device');
  const written: string[] = [];
  for (const t of templateFiles(templates)) {
    // npm drops files named .gitignore from a package, so the template is "gitignore".
    const out = t.replace(/\.tmpl$/, '').replace(/^gitignore$/, '.gitignore');
    mkdirSync(dirname(join(dir, out)), { recursive: true });
    writeFileSync(join(dir, out), fillTemplate(readFileSync(join(templates, t), 'utf8'), values));
    written.push(out);
  }
  return written.sort();
}

/** `vhw new device NAME [DIR]`: DIR defaults to the name without its scope, in the working directory. */
export function newAction(io: Io, what: string, name: string, dir: string | undefined): void {
  if (what !== 'device') throw new VhwError('E_CONFIG', `vhw new ${what}; allowed: device`);
  const target = resolve(dir ?? basename(name));
  const files = writeDevicePackage(name, target);
  const shown = relative(process.cwd(), target) || '.';
  io.out(
    [
      `wrote the device plugin package ${name} in ${shown}:`,
      ...files.map((f) => `  ${f}`),
      '',
      'next (vhw is installed from its tarballs; see README.md):',
      `  cd ${shown}`,
      '  npm install ../vhw/*.tgz',
      '  npm test',
      '  npx vhw sweep scenario.ts',
    ].join('\n'),
  );
}

/** Adds `vhw new` to `program`. */
export function addNewCommand(program: Command, io: Io): void {
  program
    .command('new')
    .description('write a new plugin package to start from: vhw new device NAME [DIR]')
    .argument('<what>', 'what to make: device')
    .argument('<name>', 'the npm package name, e.g. demo-dev or @acme/demo-dev')
    .argument('[dir]', 'where to write it (default: the name without scope); must be new or empty')
    .action((what: string, name: string, dir: string | undefined) => newAction(io, what, name, dir));
}
