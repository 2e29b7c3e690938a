/**
 * A small XML well-formedness checker for the rendering tests (no dependency, no regex):
 * balanced and properly nested tags, quoted attributes without duplicates or raw `<`, and
 * only well-formed entity references in text and attribute values.
 */

const NAMED = new Set(['amp', 'lt', 'gt', 'quot', 'apos']);

function isNameChar(c: string): boolean {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c === '-' || c === '_' || c === ':' || c === '.';
}

function isSpace(c: string): boolean {
  return c === ' ' || c === '\n' || c === '\t' || c === '\r';
}

/** Checks the entity references in a text run; returns an error or null. */
function checkEntities(text: string, at: number): string | null {
  let i = text.indexOf('&');
  while (i >= 0) {
    const end = text.indexOf(';', i);
    if (end < 0) return `bare & at ${at + i}`;
    const ref = text.slice(i + 1, end);
    let ok = NAMED.has(ref);
    if (!ok && ref.startsWith('#x')) ok = ref.length > 2 && [...ref.slice(2)].every((c) => '0123456789abcdefABCDEF'.includes(c));
    else if (!ok && ref.startsWith('#')) ok = ref.length > 1 && [...ref.slice(1)].every((c) => c >= '0' && c <= '9');
    if (!ok) return `bad entity &${ref}; at ${at + i}`;
    i = text.indexOf('&', end);
  }
  return null;
}

/** Result of {@link checkXml}. */
export interface XmlCheck {
  /** The first problem found, or null when the document is well-formed. */
  error: string | null;
  /** The root element's name. */
  root?: string;
  /** Number of elements by name. */
  counts: Map<string, number>;
}

/**
 * Checks that `doc` is one well-formed XML element (optionally preceded by an XML declaration),
 * and counts its elements by name.
 *
 * @param doc - the document text.
 * @returns the first error (or null), the root name and element counts.
 * @example
 * expect(checkXml(svg).error).toBeNull();
 */
export function checkXml(doc: string): XmlCheck {
  const counts = new Map<string, number>();
  const stack: string[] = [];
  let root: string | undefined;
  let i = 0;
  const n = doc.length;
  const fail = (error: string): XmlCheck => ({ error, root, counts });
  while (i < n) {
    const lt = doc.indexOf('<', i);
    const textEnd = lt < 0 ? n : lt;
    const text = doc.slice(i, textEnd);
    if (stack.length === 0 && text.trim() !== '') return fail(`text outside the root at ${i}`);
    const e = checkEntities(text, i);
    if (e) return fail(e);
    if (lt < 0) break;
    if (doc.startsWith('<!--', lt)) {
      const end = doc.indexOf('-->', lt + 4);
      if (end < 0) return fail(`unclosed comment at ${lt}`);
      i = end + 3;
      continue;
    }
    if (doc.startsWith('<![CDATA[', lt)) {
      const end = doc.indexOf(']]>', lt);
      if (end < 0) return fail(`unclosed CDATA at ${lt}`);
      i = end + 3;
      continue;
    }
    if (doc.startsWith('<?', lt)) {
      if (root !== undefined || lt !== doc.length - doc.trimStart().length) return fail(`processing instruction not at start (${lt})`);
      const end = doc.indexOf('?>', lt);
      if (end < 0) return fail(`unclosed declaration at ${lt}`);
      i = end + 2;
      continue;
    }
    let j = lt + 1;
    const closing = doc[j] === '/';
    if (closing) j++;
    const nameStart = j;
    while (j < n && isNameChar(doc[j]!)) j++;
    const name = doc.slice(nameStart, j);
    if (!name) return fail(`bad tag at ${lt}`);
    if (closing) {
      while (j < n && isSpace(doc[j]!)) j++;
      if (doc[j] !== '>') return fail(`bad closing tag </${name} at ${lt}`);
      const open = stack.pop();
      if (open !== name) return fail(`</${name}> closes <${open ?? '(nothing)'}> at ${lt}`);
      i = j + 1;
      if (stack.length === 0 && doc.slice(i).trim() !== '') return fail(`content after the root at ${i}`);
      continue;
    }
    if (stack.length === 0) {
      if (root !== undefined) return fail(`second root <${name}> at ${lt}`);
      root = name;
    }
    counts.set(name, (counts.get(name) ?? 0) + 1);
    // Attributes.
    const seen = new Set<string>();
    let selfClosing = false;
    for (;;) {
      const before = j;
      while (j < n && isSpace(doc[j]!)) j++;
      if (j >= n) return fail(`unterminated tag <${name} at ${lt}`);
      if (doc[j] === '>') {
        j++;
        break;
      }
      if (doc[j] === '/' && doc[j + 1] === '>') {
        selfClosing = true;
        j += 2;
        break;
      }
      if (j === before) return fail(`missing space before attribute in <${name} at ${j}`);
      const an = j;
      while (j < n && isNameChar(doc[j]!)) j++;
      const attr = doc.slice(an, j);
      if (!attr) return fail(`bad attribute in <${name} at ${j}`);
      if (seen.has(attr)) return fail(`duplicate attribute ${attr} in <${name} at ${an}`);
      seen.add(attr);
      while (j < n && isSpace(doc[j]!)) j++;
      if (doc[j] !== '=') return fail(`attribute ${attr} without value in <${name} at ${j}`);
      j++;
      while (j < n && isSpace(doc[j]!)) j++;
      const q = doc[j];
      if (q !== '"' && q !== "'") return fail(`unquoted attribute ${attr} in <${name} at ${j}`);
      const end = doc.indexOf(q, j + 1);
      if (end < 0) return fail(`unterminated attribute ${attr} at ${j}`);
      const value = doc.slice(j + 1, end);
      if (value.includes('<')) return fail(`raw < in attribute ${attr} at ${j}`);
      const ae = checkEntities(value, j + 1);
      if (ae) return fail(ae);
      j = end + 1;
    }
    if (!selfClosing) stack.push(name);
    i = j;
    if (selfClosing && stack.length === 0 && doc.slice(i).trim() !== '') return fail(`content after the root at ${i}`);
  }
  if (stack.length > 0) return fail(`unclosed <${stack[stack.length - 1]}>`);
  if (root === undefined) return fail('no element');
  return { error: null, root, counts };
}
