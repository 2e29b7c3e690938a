#!/usr/bin/env node
/**
 * `npm run mutate`: applies each mutation in scripts/mutate/mutations/ on its own to a
 * throw-away copy of this tree, runs the test files the mutation names, and reports it
 * caught (the tests fail) or survived (they pass). Exits 1 if any mutation survives, 2 if
 * a mutation file is malformed, its search does not match exactly once, or the tests fail
 * before any mutation.
 *
 * The tree you run it from is never written: the copy holds the files git knows of
 * (tracked and untracked, not ignored, so uncommitted work is included) and reaches the
 * installed dependencies through symlinks, with the workspace links re-pointed into the
 * copy. Ctrl-C, a failure or a normal end removes the copy. It works the same from the main
 * checkout or from a `git worktree`.
 *
 * Usage: npm run mutate [-- [--list] [--keep] [NAME...]]
 *   NAME    run only the mutations whose file name (without .json) contains NAME
 *   --list  print the mutations and exit
 *   --keep  leave the copy in place for inspection (its path is printed)
 *
 * The mutation file format is described in scripts/mutate/README.md.
 */
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const mutationsDir = join(here, 'mutations');

/** The root of the checkout (main tree or worktree) this script lives in. */
function repoRoot() {
  const r = spawnSync('git', ['rev-parse', '--show-toplevel'], { cwd: here, encoding: 'utf8' });
  if (r.status !== 0) fail(`not inside a git checkout: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

function fail(message) {
  console.error(`mutate: ${message}`);
  process.exit(2);
}

/**
 * Reads and checks one mutation file.
 * @returns {{ name: string, description: string, file: string, search?: string, regex?: RegExp, replace: string, tests: string[] }}
 */
function loadMutation(path) {
  const name = relative(mutationsDir, path).replace(/\.json$/, '');
  let m;
  try {
    m = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    fail(`${name}: not valid JSON: ${e.message}`);
  }
  const known = new Set(['description', 'file', 'search', 'regex', 'flags', 'replace', 'tests']);
  for (const k of Object.keys(m)) if (!known.has(k)) fail(`${name}: unknown key "${k}"; allowed: ${[...known].join(', ')}`);
  for (const k of ['description', 'file', 'replace']) if (typeof m[k] !== 'string') fail(`${name}: "${k}" must be a string`);
  if ((m.search === undefined) === (m.regex === undefined)) fail(`${name}: give exactly one of "search" (a literal) and "regex"`);
  if (m.search !== undefined && (typeof m.search !== 'string' || m.search === '')) fail(`${name}: "search" must be a non-empty string`);
  if (m.regex !== undefined && typeof m.regex !== 'string') fail(`${name}: "regex" must be a string`);
  if (m.flags !== undefined && (m.regex === undefined || typeof m.flags !== 'string' || /[gy]/.test(m.flags)))
    fail(`${name}: "flags" goes with "regex" only and may not hold g or y`);
  if (!Array.isArray(m.tests) || m.tests.length === 0 || !m.tests.every((t) => typeof t === 'string'))
    fail(`${name}: "tests" must be a non-empty array of test file paths`);
  let regex;
  if (m.regex !== undefined) {
    try {
      regex = new RegExp(m.regex, m.flags ?? '');
    } catch (e) {
      fail(`${name}: bad regex: ${e.message}`);
    }
  }
  return { name, description: m.description, file: m.file, search: m.search, regex, replace: m.replace, tests: m.tests };
}

/** `text` with the mutation applied; fails unless its search matches exactly once. */
function apply(m, text) {
  if (m.search !== undefined) {
    const n = text.split(m.search).length - 1;
    if (n !== 1) fail(`${m.name}: the search string matches ${n} times in ${m.file}; it must match exactly once`);
    return text.replace(m.search, () => m.replace);
  }
  const all = new RegExp(m.regex.source, `${m.regex.flags}g`);
  const n = [...text.matchAll(all)].length;
  if (n !== 1) fail(`${m.name}: the regex matches ${n} times in ${m.file}; it must match exactly once`);
  return text.replace(m.regex, m.replace);
}

/** Copies the files git knows of into a fresh directory and links the installed dependencies. */
function makeCopy(root) {
  const dir = mkdtempSync(join(tmpdir(), 'vhw-mutate-'));
  const ls = spawnSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (ls.status !== 0) fail(`git ls-files failed: ${ls.stderr.trim()}`);
  for (const f of ls.stdout.split('\0')) {
    if (f === '' || !existsSync(join(root, f))) continue; // deleted but not yet staged
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    cpSync(join(root, f), join(dir, f), { verbatim: true });
  }
  linkNodeModules(join(root, 'node_modules'), join(dir, 'node_modules'));
  return dir;
}

/**
 * Every entry of the installed node_modules, linked from the copy. A link that points
 * back into the workspace (the npm workspace packages) is recreated as it is, relative,
 * so that it resolves inside the copy and the tests run the mutated sources.
 */
function linkNodeModules(from, to) {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from)) {
    const src = join(from, entry);
    const st = lstatSync(src);
    if (st.isSymbolicLink()) {
      const target = readlinkSync(src);
      const inWorkspace = !target.startsWith('/') && !resolve(from, target).includes('/node_modules/');
      symlinkSync(inWorkspace ? target : resolve(from, target), join(to, entry));
    } else if (st.isDirectory() && entry.startsWith('@')) linkNodeModules(src, join(to, entry));
    else if (entry !== '.vite' && entry !== '.vitest') symlinkSync(src, join(to, entry));
  }
}

/** Runs vitest on `tests` in `dir`; true when every test passed. */
function runTests(root, dir, tests) {
  const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
  const r = spawnSync(process.execPath, [vitest, 'run', '--reporter=dot', ...tests], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, VHW_LONG: '', FORCE_COLOR: '0' },
    maxBuffer: 256 << 20,
  });
  // Ctrl-C reaches vitest too (same process group): stop rather than count it as caught.
  if (r.signal || r.status === 130 || r.status === 143) throw new Interrupted(String(r.signal ?? r.status));
  return { passed: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

class Interrupted extends Error {}

function main() {
  const args = process.argv.slice(2);
  const list = args.includes('--list');
  const keep = args.includes('--keep');
  const filters = args.filter((a) => !a.startsWith('--'));
  const root = repoRoot();
  if (!existsSync(mutationsDir)) fail(`no mutations directory ${mutationsDir}`);
  const files = readdirSync(mutationsDir, { recursive: true })
    .filter((f) => f.endsWith('.json'))
    .sort();
  const mutations = files
    .map((f) => loadMutation(join(mutationsDir, f)))
    .filter((m) => filters.length === 0 || filters.some((x) => m.name.includes(x)));
  if (mutations.length === 0) fail(filters.length > 0 ? `no mutation matches ${filters.join(', ')}` : 'no mutation files');
  if (list) {
    for (const m of mutations) console.log(`${m.name}: ${m.description}\n    ${m.file} -> ${m.tests.join(' ')}`);
    return 0;
  }
  // Every mutation must apply to the tree as it is, before anything runs.
  const originals = new Map();
  for (const m of mutations) {
    const path = join(root, m.file);
    if (!existsSync(path)) fail(`${m.name}: no file ${m.file}`);
    for (const t of m.tests) if (!existsSync(join(root, t))) fail(`${m.name}: no test file ${t}`);
    if (!originals.has(m.file)) originals.set(m.file, readFileSync(path, 'utf8'));
    apply(m, originals.get(m.file));
  }

  const dir = makeCopy(root);
  const cleanup = () => {
    if (keep) console.log(`mutate: the copy is left at ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  };
  const onSignal = (sig) => {
    cleanup();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const allTests = [...new Set(mutations.flatMap((m) => m.tests))];
    process.stdout.write(`mutate: baseline (${allTests.length} test files, no mutation) ... `);
    const base = runTests(root, dir, allTests);
    if (!base.passed) {
      console.log('FAILED');
      console.log(base.output);
      fail('the tests fail before any mutation; fix them first');
    }
    console.log('passed');
    const survived = [];
    for (const m of mutations) {
      const path = join(dir, m.file);
      const original = originals.get(m.file);
      writeFileSync(path, apply(m, original));
      const t0 = Date.now();
      let r;
      try {
        r = runTests(root, dir, m.tests);
      } finally {
        writeFileSync(path, original);
      }
      const secs = ((Date.now() - t0) / 1000).toFixed(1);
      console.log(`${r.passed ? 'SURVIVED' : 'caught  '} ${m.name} (${secs}s): ${m.description}`);
      if (r.passed) survived.push(m.name);
    }
    console.log(
      `mutate: ${mutations.length - survived.length} of ${mutations.length} caught${survived.length > 0 ? `; survived: ${survived.join(', ')}` : ''}`,
    );
    return survived.length > 0 ? 1 : 0;
  } catch (e) {
    if (e instanceof Interrupted) {
      console.log('\nmutate: interrupted');
      return 130;
    }
    throw e;
  } finally {
    cleanup();
  }
}

process.exitCode = main();
