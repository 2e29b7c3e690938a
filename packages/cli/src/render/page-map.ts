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

/**
 * Where a BAR's MSI-X table or PBA lies, in host addresses: drawn as a strip inside its BAR's
 * piece, because whether the page holding it can be mmapped is what patch 3 decides.
 */
export interface PageMapMark {
  device: string;
  bar: number;
  kind: 'msix-table' | 'msix-pba';
  /** Host physical address of the first byte. */
  hostPa: number;
  /** Offset within the BAR, for the key. */
  offset: number;
  size: number;
}

/** What the key says of a BAR besides its pieces (from the device's declaration). */
export interface PageMapBarInfo {
  device: string;
  bar: number;
  /** The device's name for the BAR ("registers", "msix"). */
  label?: string;
  /** Full BAR size in bytes. */
  size?: number;
}

/**
 * A BAR the VMM emulates for the guest with no host page behind it: QEMU's MSI-X relocation
 * (`x-msix-relocation`) moves the table and PBA into such a BAR so that the device's own BAR
 * can be mapped whole. Drawn in its own row below the host pages.
 */
export interface PageMapEmulatedBar {
  device: string;
  bar: number;
  /** Bytes of the emulated space (the whole BAR when the VMM added it, the part above the device's otherwise). */
  size: number;
  /**
   * Where the emulated space starts in the BAR: 0 for a BAR the VMM added, the device's size
   * for one it enlarged (whose lower part is the device's, drawn in the host pages). Default 0.
   */
  start?: number;
  /** Offsets within the BAR of the table and PBA it holds. */
  table?: { offset: number; size: number };
  pba?: { offset: number; size: number };
  /** Why it exists, e.g. `msix relocated from BAR0`. */
  reason: string;
}

/** Options of {@link pageMapSvg}. */
export interface PageMapSvgOptions {
  /** Title drawn above the map. Default: `host MMIO page map (<page size> pages)`. */
  title?: string;
  /** MSI-X tables and PBAs to mark inside their BARs. */
  marks?: readonly PageMapMark[];
  /** Labels and sizes of the BARs, for the key. */
  bars?: readonly PageMapBarInfo[];
  /** BARs emulated by the VMM (relocated MSI-X), drawn after the host pages. Default: the map's `msixRelocations` ({@link relocatedBarsOf}). */
  emulated?: readonly PageMapEmulatedBar[];
}

/**
 * The relocated MSI-X tables of a page map (`msixRelocations`, QEMU's x-msix-relocation) as
 * the VMM-emulated BARs the SVG draws: a BAR the VMM added whole, or the part above the
 * device's of a BAR it enlarged.
 * @param map - the page map of a run.
 * @returns one emulated BAR per relocated table; empty without relocation.
 */
export function relocatedBarsOf(map: PageMap): PageMapEmulatedBar[] {
  return (map.msixRelocations ?? []).map((r) => {
    const start = r.added ? 0 : r.deviceSize;
    const from = `msix relocated from BAR${r.deviceTable.bar}`;
    const how = r.added ? 'a BAR the VMM added' : `BAR enlarged to ${formatBytes(r.guestSize)}`;
    return {
      device: r.device,
      bar: r.bar,
      size: r.guestSize - start,
      ...(start > 0 ? { start } : {}),
      table: r.table,
      pba: r.pba,
      reason: `${from} (${how}${r.emulated ? '' : '; not emulated: vfio-no-msix-emulation'})`,
    };
  });
}

const M = 12; // outer margin
const LABEL_W = 200; // address + group column
const BAR_W = 640; // one host page
const STATUS_W = 70;
const ROW_H = 40;
const ROW_GAP = 6;
/** Extra room under a row whose narrow pieces are tagged below it, on leader lines. */
const LEADER_H = 18;
const KEY_LINE = 18;
const MONO = 'ui-monospace, Menlo, Consolas, monospace';
const SANS = 'Helvetica, Arial, sans-serif';
const MARK_FILL: Record<PageMapMark['kind'], string> = { 'msix-table': '#23238e', 'msix-pba': '#8e237f' };
const MARK_NAME: Record<PageMapMark['kind'], string> = { 'msix-table': 'MSI-X table', 'msix-pba': 'PBA' };
const EMULATED_FILL = '#e8e0f4';

function fmt(n: number): string {
  // Coordinates with at most 2 decimals, no trailing zeros: stable text, small files.
  return String(Math.round(n * 100) / 100);
}

