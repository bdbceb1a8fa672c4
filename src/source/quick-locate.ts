/**
 * Finds where a JSON pointer's node starts in plain block-style YAML without building the
 * positional document: that took about 150 ms for a 1,000-service mesh, paid by every build whose
 * mesh has a warning. It reads the text as lines of `key: value` and `- item` and answers only when
 * the whole file is of that simple shape and the path stays in it; anything else (block scalars,
 * multi-line values, flow collections on the path, anchors, tags, several documents, odd keys)
 * returns undefined and the caller builds the positional document as before.
 *
 * Its answers equal `pointerOffset`'s (the same node, or the same deepest existing node for a
 * missing path, or the key with `atKey`); test/unit/quick-locate.test.ts checks every pointer of
 * every fixture against it.
 */

interface Line {
  /** Offset of the line's first character. */
  start: number;
  /** Spaces before the content. */
  indent: number;
  /** The line without its indentation and without a trailing comment-only remainder. */
  text: string;
}

/** A key line: the key's value (as YAML reads it) and where the text after `:` starts. */
interface KeyMatch {
  key: string;
  /** Offset in `text` of the first character after the colon. */
  after: number;
}

export interface QuickIndex {
  lines: Line[];
  /** Offsets where each line starts, for line/col. */
  lineStarts: number[];
}

/** The simple shape, or undefined when the file has anything else. */
export function quickIndex(text: string): QuickIndex | undefined {
  const raw = text.split('\n');
  const lines: Line[] = [];
  const lineStarts: number[] = [];
  let offset = 0;
  for (const full of raw) {
    lineStarts.push(offset);
    const l = full.endsWith('\r') ? full.slice(0, -1) : full;
    const content = l.trimStart();
    const indent = l.length - content.length;
    if (content !== '' && !content.startsWith('#')) {
      if (l.slice(0, indent).includes('\t')) return undefined;
      if (/^(?:---|\.\.\.|%)/.test(content)) return undefined;
      const unquoted = content.includes('"') || content.includes("'") ? content.replace(/"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'/g, '""') : content;
      if (/(?:^|[\s,[{])[&*!|>]/.test(unquoted)) return undefined;
      let rest = content;
      while (rest.startsWith('- ') || rest === '-') rest = rest.slice(2).trimStart();
      // Every content line is a key whose value is complete on the line, or an item whose value
      // is empty, such a key, or a one-line scalar or flow collection.
      const key = matchKey(rest);
      if (key) {
        if (!isOneLineValue(rest.slice(key.after))) return undefined;
      } else if (rest === content || (rest !== '' && !isOneLineValue(rest))) return undefined;
      lines.push({ start: offset + indent, indent, text: content });
    }
    offset += full.length + 1;
  }
  return { lines, lineStarts };
}

/** 1-based line and column of an offset. */
export function quickLinePos(ix: QuickIndex, offset: number): { line: number; col: number } {
  let lo = 0;
  let hi = ix.lineStarts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (ix.lineStarts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo + 1, col: offset - ix.lineStarts[lo]! + 1 };
}

const PLAIN_KEY = /^([A-Za-z_/][A-Za-z0-9_./-]*)\s*:(?:\s|$)/;
const QUOTED_KEY = /^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*')\s*:(?:\s|$)/;

function matchKey(text: string): KeyMatch | undefined {
  let m = PLAIN_KEY.exec(text);
  if (m) {
    // Keys YAML reads as something else than their text (true, null, ...) are left to the parser.
    if (/^(?:true|false|null|yes|no|on|off|y|n|~)$/i.test(m[1]!)) return undefined;
    return { key: m[1]!, after: m[0].length - (/\s$/.test(m[0]) ? 1 : 0) };
  }
  m = QUOTED_KEY.exec(text);
  if (!m) return undefined;
  const q = m[1]!;
  let key: string;
  try {
    key = q.startsWith('"') ? (JSON.parse(q) as string) : q.slice(1, -1).replace(/''/g, "'");
  } catch {
    return undefined;
  }
  return { key, after: m[0].length - (/\s$/.test(m[0]) ? 1 : 0) };
}

/** A scalar or flow collection that is complete on its line (what may follow `key:` or `- `). */
function isOneLineValue(v: string): boolean {
  const s = stripComment(v.trim());
  if (s === '') return true;
  if (s.startsWith('[') || s.startsWith('{')) return balanced(s);
  if (s.startsWith('"')) return /^"(?:[^"\\]|\\.)*"$/.test(s);
  if (s.startsWith("'")) return /^'(?:[^']|'')*'$/.test(s);
  return !/^[-?:,\]}#&*!|>'"%@`]\s/.test(s) && !/:\s/.test(s);
}

/** Calls `at` for each character outside quotes, until it returns something. */
function outsideQuotes<T>(s: string, at: (c: string, i: number) => T | undefined): T | undefined {
  let quote = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = '';
    } else if (c === '"' || c === "'") quote = c;
    else {
      const r = at(c, i);
      if (r !== undefined) return r;
    }
  }
  return undefined;
}

function balanced(s: string): boolean {
  let depth = 0;
  const closed = outsideQuotes(s, (c, i) => {
    if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') {
      depth--;
      if (depth === 0) return s.slice(i + 1).trim() === '';
    }
    return undefined;
  });
  return closed ?? false;
}

