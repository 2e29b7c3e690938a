import { isBuiltin, SourceMap } from 'node:module';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { VhwError } from '@vhw/core';
import type { BuildFailure, Message, Plugin } from 'esbuild';

/**
 * True when this module runs from its TypeScript sources (inside the vhw workspace, where
 * the `vhw-source` export condition is on), false when it runs from the built `dist/`.
 * A user's file then resolves vhw's packages in the same form, so both share one copy.
 */
export const FROM_SOURCES = import.meta.url.endsWith('.ts');

/** A user's module, imported, with what is needed to point at its own source lines. */
export interface UserModule {
  /** The module's exports. */
  exports: Record<string, unknown>;
  /**
   * The `file:line:col` in the user's own sources of the innermost stack frame of `error`
   * that lies in them, or undefined when none does (the error came from a package).
   */
  userFrame(error: unknown): string | undefined;
}

/** A path as the user sees it: relative to the working directory when it lies below it. */
export function displayPath(file: string): string {
  const rel = relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : file;
}

/** esbuild's message as a compiler prints it: `file:line:col: text`, then the line and a caret. */
function formatBuildMessage(m: Message): string {
  const loc = m.location;
  if (!loc) return m.text;
  const where = `${displayPath(resolve(process.cwd(), loc.file))}:${loc.line}:${loc.column + 1}`;
  const caret = `${' '.repeat(loc.column)}^`;
  return `${where}: ${m.text}\n    ${loc.lineText}\n    ${caret}`;
}

function isBuildFailure(e: unknown): e is BuildFailure {
  return typeof e === 'object' && e !== null && Array.isArray((e as BuildFailure).errors);
}

/**
 * Resolves every package import of the user's file where Node would: from the file's own
 * directory (its project's node_modules), whatever that project's `"type"`. A file lying
 * outside any project that has vhw installed still finds vhw's own packages, from where this
 * package is installed. Each import becomes an absolute file URL, so the bundle can be
 * imported from anywhere and shares the CLI's copy of every vhw package.
 */
function resolveFromUserFile(): Plugin {
  const again = Symbol('vhw-resolve');
  const vhwDir = dirname(fileURLToPath(import.meta.url));
  return {
    name: 'vhw-resolve-from-user-file',
    setup(build) {
      build.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.pluginData === again) return undefined;
        if (isBuiltin(args.path)) return { path: args.path, external: true };
        const opts = { kind: args.kind, importer: args.importer, pluginData: again };
        let r = await build.resolve(args.path, { ...opts, resolveDir: args.resolveDir });
        if (r.errors.length > 0) {
          const fallback = await build.resolve(args.path, { ...opts, resolveDir: vhwDir });
          if (fallback.errors.length === 0) r = fallback;
        }
        if (r.errors.length > 0) return { errors: r.errors };
        return { path: pathToFileURL(r.path).href, external: true };
      });
    },
  };
}

/**
 * Imports a user's `.ts`, `.mts`, `.js` or `.mjs` file from any directory. The file and the
 * relative imports it makes (the user's own code) are compiled as ES modules by esbuild,
 * whatever the `"type"` of the project they sit in; package imports are resolved from the
 * file's location and left to Node. The compiled module is written to a temporary directory,
 * imported, and removed.
 * @param file - absolute path of the user's file
 * @returns the module's exports and a mapper from stack frames to the user's source lines
 * @throws VhwError E_CONFIG with the compiler's `file:line:col` message when the file (or one
 *   it imports) does not compile or an import cannot be resolved, or with the user's
 *   `file:line:col` when the module throws while it loads
 */
export async function importUserModule(file: string): Promise<UserModule> {
  // esbuild is loaded only when a user's file is: built-in scenarios and every other
  // command start without it.
  const esbuild = await import('esbuild');
  const dir = mkdtempSync(join(tmpdir(), 'vhw-user-'));
  const outfile = join(dir, `${basename(file).replace(/\.[^.]*$/, '')}.mjs`);
  try {
    let code: string;
    let mapText: string;
    try {
      const built = await esbuild.build({
        entryPoints: [file],
        absWorkingDir: process.cwd(),
        outfile,
        bundle: true,
        write: false,
        format: 'esm',
        platform: 'node',
        target: 'node20',
        sourcemap: 'external',
        logLevel: 'silent',
        conditions: FROM_SOURCES ? ['vhw-source'] : [],
        plugins: [resolveFromUserFile()],
      });
      code = built.outputFiles.find((f) => f.path.endsWith('.mjs'))?.text ?? '';
      mapText = built.outputFiles.find((f) => f.path.endsWith('.map'))?.text ?? '{}';
    } catch (e) {
      if (!isBuildFailure(e)) throw e;
      throw new VhwError('E_CONFIG', e.errors.map(formatBuildMessage).join('\n'), { cause: e });
    }
    writeFileSync(outfile, code);
    const map = new SourceMap(JSON.parse(mapText));
    const bundleUrl = pathToFileURL(outfile).href;
    const userFrame = (error: unknown): string | undefined => mapUserFrame(error, outfile, bundleUrl, map);
    try {
      return { exports: (await import(bundleUrl)) as Record<string, unknown>, userFrame };
    } catch (e) {
      const at = userFrame(e);
      throw new VhwError('E_CONFIG', `${errorMessage(e)}${at ? ` (at ${at})` : ''}`, { cause: e });
    }
  } finally {
    // The module stays loaded once imported; its compiled file is not needed any more.
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The first line of an error's message. */
export function errorMessage(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0] ?? msg;
}

/** Maps the innermost stack frame of `error` that lies in the compiled user module back to the user's source. */
function mapUserFrame(error: unknown, outfile: string, bundleUrl: string, map: SourceMap): string | undefined {
  const stack = error instanceof Error ? (error.stack ?? '') : '';
  for (const line of stack.split('\n')) {
    const m = /(file:\/\/[^\s)]+|\/[^\s):]+):(\d+):(\d+)\)?\s*$/.exec(line);
    if (!m || (m[1] !== bundleUrl && m[1] !== outfile)) continue;
    const entry = map.findEntry(Number(m[2]) - 1, Number(m[3]) - 1);
    if (!('originalSource' in entry) || !entry.originalSource) continue;
    const source = entry.originalSource.startsWith('file:')
      ? fileURLToPath(entry.originalSource)
      : resolve(dirname(outfile), entry.originalSource);
    return `${displayPath(source)}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
  }
  return undefined;
}