/** Characters of `s` that fit in `px` at `fontSize` (`em` per character, 0.62 by default). */
function fits(s: string, px: number, fontSize: number, em = 0.62): boolean {
  return s.length * fontSize * em <= px;
}

/** Cuts `s` to what fits in `px` at `fontSize`, with an ellipsis (group names only). */
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

/** Key tags of the BARs: A, B, … Z, AA, AB, … in order of first appearance. */
function tagOf(i: number): string {
  return i < 26 ? String.fromCharCode(65 + i) : tagOf(Math.floor(i / 26) - 1) + String.fromCharCode(65 + (i % 26));
}

/** Name or tag drawn for a piece: the full name and reason when they fit, else the key tag, inside or on a leader line. */
type PieceLabel = { kind: 'full' } | { kind: 'tag' } | { kind: 'leader' };

function labelOf(name: string, tag: string, w: number): PieceLabel {
  if (fits(name, w - 6, 11, 0.66)) return { kind: 'full' };
  if (fits(tag, w - 4, 11, 0.7)) return { kind: 'tag' };
  return { kind: 'leader' };
}

/**
 * Draws a host page map as a self-contained SVG document: one row (`<g class="page">`) per host
 * page with its address in hex and its PE/group, the page as a bar as wide as the page size, each
 * BAR piece as a box placed and sized in proportion to its offset and size, coloured by path
 * (direct green, trap red-orange, unmapped grey), the page's overall path at the right, offset
 * ticks on top, then the VMM-emulated BARs (relocated MSI-X) if any, a legend and a key.
 *
 * Every BAR gets a tag (A, B, …) listed in the key with its name, size, label and the paths and
 * reasons of its pieces, so each BAR can be read at any size: a box wide enough shows its name and
 * reason, a narrower one its tag, and one too narrow for a tag has it below the row on a leader
 * line. MSI-X tables and PBAs (`marks`) are strips along the bottom of their BAR's box. Every box
 * also carries a `<title>` tooltip with the full text. All text is XML-escaped. No ids are used,
 * so several maps can be inlined in one HTML page.
 *
 * @param map - the page map (`RunResult.pageMap`).
 * @param opts - title, MSI-X marks, BAR labels, emulated BARs ({@link PageMapSvgOptions}).
 * @returns the SVG text, starting with `<svg`.
 * @example
 * fs.writeFileSync('map.svg', pageMapSvg(result.pageMap!, { title: 'nvme-16k, P1+P2' }));
 */