/** The value without a trailing comment (` #` outside quotes). */
function stripComment(v: string): string {
  if (v.indexOf('#') === -1) return v.trimEnd(); // the common case, without a walk through the quotes
  return outsideQuotes(v, (c, i) => (c === '#' && (i === 0 || v[i - 1] === ' ') ? v.slice(0, i).trimEnd() : undefined)) ?? v.trimEnd();
}

/** A node on the path: a block collection starting at a line (and column), or a one-line value. */
type Node =
  | { kind: 'block'; offset: number; first: number; column: number; end: number }
  | { kind: 'inline'; offset: number; text: string }
  /** An empty value: the parser's null scalar sits after the indicator and its spaces. */
  | { kind: 'null'; offset: number };

/**
 * The offset `pointerOffset` would give for these pointer segments, or undefined when the simple
 * reading cannot tell.
 */
export function quickOffset(ix: QuickIndex, segments: string[], atKey: boolean): number | undefined {
  const { lines } = ix;
  if (lines.length === 0) return undefined;
  let node: Node = { kind: 'block', offset: lines[0]!.start, first: 0, column: lines[0]!.indent, end: lines.length };
  let keyOffset: number | undefined;
  for (const seg of segments) {
    if (node.kind !== 'block') {
      if (node.kind === 'inline' && /^[[{]/.test(node.text)) return undefined; // a flow collection: the parser knows
      break;
    }
    const { first, column, end } = node;
    const head = lines[first]!;
    const isSeq = atItem(head, column);
    if (isSeq) {
      if (!/^(?:0|[1-9]\d*)$/.test(seg)) break;
      const items: number[] = [];
      for (let i = first; i < end; i++) if ((i === first || lines[i]!.indent === column) && atItem(lines[i]!, column)) items.push(i);
      const at = items[Number(seg)];
      if (at === undefined) break;
      const itemEnd = items[Number(seg) + 1] ?? end;
      const next = itemNode(lines, at, column, itemEnd);
      if (next === undefined) return undefined;
      keyOffset = undefined;
      node = next;
    } else {
      let found: { line: number; m: KeyMatch } | undefined;
      for (let i = first; i < end; i++) {
        const l = lines[i]!;
        // Deeper lines belong to a value, and so do `- ` items at the key's column (`key:` then `- a`).
        const text = i === first ? textAt(l, column) : l.indent === column && !atItem(l, column) ? l.text : undefined;
        if (text === undefined) continue;
        const m = matchKey(text);
        if (m === undefined) return undefined;
        if (m.key === seg) {
          if (found) return undefined; // a duplicate key: the parser reports it
          found = { line: i, m };
        }
      }
      if (!found) break;
      const l = lines[found.line]!;
      const textStart = found.line === first ? l.start + (column - l.indent) : l.start;
      keyOffset = textStart;
      const lineText = found.line === first ? textAt(l, column)! : l.text;
      const next = valueNode(lines, found.line, lineText, textStart, found.m.after, column, end);
      if (next === undefined) return undefined;
      node = next;
    }
  }
  if (atKey && keyOffset !== undefined) return keyOffset;
  return node.offset;
}

/** The text of a line from `column` on, when the line reaches that column (a `- ` item's content). */
function textAt(l: Line, column: number): string | undefined {
  if (column < l.indent) return undefined;
  const full = ' '.repeat(l.indent) + l.text;
  return full.slice(column);
}

function atItem(l: Line, column: number): boolean {
  const t = textAt(l, column);
  return t !== undefined && (t.startsWith('- ') || t === '-');
}

/** The node of the sequence item at line `at` (its `-` at `column`). */
function itemNode(lines: Line[], at: number, column: number, end: number): Node | undefined {
  const l = lines[at]!;
  const after = textAt(l, column)!.slice(1);
  const rest = after.trimStart();
  const restColumn = column + 1 + (after.length - rest.length);
  const restOffset = l.start + (restColumn - l.indent);
  if (rest === '' || rest.startsWith('#')) {
    // The item's value is on the next lines.
    if (at + 1 >= end || lines[at + 1]!.indent <= column) return { kind: 'null', offset: restOffset };
    const n = lines[at + 1]!;
    return { kind: 'block', offset: n.start, first: at + 1, column: n.indent, end };
  }
  if (rest.startsWith('- ') || rest === '-' || matchKey(rest)) return { kind: 'block', offset: restOffset, first: at, column: restColumn, end };
  return { kind: 'inline', offset: restOffset, text: stripComment(rest) };
}

/** The value of the key on line `at`: inline after the colon, or the block below it. */
function valueNode(lines: Line[], at: number, lineText: string, textStart: number, after: number, column: number, end: number): Node | undefined {
  const rest = lineText.slice(after);
  const value = stripComment(rest.trimStart());
  const valueOffset = textStart + after + (rest.length - rest.trimStart().length);
  if (value !== '') return { kind: 'inline', offset: valueOffset, text: value };
  // Below the key: more indented lines, or `- ` items at the key's own column.
  let stop = at + 1;
  while (stop < end && (lines[stop]!.indent > column || (lines[stop]!.indent === column && atItem(lines[stop]!, column)))) stop++;
  if (stop === at + 1) return { kind: 'null', offset: valueOffset };
  const n = lines[at + 1]!;
  return { kind: 'block', offset: n.start, first: at + 1, column: n.indent, end: stop };
}
