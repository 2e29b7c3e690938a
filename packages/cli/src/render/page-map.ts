/**
 * The host MMIO page map (`vhw map`, HTML report): one row per host page showing which BAR
 * pieces lie in it and whether the guest reaches each directly or by a trap.
 *
 * A piece's `offset` is read as its offset **within the host page** (0 ≤ offset < pageSize);
 * pieces reaching past the page are clipped to it.
 */
import type { PageMap, PageMapPage } from '@vhw/experiment';
import { escapeXml, formatBytes, hex } from './format.js';

type PiecePath = PageMapPage['pieces'][number]['path'];

/** Fill colours by piece path, and the page path colours used for the status column. */
const FILL: Record<PiecePath, string> = { direct: '#4e9a4a', trap: '#e0603a', unmapped: '#b4b4b4' };
const TEXT_ON: Record<PiecePath, string> = { direct: '#ffffff', trap: '#ffffff', unmapped: '#222222' };
const STATUS: Record<PageMapPage['path'], string> = { direct: '#2f7a2b', trap: '#c0392b', mixed: '#d35400', unused: '#888888' };
const FREE_FILL = '#f6f6f6';

/** Options of {@link pageMapSvg}. */
export interface PageMapSvgOptions {
  /** Title drawn above the map. Default: `host MMIO page map (<page size> pages)`. */
  title?: string;
}

const M = 12; // outer margin
const LABEL_W = 200; // address + group column
const BAR_W = 640; // one host page
const STATUS_W = 70;
const ROW_H = 40;
const ROW_GAP = 6;
const MONO = 'ui-monospace, Menlo, Consolas, monospace';
const SANS = 'Helvetica, Arial, sans-serif';

function fmt(n: number): string {
  // Coordinates with at most 2 decimals, no trailing zeros: stable text, small files.
  return String(Math.round(n * 100) / 100);
}

/** Cuts `s` to what fits in `px` at `fontSize` (`em` per character, 0.62 by default), with an ellipsis. */
function fit(s: string, px: number, fontSize: number, em = 0.62): string {
  const max = Math.floor(px / (fontSize * em));
  if (max < 2) return '';
  if (s.length <= max) return s;
  return max < 4 ? '' : `${s.slice(0, max - 1)}…`;
}

function pieceName(p: { device: string; bar: number }): string {
  return `${p.device}:BAR${p.bar}`;
}