export function pageMapSvg(map: PageMap, opts: PageMapSvgOptions = {}): string {
  const ps = map.pageSize > 0 ? map.pageSize : 1;
  const title = opts.title ?? `host MMIO page map (${formatBytes(map.pageSize)} pages)`;
  const digits = addrDigits(map);
  const marks = opts.marks ?? [];
  const emulated = opts.emulated ?? relocatedBarsOf(map);
  const barX = M + LABEL_W;
  const width = barX + BAR_W + 10 + STATUS_W + M;
  const titleY = M + 14;
  const scaleY = titleY + 22; // tick labels baseline
  const rowsY = scaleY + 8;

  // Tags in order of first appearance, and what the key says of each BAR.
  const tags = new Map<string, string>();
  const keyInfo = new Map<string, { name: string; bytes: number; paths: Set<string> }>();
  for (const page of map.pages) {
    for (const p of page.pieces) {
      const k = pieceName(p);
      if (!tags.has(k)) tags.set(k, tagOf(tags.size));
      if (!keyInfo.has(k)) keyInfo.set(k, { name: k, bytes: 0, paths: new Set() });
      const info = keyInfo.get(k)!;
      info.bytes += p.size;
      info.paths.add(`${p.path}: ${p.reason}`);
    }
  }
  for (const e of emulated) {
    const k = pieceName(e);
    if (!tags.has(k)) tags.set(k, tagOf(tags.size));
    // An enlarged BAR keeps what its device part says, and adds its emulated part.
    const info = keyInfo.get(k) ?? { name: k, bytes: 0, paths: new Set<string>() };
    info.bytes += e.size;
    info.paths.add(`emulated: ${e.reason}`);
    keyInfo.set(k, info);
  }

  // Row geometry: a row with leader-line tags is taller.
  const rowTops: number[] = [];
  let y = rowsY;
  const laidOut = map.pages.map((page) => {
    const pieces = page.pieces.map((p) => {
      const [a, b] = clip(p.offset, p.size, ps);
      const x = barX + (a / ps) * BAR_W;
      const w = Math.max(1, ((b - a) / ps) * BAR_W);
      return { p, x, w, label: labelOf(pieceName(p), tags.get(pieceName(p))!, w) };
    });
    const leaders = pieces.some((q) => q.label.kind === 'leader') || marks.some((m) => overlap(m, page.hostPa, ps));
    rowTops.push(y);
    y += ROW_H + ROW_GAP + (leaders ? LEADER_H : 0);
    return { page, pieces };
  });
  if (map.pages.length === 0) y += ROW_H + ROW_GAP;
  const rowsEnd = y;
  const emulatedY = rowsEnd + (emulated.length > 0 ? 22 : 0);
  const emulatedEnd = emulatedY + emulated.length * (ROW_H + ROW_GAP);
  const legendY = emulatedEnd + 10;
  const keyY = legendY + 30 + (marks.length > 0 || emulated.length > 0 ? KEY_LINE : 0);
  // One key entry per BAR, wrapped at its "; " into lines that fit the picture's width.
  const keyChars = Math.floor((width - 2 * M - 30) / (11 * 0.55));
  const keyEntries = [...keyInfo.values()].map((k) => {
    const info = (opts.bars ?? []).find((b) => pieceName(b) === k.name);
    const size = info?.size ?? k.bytes;
    const label = info?.label ? ` "${info.label}"` : '';
    const msix = [...marks, ...emulatedMarks(emulated)]
      .filter((m) => pieceName(m) === k.name)
      .map((m) => `${MARK_NAME[m.kind]} at +${hex(m.offset)} (${formatBytes(m.size)})`);
    return { name: k.name, lines: wrapKey(`${k.name}${label}, ${formatBytes(size)}: ${[...k.paths, ...msix].join('; ')}`, keyChars) };
  });
  const keyRows = keyEntries.reduce((n, e) => n + e.lines.length, 0);
  const height = keyY + keyRows * KEY_LINE + M;
  const o: string[] = [];

  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" version="1.1" class="vhw-page-map" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${SANS}">`,
  );
  o.push(`<title>${escapeXml(title)}</title>`);
  o.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  o.push(`<text x="${M}" y="${titleY}" font-size="15" font-weight="bold" fill="#111">${escapeXml(title)}</text>`);

  // Offset scale: quarters of the page, with faint guide lines through all rows.
  o.push(`<g class="scale" font-size="11" fill="#555">`);
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

  laidOut.forEach(({ page, pieces }, i) => {
    const y = rowTops[i]!;
    const addr = hex(page.hostPa, digits);
    const group = page.group ?? '';
    o.push(`<g class="page" data-host-pa="${escapeXml(addr)}" data-path="${escapeXml(page.path)}">`);
    o.push(`<title>${escapeXml(`${addr}${group ? ` ${group}` : ''}: ${page.path}`)}</title>`);
    o.push(`<text x="${M}" y="${y + 16}" font-family="${MONO}" font-size="12" fill="#111">${escapeXml(addr)}</text>`);
    if (group) o.push(`<text x="${M}" y="${y + 32}" font-size="11" fill="#555">${escapeXml(fit(group, LABEL_W - 8, 11))}</text>`);
    o.push(`<rect x="${barX}" y="${y}" width="${BAR_W}" height="${ROW_H}" fill="${FREE_FILL}" stroke="#999999"/>`);
    // Tags of narrow pieces and the names of MSI-X marks go in a lane below the row, on leader lines.
    const lane: Array<{ x: number; text: string; fill: string }> = [];
    for (const { p, x, w, label } of pieces) {
      const name = pieceName(p);
      const tag = tags.get(name)!;
      const tip = `${tag} ${name} +${hex(p.offset)} ${formatBytes(p.size)} ${p.path}: ${p.reason}`;
      o.push(`<g class="piece" data-path="${escapeXml(p.path)}" data-bar="${escapeXml(name)}">`);
      o.push(`<title>${escapeXml(tip)}</title>`);
      o.push(
        `<rect x="${fmt(x)}" y="${y + 3}" width="${fmt(w)}" height="${ROW_H - 6}" fill="${FILL[p.path]}" stroke="#ffffff" stroke-width="1"/>`,
      );
      const fill = TEXT_ON[p.path];
      if (label.kind === 'full') {
        o.push(`<text x="${fmt(x + 3)}" y="${y + 17}" font-size="11" font-weight="bold" fill="${fill}">${escapeXml(name)}</text>`);
        if (fits(p.reason, w - 6, 11))
          o.push(`<text x="${fmt(x + 3)}" y="${y + 29}" font-size="11" fill="${fill}">${escapeXml(p.reason)}</text>`);
      } else if (label.kind === 'tag') {
        o.push(
          `<text x="${fmt(x + w / 2)}" y="${y + 21}" text-anchor="middle" font-size="11" font-weight="bold" fill="${fill}">${escapeXml(tag)}</text>`,
        );
      } else {
        lane.push({ x: x + w / 2, text: tag, fill: '#111111' });
      }
      o.push(`</g>`);
    }
    // MSI-X table and PBA strips inside the BAR boxes of this page.
    for (const m of marks) {
      if (!overlap(m, page.hostPa, ps)) continue;
      const lo = Math.max(m.hostPa, page.hostPa);
      const hi = Math.min(m.hostPa + m.size, page.hostPa + ps);
      const x = barX + ((lo - page.hostPa) / ps) * BAR_W;
      const w = ((hi - lo) / ps) * BAR_W;
      o.push(markStrip(m, x, w, y + ROW_H - 9));
      lane.push({
        x: x + Math.max(2, w) / 2,
        text: `${MARK_NAME[m.kind]} (${tags.get(pieceName(m)) ?? pieceName(m)})`,
        fill: MARK_FILL[m.kind],
      });
    }
    let laneX = barX;
    for (const item of lane.sort((a, b) => a.x - b.x)) {
      const tx = Math.max(laneX, item.x - 4);
      const ty = y + ROW_H + ROW_GAP + 10;
      o.push(
        `<g class="leader"><line x1="${fmt(item.x)}" y1="${y + ROW_H - 1}" x2="${fmt(tx + 3)}" y2="${ty - 9}" stroke="#555555" stroke-width="1"/>` +
          `<text x="${fmt(tx)}" y="${ty + 3}" font-size="11" font-weight="bold" fill="${item.fill}">${escapeXml(item.text)}</text></g>`,
      );
      laneX = tx + item.text.length * 11 * 0.62 + 10;
    }
    o.push(
      `<text x="${barX + BAR_W + 10}" y="${y + ROW_H / 2 + 4}" font-size="12" font-weight="bold" fill="${STATUS[page.path]}">${escapeXml(page.path)}</text>`,
    );
    o.push(`</g>`);
  });

  if (emulated.length > 0) {
    o.push(
      `<text x="${M}" y="${rowsEnd + 14}" font-size="12" font-weight="bold" fill="#4b2a7a">emulated by the VMM, no host page behind it</text>`,
    );
  }
  emulated.forEach((e, i) => {
    const y = emulatedY + i * (ROW_H + ROW_GAP);
    const name = pieceName(e);
    const scale = BAR_W / Math.max(e.size, 1);
    const start = e.start ?? 0;
    o.push(`<g class="emulated-bar" data-bar="${escapeXml(name)}">`);
    o.push(`<title>${escapeXml(`${tags.get(name)} ${name} ${formatBytes(e.size)} emulated: ${e.reason}`)}</title>`);
    o.push(`<text x="${M}" y="${y + 16}" font-size="12" font-weight="bold" fill="#111">${escapeXml(fit(name, LABEL_W - 8, 12))}</text>`);
    const extent = start > 0 ? `from +${hex(start)}` : '(whole BAR)';
    o.push(`<text x="${M}" y="${y + 32}" font-size="11" fill="#555">${escapeXml(`${formatBytes(e.size)} ${extent}`)}</text>`);
    o.push(
      `<rect x="${barX}" y="${y + 3}" width="${BAR_W}" height="${ROW_H - 6}" fill="${EMULATED_FILL}" stroke="#4b2a7a" stroke-dasharray="5,3"/>`,
    );
    o.push(`<text x="${barX + 6}" y="${y + 20}" font-size="11" fill="#2a1a4a">${escapeXml(`${name}: ${e.reason}`)}</text>`);
    for (const [kind, r] of [
      ['msix-table', e.table],
      ['msix-pba', e.pba],
    ] as const) {
      if (r)
        o.push(
          markStrip(
            { device: e.device, bar: e.bar, kind, hostPa: 0, ...r },
            barX + (r.offset - start) * scale,
            r.size * scale,
            y + ROW_H - 9,
          ),
        );
    }
    o.push(`</g>`);
  });

  // Legend.
  const items: Array<[string, string]> = [
    [FILL.direct, 'direct: guest reaches it without an exit'],
    [FILL.trap, 'trap: exits to the VMM'],
    [FILL.unmapped, 'unmapped: BAR part not mapped'],
    [FREE_FILL, 'free: no BAR'],
  ];
  if (marks.some((m) => m.kind === 'msix-table') || emulated.some((e) => e.table)) items.push([MARK_FILL['msix-table'], 'MSI-X table']);
  if (marks.some((m) => m.kind === 'msix-pba') || emulated.some((e) => e.pba)) items.push([MARK_FILL['msix-pba'], 'PBA']);
  if (emulated.length > 0) items.push([EMULATED_FILL, 'emulated: relocated MSI-X BAR']);
  o.push(`<g class="legend" font-size="11" fill="#222">`);
  let lx = M;
  let ly = legendY;
  for (const [fill, label] of items) {
    const w = 19 + Math.ceil(label.length * 11 * 0.55) + 18;
    if (lx > M && lx + w > width - M) {
      lx = M;
      ly += KEY_LINE;
    }
    o.push(`<rect x="${lx}" y="${ly}" width="14" height="14" fill="${fill}" stroke="#999999"/>`);
    o.push(`<text x="${lx + 19}" y="${ly + 11}">${escapeXml(label)}</text>`);
    lx += w;
  }
  o.push(`</g>`);

  // Key: one line per BAR.
  o.push(`<g class="key" font-size="11" fill="#222">`);
  let line = 0;
  for (const k of keyEntries) {
    o.push(`<text x="${M}" y="${keyY + line * KEY_LINE + 11}" font-weight="bold">${escapeXml(tags.get(k.name)!)}</text>`);
    for (const text of k.lines) {
      o.push(`<text x="${M + 30}" y="${keyY + line * KEY_LINE + 11}">${escapeXml(text)}</text>`);
      line++;
    }
  }
  o.push(`</g>`);
  o.push(`</svg>`);
  return o.join('\n');
}

/** Splits a key entry after its "; " separators into lines of at most `max` characters (a longer part stays whole). */
function wrapKey(text: string, max: number): string[] {
  const lines: string[] = [];
  let cur = '';
  for (const part of text.split('; ')) {
    const next = cur === '' ? part : `${cur}; ${part}`;
    if (cur !== '' && next.length > max) {
      lines.push(`${cur};`);
      cur = `  ${part}`;
    } else cur = next;
  }
  lines.push(cur);
  return lines;
}

/** True when the mark lies (partly) in the page at `pageHpa`. */
function overlap(m: PageMapMark, pageHpa: number, ps: number): boolean {
  return m.hostPa < pageHpa + ps && pageHpa < m.hostPa + m.size;
}

/** The table and PBA of the emulated BARs, as marks (for the key). */
function emulatedMarks(emulated: readonly PageMapEmulatedBar[]): PageMapMark[] {
  return emulated.flatMap((e) =>
    (
      [
        ['msix-table', e.table],
        ['msix-pba', e.pba],
      ] as const
    ).flatMap(([kind, r]) => (r ? [{ device: e.device, bar: e.bar, kind, hostPa: 0, ...r }] : [])),
  );
}

/** A strip along the bottom of a BAR box marking an MSI-X table or PBA (the key gives its offset and size). */
function markStrip(m: PageMapMark, x: number, w: number, y: number): string {
  return (
    `<g class="mark" data-kind="${m.kind}"><title>${escapeXml(`${pieceName(m)} ${MARK_NAME[m.kind]} +${hex(m.offset)} ${formatBytes(m.size)}`)}</title>` +
    `<rect x="${fmt(x)}" y="${y}" width="${fmt(Math.max(2, w))}" height="8" fill="${MARK_FILL[m.kind]}"/></g>`
  );
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
  // Relocated MSI-X tables live in guest BARs with no host page: listed after the pages.
  for (const r of map.msixRelocations ?? []) {
    const [e] = relocatedBarsOf({ ...map, msixRelocations: [r] });
    const t = r.deviceTable;
    lines.push(
      plain(
        `relocated MSI-X  ${pieceName(r)}  guest ${hex(r.guestAddress)}  ${formatBytes(e!.size)} emulated${e!.start ? ` from +${hex(e!.start)}` : ''}: ${e!.reason}`,
      ),
      plain(`    table +${hex(r.table.offset)} ${formatBytes(r.table.size)}, PBA +${hex(r.pba.offset)} ${formatBytes(r.pba.size)}`),
      plain(`    device table ${r.device}:BAR${t.bar}+${hex(t.offset)} (host page ${hex(t.hostPage, digits)}): ${t.why}`),
    );
  }
  return `${lines.join('\n')}\n`;
}
