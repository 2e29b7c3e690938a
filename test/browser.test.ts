/**
 * report.html in a real browser: Debian's chromium driven by playwright-core (which
 * downloads no browser of its own). For a sweep, a --vary sweep and a 2-D grid sweep, the
 * page is opened from disk with the network cut off, and must load with no console error,
 * no request leaving the machine, every SVG drawn at a non-zero size with something in it,
 * every image decoded; a full-page screenshot goes to .ci-out/browser/ for people to look at.
 *
 * Chromium is taken from VHW_CHROMIUM or /usr/bin/chromium. When it is missing the test
 * fails and says how to install it; VHW_BROWSER_TESTS=off skips it on a developer's machine
 * (never under CI, where it must run).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, vhw } from './support/vhw-cli.js';

const CHROMIUM = process.env.VHW_CHROMIUM ?? '/usr/bin/chromium';
const OPTED_OUT = process.env.VHW_BROWSER_TESTS === 'off' && !process.env.CI;
const SHOTS = join(ROOT, '.ci-out/browser');
const tmp = mkdtempSync(join(tmpdir(), 'vhw-browser-'));
/** The in-page measurement (sections opened, SVGs measured, images counted). */
const MEASURE = readFileSync(join(__dirname, 'support/measure-report.page.js'), 'utf8');

/** What the page did while it loaded and what it shows. */
interface PageCheck {
  consoleErrors: string[];
  /** Requests for anything not on disk (file:, data:, blob:, about:). */
  offDisk: string[];
  svgs: Array<{ where: string; width: number; height: number; drawnWidth: number; drawnHeight: number }>;
  brokenImages: string[];
  /** Images drawn (decoded, non-zero). */
  images: number;
}

let browser: Browser | undefined;

beforeAll(async () => {
  if (OPTED_OUT) return;
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no chromium at ${CHROMIUM}: the browser tests need Debian's chromium (sudo apt-get install chromium; .ci/run installs it), or VHW_CHROMIUM=/path/to/chromium; VHW_BROWSER_TESTS=off skips them outside CI`,
    );
  }
  // --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  rmSync(tmp, { recursive: true, force: true });
});

/** Opens `file` offline at 1400 px, checks it, saves a full-page screenshot as `name`.png. */
async function openReport(file: string, name: string): Promise<PageCheck> {
  if (browser === undefined) throw new Error('no browser');
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, offline: true });
  try {
    const page = await context.newPage();
    const check: PageCheck = { consoleErrors: [], offDisk: [], svgs: [], brokenImages: [], images: 0 };
    page.on('console', (m) => {
      if (m.type() === 'error') check.consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => check.consoleErrors.push(`uncaught: ${e.message}`));
    page.on('request', (r) => {
      if (!/^(file|data|blob|about):/.test(r.url())) check.offDisk.push(r.url());
    });
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    const measured = (await page.evaluate(MEASURE)) as { svgs: PageCheck['svgs']; broken: string[]; images: number };
    check.svgs = measured.svgs;
    check.brokenImages = measured.broken;
    check.images = measured.images;
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
    return check;
  } finally {
    await context.close();
  }
}

/** Runs `vhw sweep` into a fresh directory; returns it, or the refusal when the CLI refused. */
function sweep(name: string, ...args: string[]): { dir: string; code: number; err: string } {
  const dir = join(tmp, name);
  const r = vhw('sweep', 'ppc64-nvme', '--ops', '32', '--no-progress', '--out', dir, ...args);
  return { dir, code: r.code, err: r.err };
}

/**
 * The generic properties every report must have in a browser; `dir` is its result set,
 * each of whose SVG files (a chart written on its own) the report must draw too.
 */
function expectReadable(check: PageCheck, dir: string): void {
  expect(check.consoleErrors, 'console errors').toEqual([]);
  expect(check.offDisk, 'requests off the machine (the report must work offline)').toEqual([]);
  expect(check.brokenImages, 'images that did not decode').toEqual([]);
  expect(check.svgs.length, 'SVGs in the report').toBeGreaterThan(0);
  const empty = check.svgs.filter((s) => !(s.width > 0 && s.height > 0 && s.drawnWidth > 0 && s.drawnHeight > 0));
  expect(empty, 'SVGs drawn at zero size or with nothing in them').toEqual([]);
  const files = readdirSync(dir).filter((f) => f.endsWith('.svg'));
  expect(check.svgs.length + check.images, `pictures in the report, for ${files.join(', ')}`).toBeGreaterThanOrEqual(files.length);
}

describe.skipIf(OPTED_OUT)('report.html in chromium', () => {
  it('a sweep: charts and page maps drawn, no errors, offline', async () => {
    const s = sweep('sweep');
    expect(s.code, s.err).toBe(0);
    const check = await openReport(join(s.dir, 'report.html'), 'sweep');
    expectReadable(check, s.dir);
    // The chart and a page map at least: a report with only one kind would miss a picture.
    expect(check.svgs.length).toBeGreaterThanOrEqual(2);
  });

  it('a --vary sweep: its curve drawn as well', async () => {
    const s = sweep('vary', '--vary', 'cost.exit.userspaceFactor=1,3');
    expect(s.code, s.err).toBe(0);
    expect(readdirSync(s.dir)).toContain('vary.svg');
    expectReadable(await openReport(join(s.dir, 'report.html'), 'vary'), s.dir);
  });

  it('a 2-D grid sweep (two --vary): its heat map drawn as well', async () => {
    const s = sweep('grid', '--vary', 'cost.exit.userspaceFactor=1,3', '--vary', 'cost.vfio.fdRwCycles=1000,3000');
    expect(s.code, s.err).toBe(0);
    expect(readdirSync(s.dir)).toContain('heatmap.svg');
    expectReadable(await openReport(join(s.dir, 'report.html'), 'grid'), s.dir);
  });
});
