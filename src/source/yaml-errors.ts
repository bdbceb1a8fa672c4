/**
 * Turns the YAML parser's errors into the few a person needs. One mis-indented line or one tab makes
 * the parser report a cascade ("Implicit keys need to be on a single line", "All mapping items must
 * start at the same column", duplicate keys that are not duplicates...); what the person did is one
 * thing at one line. A line scan finds it: a tab in the indentation, or the first key whose
 * indentation matches no level open above it. Without either, the parser's first syntax error is
 * reported (the ones after it usually follow from it), and every duplicate key, named.
 */
import type { Document, LineCounter, YAMLError } from 'yaml';
import type { Diagnostic } from '../model/diagnostic.js';

interface Line {
  /** 1-based. */
  no: number;
  indent: number;
  /** The key this line starts, if any (`inventory` in `    inventory:`; `name` in `  - name: x`). */
  key?: string;
  /** Column (0-based) of that key. */
  keyCol: number;
  /** True when the line ends its key with nothing after the colon: a block follows. */
  opens: boolean;
}

const KEY = /^(?:-\s+)*((?:"[^"]*"|'[^']*'|[^\s#'"{[\]}][^#]*?)):(?:\s|$)/;

/** Content lines (no blanks, comments or block-scalar bodies), with their indentation and key. */
function scan(text: string): { lines: Line[]; tabs: { no: number; col: number }[] } {
  const lines: Line[] = [];
  const tabs: { no: number; col: number }[] = [];
  let blockScalarAbove: number | undefined; // inside a `|` or `>` scalar opened at this indent
  text.split('\n').forEach((raw, i) => {
    const no = i + 1;
    const body = raw.replace(/\r$/, '');
    const lead = /^[ \t]*/.exec(body)![0];
    const rest = body.slice(lead.length);
    if (rest === '' || rest.startsWith('#')) return;
    const indent = lead.length;
    if (blockScalarAbove !== undefined) {
      if (indent > blockScalarAbove) return;
      blockScalarAbove = undefined;
    }
    if (lead.includes('\t')) tabs.push({ no, col: lead.indexOf('\t') + 1 });
    if (rest === '---' || rest === '...' || rest.startsWith('--- ')) return;
    const m = KEY.exec(rest);
    const dash = /^(-\s+)*/.exec(rest)![0].length;
    const after = m ? rest.slice(m[0].length).replace(/\s+#.*$/, '').trim() : '';
    if (m && /^[|>][-+0-9]*$/.test(after)) blockScalarAbove = indent + dash;
    lines.push({ no, indent, key: m ? m[1].replace(/^["']|["']$/g, '') : undefined, keyCol: indent + dash, opens: m !== null && after === '' });
  });
  return { lines, tabs };
}

/**
 * The first key whose indentation is wrong, judged from the levels open above it:
 *  - deeper than the line before it, when that line opened no block: over-indented. Its siblings are
 *    the level its own children sit under (when it has children shallower than itself), else the
 *    line above;
 *  - at a column no open level has: the line that closed that level (dedenting too far) is the
 *    mistake when one did, else this line is.
 */
function misIndented(lines: Line[]): { line: Line; message: string; hint: string } | undefined {
  // Each open level: its column, and the last key seen there (the sibling to name).
  type Level = { col: number; key?: string; no: number };
  const open: Level[] = [];
  const closed: { level: Level; by: Line }[] = [];
  const name = (l: { key?: string }) => (l.key === undefined ? 'the line' : `\`${l.key}\``);
  const sib = (l: Level) => (l.key !== undefined ? ` (\`${l.key}\` at line ${l.no})` : '');
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    const prev = lines[i - 1];
    const col = l.keyCol;
    if (prev && l.key !== undefined && col > prev.keyCol && !prev.opens) {
      const next = lines[i + 1];
      const childCol = l.opens && next && next.keyCol < col ? next.keyCol : undefined;
      const target: Level = (childCol !== undefined ? [...open].reverse().find((o) => o.col < childCol) : undefined) ?? { col: prev.keyCol, key: prev.key, no: prev.no };
      const by = col - target.col;
      return { line: l, message: `${name(l)} is indented ${spaces(by)} more than its siblings${sib(target)}`, hint: `indent ${name(l)} by ${spaces(target.col)}, like ${target.key !== undefined ? `\`${target.key}\`` : 'its siblings'}` };
    }
    while (open.length && open[open.length - 1].col > col) closed.push({ level: open.pop()!, by: l });
    const top = open[open.length - 1];
    if (top && top.col < col && prev && col < prev.keyCol) {
      const culprit = [...closed].reverse().find((c) => c.level.col === col);
      if (culprit) {
        const by = col - culprit.by.keyCol;
        return { line: culprit.by, message: `${name(culprit.by)} is indented ${spaces(by)} less than its siblings${sib(culprit.level)}`, hint: `indent ${name(culprit.by)} by ${spaces(col)}, like ${culprit.level.key !== undefined ? `\`${culprit.level.key}\`` : 'its siblings'}` };
      }
      return { line: l, message: `${name(l)} is indented ${spaces(col)}, which lines up with no level above it`, hint: `line it up with its siblings (${open.map((o) => spaces(o.col)).join(', ')} are open above it)` };
    }
    if (top && top.col === col) Object.assign(top, { key: l.key, no: l.no });
    else open.push({ col, key: l.key, no: l.no });
  }
  return undefined;
}

function spaces(n: number): string {
  return `${n} space${n === 1 ? '' : 's'}`;
}

/** One diagnostic per real mistake among the parser's errors (see the file's comment). */
export function explainYamlErrors(text: string, doc: Document.Parsed, errors: readonly YAMLError[], lineCounter: LineCounter, file: string): Diagnostic[] {
  const at = (line: number, col: number, code: string, message: string, hint: string): Diagnostic => ({ code, severity: 'error', message, hint, pointer: '', file, line, col });
  const syntax = errors.filter((e) => e.code !== 'DUPLICATE_KEY');
  if (syntax.length) {
    const { lines, tabs } = scan(text);
    if (tabs.length)
      return tabs.map((t) => at(t.no, t.col, 'yaml-tab', 'a tab character: YAML indents with spaces', 'replace the tab at the start of this line with spaces'));
    const wrong = misIndented(lines);
    if (wrong) return [at(wrong.line.no, wrong.line.keyCol + 1, 'yaml-indentation', wrong.message, wrong.hint)];
    const first = syntax[0];
    const { line, col } = lineCounter.linePos(first.pos[0]);
    return [at(line, col, 'yaml-syntax', firstLine(first.message), 'fix the YAML syntax at this position; errors after it often follow from it, so run meshc again once it is fixed')];
  }
  return errors.map((e) => duplicate(e, text, doc, lineCounter, at));
}

function duplicate(e: YAMLError, text: string, doc: Document.Parsed, lineCounter: LineCounter, at: (l: number, c: number, code: string, m: string, h: string) => Diagnostic): Diagnostic {
  const { line, col } = lineCounter.linePos(e.pos[0]);
  const key = /^(?:"([^"]*)"|'([^']*)'|([^:\n]*?))\s*:/.exec(text.slice(e.pos[0]));
  const name = key ? (key[1] ?? key[2] ?? key[3]).trim() : undefined;
  const first = name === undefined ? undefined : firstOccurrence(doc, name, e.pos[0], lineCounter);
  return at(
    line,
    col,
    'duplicate-key',
    name === undefined ? 'duplicate key: a key may appear only once in a mapping' : `duplicate key \`${name}\`${first ? `: it is already set at line ${first}` : ''}; a key may appear only once in a mapping`,
    name === undefined ? 'remove or merge the repeated key' : `keep one \`${name}\`: remove or merge the other`,
  );
}

/** The line of the earlier key with this name in the mapping that holds the key at `pos`. */
function firstOccurrence(doc: Document.Parsed, name: string, pos: number, lineCounter: LineCounter): number | undefined {
  let found: number | undefined;
  const visitMap = (node: unknown): void => {
    if (found !== undefined || !node || typeof node !== 'object') return;
    const items = (node as { items?: unknown[] }).items;
    if (!Array.isArray(items)) return;
    const pairs = items.filter((p): p is { key: { range?: number[]; value?: unknown }; value: unknown } => !!p && typeof p === 'object' && 'key' in p);
    if (pairs.some((p) => p.key?.range?.[0] === pos)) {
      const earlier = pairs.find((p) => p.key && String(p.key.value) === name && (p.key.range?.[0] ?? Infinity) < pos);
      if (earlier) found = lineCounter.linePos(earlier.key.range![0]).line;
      return;
    }
    for (const it of items) visitMap(pairs.includes(it as never) ? (it as { value: unknown }).value : it);
  };
  visitMap(doc.contents);
  return found;
}

function firstLine(s: string): string {
  return s.split('\n')[0].trim();
}
