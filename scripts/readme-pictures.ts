/**
 * Regenerates the README's pictures in docs/img/ from real runs of the built-in scenarios
 * (`npm run pictures`): a sweep chart, a `--vary` chart, a page map and a heat map of a
 * two-parameter grid. The runs go through the `vhw` command as a user would run them; the
 * pictures are drawn by the same render functions as a result set's, so the README shows
 * what `vhw sweep --out` writes. The output depends only on the runs, which are
 * deterministic: running the script again changes no file unless the model changed.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type RunResult, render } from 'vhw';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'docs', 'img');
const vhwBin = join(root, 'packages', 'cli', 'bin', 'vhw.mjs');

/** Runs `vhw` with `args` and returns its standard output. */
function vhw(args: string[]): string {
  return execFileSync(process.execPath, [vhwBin, ...args], {
    cwd: root,
    encoding: 'utf8',
    maxBuffer: 1 << 28,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** The rows of `vhw sweep ARGS --format json`. */
function sweep(args: string[]): RunResult[] {
  return JSON.parse(vhw(['sweep', ...args, '--format', 'json'])) as RunResult[];
}

function write(name: string, svg: string): void {
  writeFileSync(join(out, name), svg.endsWith('\n') ? svg : `${svg}\n`);
  process.stderr.write(`wrote docs/img/${name}\n`);
}

/** The two axes of the heat map: the guest's own work per request, and how dear a userspace exit is. */
const IO_STACK = 'cost.guest.ioStackNs=0,2500,5000,10000,20000';
const FACTORS = [1, 2, 3, 4];

/**
 * The rows of a two-parameter grid: `--vary` twice where the sweep takes it, else one sweep per
 * exit factor with the factor recorded as the grid's second dimension (the same runs).
 */
function grid(): RunResult[] {
  const base = ['ppc64-nvme', '--variant', 'both', '--vary', IO_STACK];
  try {
    return sweep([...base, '--vary', `cost.exit.userspaceFactor=${FACTORS.join(',')}`]);
  } catch {
    return FACTORS.flatMap((f) =>
      sweep([...base, '--set', `cost.exit.userspaceFactor=${f}`]).map((r) => {
        const first = render.varyOf(r);
        // The array form of a grid row's vary point: one entry per dimension.
        (r as { vary?: unknown }).vary = [...first, { field: 'exit.userspaceFactor', value: f }];
        return r;
      }),
    );
  }
}

async function main(): Promise<void> {
  mkdirSync(out, { recursive: true });
  write('sweep.svg', await render.sweepChartSvg(sweep(['ppc64-mixed', '--variant', 'both']), { measure: 'speedup' }));
  // Log-spaced points (--log) put as many points before the knee as after it.
  const vary = sweep(['ppc64-mixed', '--variant', 'both', '--vary', 'cost.guest.ioStackNs=100..25600', '--steps', '9', '--log']);
  write('vary.svg', await render.varyChartSvg(vary, { combinations: 'all' }));
  vhw(['map', 'ppc64-mixed', '--patches', 'none', '--out', join(out, 'page-map.svg')]);
  process.stderr.write('wrote docs/img/page-map.svg\n');
  write('heatmap.svg', await render.heatMapSvg(grid()));
}

await main();
