import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { entryFile, findManifestPackages } from './plugins.js';

const EXPORTS = { '.': { 'vhw-source': './src/index.ts', types: './dist/index.d.ts', import: './dist/index.js' } };

describe('manifest entries', () => {
  it('resolve through exports: sources in the workspace, built files when installed', () => {
    const pkg = { dir: '/p', exports: EXPORTS };
    expect(entryFile(pkg, '.', ['vhw-source', 'import', 'node', 'default'])).toBe('/p/src/index.ts');
    expect(entryFile(pkg, '.', ['import', 'node', 'default'])).toBe('/p/dist/index.js');
  });

  it('take a file path when it is not an export subpath, and a plain exports string as "."', () => {
    expect(entryFile({ dir: '/p', exports: EXPORTS }, './dist/plugin.js', ['import'])).toBe('/p/dist/plugin.js');
    expect(entryFile({ dir: '/p', exports: './lib/main.js' }, '.', ['import'])).toBe('/p/lib/main.js');
    expect(entryFile({ dir: '/p', exports: undefined }, './index.js', ['import'])).toBe('/p/index.js');
  });
});

describe('findManifestPackages', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'vhw-manifest-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));
  const write = (dir: string, pkg: object) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg));
  };

  it('finds scoped and unscoped packages with the field, the first copy of a name only', () => {
    const a = join(tmp, 'a/node_modules');
    const b = join(tmp, 'b/node_modules');
    write(join(a, 'third-party-dev'), { name: 'third-party-dev', vhw: { plugins: ['.'] } });
    write(join(a, '@acme/board'), { name: '@acme/board', vhw: { plugins: ['./dist/plugin.js'] } });
    write(join(a, 'left-pad'), { name: 'left-pad' });
    write(join(b, 'third-party-dev'), { name: 'third-party-dev', vhw: { plugins: ['./other.js'] } });
    const found = findManifestPackages([a, b]);
    expect(found.map((p) => [p.name, p.manifest.plugins]).sort()).toEqual([
      ['@acme/board', ['./dist/plugin.js']],
      ['third-party-dev', ['.']],
    ]);
  });
});