/** Replaces control characters so that names cannot drive the terminal. */
function plain(s: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters in a label are replaced so a terminal cannot be steered
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

function addrDigits(map: PageMap): number {
  return Math.max(8, ...map.pages.map((p) => Math.trunc(p.hostPa).toString(16).length));
}

/** Clips a piece to the page, returning its start and end offsets within the page. */
function clip(offset: number, size: number, pageSize: number): [number, number] {
  const a = Math.min(Math.max(0, offset), pageSize);
  const b = Math.min(Math.max(a, offset + size), pageSize);
  return [a, b];
}

/**
 * Draws a host page map as a self-contained SVG document: one row (`<g class="page">`) per host
 * page with its address in hex and its PE/group, the page as a bar as wide as the page size, each
 * BAR piece as a box placed and sized in proportion to its offset and size, coloured by path
 * (direct green, trap red-orange, unmapped grey) and labelled `device:BARn` and with its reason
 * when the box is wide enough (every box also carries a `<title>` tooltip with the full text),
 * the page's overall path at the right, offset ticks on top and a legend below. All text is
 * XML-escaped. No ids are used, so several maps can be inlined in one HTML page.
 *
 * @param map - the page map (`RunResult.pageMap`).
 * @param opts - title ({@link PageMapSvgOptions}).
 * @returns the SVG text, starting with `<svg`.
 * @example
 * fs.writeFileSync('map.svg', pageMapSvg(result.pageMap!, { title: 'nvme-16k, P1+P2' }));
 */
export function pageMapSvg(map: PageMap, opts: PageMapSvgOptions = {}): string {
  const ps = map.pageSize > 0 ? map.pageSize : 1;
  const title = opts.title ?? `host MMIO page map (${formatBytes(map.pageSize)} pages)`;
  const digits = addrDigits(map);
  const barX = M + LABEL_W;
  const width = barX + BAR_W + 10 + STATUS_W + M;
  const titleY = M + 14;
  const scaleY = titleY + 22; // tick labels baseline
  const rowsY = scaleY + 8;
  const nRows = Math.max(1, map.pages.length);
  const rowsEnd = rowsY + nRows * (ROW_H + ROW_GAP);
  const legendY = rowsEnd + 10;
  const height = legendY + 20 + M;
  const o: string[] = [];

  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" class="vhw-page-map" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${SANS}">`,
  );
  o.push(`<title>${escapeXml(title)}</title>`);
  o.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  o.push(`<text x="${M}" y="${titleY}" font-size="15" font-weight="bold" fill="#111">${escapeXml(title)}</text>`);

  // Offset scale: quarters of the page, with faint guide lines through all rows.
  o.push(`<g class="scale" font-size="10" fill="#555">`);
  o.push(`<text x="${M}" y="${scaleY}" fill="#555">host page</text>`);
  for (let q = 0; q <= 4; q++) {
    const x = barX + (BAR_W * q) / 4;
    const anchor = q === 0 ? 'start' : q === 4 ? 'end' : 'middle';
    o.push(`<text x="${fmt(x)}" y="${scaleY}" text-anchor="${anchor}">+${escapeXml(formatBytes((ps * q) / 4))}</text>`);
    o.push(`<line x1="${fmt(x)}" y1="${rowsY - 2}" x2="${fmt(x)}" y2="${rowsEnd - ROW_GAP}" stroke="#dddddd" stroke-dasharray="2,3"/>`);
  }
  o.push(`</g>`);

  if (map.pages.length === 0) {
    o.push(`<text x="${barX}" y="${rowsY + ROW_H / 2 + 4}" font-size="12" fill="#666">no pages</text>`);
  }

  map.pages.forEach((page, i) => {
    const y = rowsY + i * (ROW_H + ROW_GAP);
    const addr = hex(page.hostPa, digits);
    const group = page.group ?? '';
    o.push(`<g class="page" data-host-pa="${escapeXml(addr)}" data-path="${escapeXml(page.path)}">`);
    o.push(`<title>${escapeXml(`${addr}${group ? ` ${group}` : ''}: ${page.path}`)}</title>`);
    o.push(`<text x="${M}" y="${y + 16}" font-family="${MONO}" font-size="12" fill="#111">${escapeXml(addr)}</text>`);
    if (group) o.push(`<text x="${M}" y="${y + 32}" font-size="11" fill="#555">${escapeXml(fit(group, LABEL_W - 8, 11))}</text>`);
    o.push(`<rect x="${barX}" y="${y}" width="${BAR_W}" height="${ROW_H}" fill="${FREE_FILL}" stroke="#999999"/>`);
    for (const p of page.pieces) {
      const [a, b] = clip(p.offset, p.size, ps);
      const x = barX + (a / ps) * BAR_W;
      const w = Math.max(1, ((b - a) / ps) * BAR_W);
      const name = pieceName(p);
      const tip = `${name} +${hex(p.offset)} ${formatBytes(p.size)} ${p.path}: ${p.reason}`;
      o.push(`<g class="piece" data-path="${escapeXml(p.path)}">`);
      o.push(`<title>${escapeXml(tip)}</title>`);
      o.push(
        `<rect x="${fmt(x)}" y="${y + 3}" width="${fmt(w)}" height="${ROW_H - 6}" fill="${FILL[p.path]}" stroke="#ffffff" stroke-width="1"/>`,
      );
      const l1 = fit(name, w - 6, 10, 0.7);
      const l2 = fit(p.reason, w - 6, 9);
      if (l1)
        o.push(`<text x="${fmt(x + 3)}" y="${y + 17}" font-size="10" font-weight="bold" fill="${TEXT_ON[p.path]}">${escapeXml(l1)}</text>`);
      if (l2) o.push(`<text x="${fmt(x + 3)}" y="${y + 30}" font-size="9" fill="${TEXT_ON[p.path]}">${escapeXml(l2)}</text>`);
      o.push(`</g>`);
    }
    o.push(
      `<text x="${barX + BAR_W + 10}" y="${y + ROW_H / 2 + 4}" font-size="12" font-weight="bold" fill="${STATUS[page.path]}">${escapeXml(page.path)}</text>`,
    );
    o.push(`</g>`);
  });

  // Legend.
  const items: Array<[string, string, string]> = [
    [FILL.direct, 'direct', 'guest reaches it without an exit'],
    [FILL.trap, 'trap', 'exits to the VMM'],
    [FILL.unmapped, 'unmapped', 'BAR part not mapped'],
    [FREE_FILL, 'free', 'no BAR'],
  ];
  o.push(`<g class="legend" font-size="11" fill="#222">`);
  let lx = M;
  for (const [fill, name, what] of items) {
    o.push(`<rect x="${lx}" y="${legendY}" width="14" height="14" fill="${fill}" stroke="#999999"/>`);
    const label = `${name}: ${what}`;
    o.push(`<text x="${lx + 19}" y="${legendY + 11}">${escapeXml(label)}</text>`);
    lx += 19 + Math.ceil(label.length * 11 * 0.55) + 18;
  }
  o.push(`</g>`);
  o.push(`</svg>`);
  return o.join('\n');
}

/** Characters of the text bar, and the order pieces are painted in (later wins shared cells). */
const CELL: Record<PiecePath, string> = { unmapped: '-', direct: 'D', trap: 'T' };
const PAINT_ORDER: PiecePath[] = ['unmapped', 'direct', 'trap'];

/**
 * Renders a host page map for terminals (plain text; control characters in names are shown as
 * `?`): a legend line, then per page its address,
 * group, a 32-cell bar (`D` direct, `T` trap, `-` unmapped, `.` no BAR; a cell shared by a trap
 * piece shows `T`, and every piece gets at least one cell) and its overall path, followed by one
 * indented line per piece: `device:BARn +offset size path reason`.
 *
 * @param map - the page map (`RunResult.pageMap`).
 * @returns the text, one line per page plus one per piece, ending with a newline.
 * @example
 * process.stdout.write(pageMapText(result.pageMap!));
 */
export function pageMapText(map: PageMap): string {
  const cells = 32;
  const ps = map.pageSize > 0 ? map.pageSize : 1;
  const digits = addrDigits(map);
  const groupW = Math.max(0, ...map.pages.map((p) => (p.group ?? '').length));
  const lines = [
    `host MMIO page map, ${formatBytes(map.pageSize)} pages, ${map.pages.length} page(s) (D direct, T trap, - unmapped, . no BAR)`,
  ];
  for (const page of map.pages) {
    const bar = new Array<string>(cells).fill('.');
    for (const kind of PAINT_ORDER) {
      for (const p of page.pieces) {
        if (p.path !== kind) continue;
        const [a, b] = clip(p.offset, p.size, ps);
        const first = Math.min(cells - 1, Math.floor((a / ps) * cells));
        const last = Math.max(first, Math.min(cells - 1, Math.ceil((b / ps) * cells) - 1));
        for (let c = first; c <= last; c++) bar[c] = CELL[kind];
      }
    }
    const group = groupW > 0 ? `  ${(page.group ?? '').padEnd(groupW)}` : '';
    lines.push(plain(`${hex(page.hostPa, digits)}${group}  [${bar.join('')}]  ${page.path}`));
    for (const p of page.pieces) {
      lines.push(plain(`    ${pieceName(p)}  +${hex(p.offset)}  ${formatBytes(p.size)}  ${p.path}  ${p.reason}`));
    }
  }
  return `${lines.join('\n')}\n`;
}
