/**
 * How deeply a YAML text nests, measured by one pass over the characters before any parser runs:
 * both YAML parsers recurse once per level and run out of stack near 800 levels, at a point that
 * depends on what else is on the stack. Counting first gives one answer at one position, whatever
 * the caller. The count follows block indentation, `- ` entries and flow brackets, skipping
 * comments, quoted strings and block scalars; it may count a level more or less in odd layouts,
 * which a limit far above any real mesh and far below the parsers' absorbs.
 */

/** Levels a mesh may nest; a real one needs fewer than ten. */
export const MAX_DEPTH = 64;

const SPACE = 0x20;
const NL = 0x0a;
const CR = 0x0d;
const TAB = 0x09;

function isBlank(c: number | undefined): boolean {
  return c === undefined || Number.isNaN(c) || c === SPACE || c === TAB || c === NL || c === CR;
}

/** The offset where `text` first nests deeper than `limit` levels, or undefined. */
export function tooDeepAt(text: string, limit = MAX_DEPTH): number | undefined {
  const n = text.length;
  const at = (k: number) => text.charCodeAt(k);
  /** Columns of the open block nodes, increasing. */
  const stack: number[] = [];
  let flow = 0;
  let i = 0;
  let lineStart = 0;

  const deeper = () => stack.length + flow > limit;
  /** A block node at `col` of the current line: closes the ones at or right of it, opens it. */
  const openBlock = (col: number) => {
    while (stack.length > 0 && stack[stack.length - 1]! > col) stack.pop();
    if (stack.length === 0 || stack[stack.length - 1]! < col) stack.push(col);
  };
  const toLineEnd = () => {
    while (i < n && at(i) !== NL) i++;
  };

  while (i < n) {
    // At the start of a line.
    lineStart = i;
    if (flow === 0) {
      while (i < n && at(i) === SPACE) i++;
      const c = at(i);
      if (i >= n || c === NL || c === CR || c === 0x23 /* # */ || (c === TAB && isBlankLine(text, i))) {
        toLineEnd();
        i++;
        continue;
      }
      if (i === lineStart && (text.startsWith('---', i) || text.startsWith('...', i)) && isBlank(at(i + 3))) {
        stack.length = 0;
        i += 3;
      } else if (i === lineStart && c === 0x25 /* % directive */) {
        toLineEnd();
        i++;
        continue;
      } else {
        openBlock(i - lineStart);
        if (deeper()) return i;
      }
    }
    // The rest of the line: `valueStart` is true where a new node may begin.
    let valueStart = true;
    while (i < n && at(i) !== NL) {
      const c = at(i);
      if (c === SPACE || c === TAB || c === CR) {
        i++;
        continue;
      }
      const blankBefore = i === lineStart || isBlank(at(i - 1));
      if (c === 0x23 /* # */ && blankBefore) {
        toLineEnd();
        break;
      }
      if (flow > 0) {
        if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
          flow++;
          if (deeper()) return i;
          valueStart = true;
          i++;
          continue;
        }
        if (c === 0x5d /* ] */ || c === 0x7d /* } */) {
          flow--;
          valueStart = false;
          i++;
          if (flow === 0) valueStart = false;
          continue;
        }
        if (c === 0x2c /* , */ || c === 0x3a /* : */ || c === 0x3f /* ? */) {
          valueStart = true;
          i++;
          continue;
        }
      } else if (valueStart && (c === 0x2d /* - */ || c === 0x3f /* ? */) && isBlank(at(i + 1))) {
        // A sequence entry (or complex key): what follows on the line is a node one level in.
        i++;
        while (i < n && (at(i) === SPACE || at(i) === TAB)) i++;
        if (i < n && at(i) !== NL && at(i) !== CR && at(i) !== 0x23) {
          openBlock(i - lineStart);
          if (deeper()) return i;
        }
        continue;
      } else if (valueStart && (c === 0x5b || c === 0x7b)) {
        flow++;
        if (deeper()) return i;
        i++;
        continue;
      } else if (valueStart && (c === 0x7c /* | */ || c === 0x3e /* > */)) {
        // A block scalar: its lines are those indented more than the node that holds it.
        const parent = stack.length > 0 ? stack[stack.length - 1]! : -1;
        toLineEnd();
        while (i < n) {
          const next = i + 1;
          let k = next;
          while (k < n && at(k) === SPACE) k++;
          if (k < n && at(k) !== NL && at(k) !== CR && k - next <= parent) break;
          i = k;
          toLineEnd();
        }
        break;
      }
      if (valueStart && (c === 0x26 /* & */ || c === 0x21 /* ! */)) {
        // An anchor or a tag: the node itself follows.
        while (i < n && !isBlank(at(i)) && !(flow > 0 && isFlowIndicator(at(i)))) i++;
        continue;
      }
      if (valueStart && (c === 0x22 /* " */ || c === 0x27 /* ' */)) {
        i = endOfQuoted(text, i);
        valueStart = false;
        continue;
      }
      // A plain scalar (or a key): up to `: `, a comment, a line end, or (in flow) an indicator.
      valueStart = false;
      while (i < n) {
        const d = at(i);
        if (d === NL) break;
        if (d === 0x3a /* : */ && (isBlank(at(i + 1)) || (flow > 0 && isFlowIndicator(at(i + 1))))) {
          valueStart = true;
          i++;
          break;
        }
        if (d === 0x23 && isBlank(at(i - 1))) break;
        if (flow > 0 && isFlowIndicator(d)) break;
        i++;
      }
    }
    i++; // past the line break
  }
  return undefined;
}

function isFlowIndicator(c: number): boolean {
  return c === 0x2c || c === 0x5b || c === 0x5d || c === 0x7b || c === 0x7d;
}

function isBlankLine(text: string, i: number): boolean {
  for (let k = i; k < text.length && text.charCodeAt(k) !== NL; k++) if (!isBlank(text.charCodeAt(k))) return false;
  return true;
}

/** The offset just past a quoted scalar starting at `i` (which may span lines). */
function endOfQuoted(text: string, i: number): number {
  const q = text.charCodeAt(i);
  let k = i + 1;
  while (k < text.length) {
    const c = text.charCodeAt(k);
    if (q === 0x22 && c === 0x5c /* \ */) {
      k += 2;
      continue;
    }
    if (c === q) {
      if (q === 0x27 && text.charCodeAt(k + 1) === 0x27) {
        k += 2;
        continue;
      }
      return k + 1;
    }
    k++;
  }
  return k;
}
