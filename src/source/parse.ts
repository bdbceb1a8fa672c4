import jsyaml from 'js-yaml';
import type { Document, LineCounter, Node } from 'yaml';
import { onFirstUse } from '../lazy.js';
import { UserError } from '../errors.js';
import { readBounded, type BoundedRead } from './read-bounded.js';
import { MAX_DEPTH, tooDeepAt } from './depth.js';
import { explainYamlErrors } from './yaml-errors.js';
import { stdinBytes } from './stdin.js';
import { error, type Diagnostic, type Finding } from '../model/diagnostic.js';

/** mesh.yaml is a small hand-written file; anything this large is a mistake (or an attack). */
export const MAX_SOURCE_BYTES = 4 * 1024 * 1024;
/** Aliases are legitimate in YAML, but a few hundred expansions are plenty for a mesh. */
const MAX_ALIAS_COUNT = 100;

/** The `yaml` package, which builds the positional document, loaded on first use (see fastParse). */
const yaml = onFirstUse<typeof import('yaml')>('yaml');

/** A parsed mesh.yaml that still knows where every value came from. */
export interface Source {
  /** The path as the user named it (used in diagnostics). */
  file: string;
  text: string;
  /** The positional document; built on first use when the fast path parsed the file. */
  doc?: Document.Parsed;
  /** Line starts, filled in by parsing the positional document (see lineCounterOf). */
  lineCounter?: LineCounter;
}

/** The positional document of a source, parsed on demand (only needed to place diagnostics). */
function docOf(source: Source): Document.Parsed | undefined {
  if (!source.doc && source.text) source.doc = yaml().parseDocument(source.text, { lineCounter: lineCounterOf(source), uniqueKeys: true, prettyErrors: false, strict: true, stringKeys: false });
  return source.doc;
}

/** The source's line counter, made on first use. */
function lineCounterOf(source: Source): LineCounter {
  return (source.lineCounter ??= new (yaml().LineCounter)());
}

/** An alias anywhere in the text sends it down the careful path, which bounds alias expansion. */
const MAYBE_ALIAS = /(^|[\s,[{:-])\*[^\s,\]}]/m;

/**
 * The fast path: most mesh files have no aliases and no errors, and js-yaml reads them several
 * times faster than the `yaml` package builds its positional document, which is then built only
 * when a diagnostic needs a position. Any doubt (an alias, any error) takes the careful path.
 */
function fastParse(text: string): unknown | undefined {
  if (MAYBE_ALIAS.test(text)) return undefined;
  try {
    const v = jsyaml.load(text, { schema: jsyaml.CORE_SCHEMA, json: false });
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

export interface ParseResult {
  source: Source;
  /** The plain JS value; undefined when the file could not be parsed. */
  value?: unknown;
  diagnostics: Diagnostic[];
}

/**
 * Reads and parses a mesh file. I/O problems throw UserError (exit 2); content problems are
 * diagnostics. `bytes`: the file's content when the caller has already read it.
 */
export async function readMeshFile(file: string, bytes: Buffer | undefined = stdinBytes(file)): Promise<ParseResult> {
  if (bytes !== undefined) return bytes.length > MAX_SOURCE_BYTES ? tooLarge(file) : parseMeshText(bytes, file);
  const read = await readMeshBytes(file);
  return read.tooLarge ? tooLarge(file, read.size) : parseMeshText(read.bytes, file);
}

/**
 * The bytes of a mesh file of any kind (a pipe, /dev/stdin, ...), never more than
 * MAX_SOURCE_BYTES + 1 of them (see readBounded). I/O problems throw UserError (exit 2).
 */
export async function readMeshBytes(file: string): Promise<BoundedRead> {
  try {
    return await readBounded(file, MAX_SOURCE_BYTES);
  } catch (e) {
    if ((e as NodeJS.ErrnoException)?.code === 'EISDIR') throw new UserError(`${file} is a directory, not a mesh file`, 2, 'pass the path of mesh.yaml with -f');
    throw ioError(file, e);
  }
}

/** `size`: what a regular file reports; a pipe or device was cut off after the limit. */
function tooLarge(file: string, size?: number): ParseResult {
  const source: Source = { file, text: '' };
  const what = size !== undefined ? `is ${size} bytes` : `holds more than ${MAX_SOURCE_BYTES} bytes (reading stopped there)`;
  return { source, diagnostics: [at(source, error('file-too-large', '', `${file} ${what}; meshc reads mesh files of at most ${MAX_SOURCE_BYTES} bytes (4 MiB)`, 'a mesh.yaml is hand-written and small: check that -f names the right file'), 1, 1)] };
}

function ioError(file: string, e: unknown): UserError {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOENT') return new UserError(`${file}: no such file`, 2, 'run `meshc init` to write an example, or pass -f <path>');
  if (code === 'EACCES') return new UserError(`${file}: permission denied`, 2);
  return new UserError(`${file}: cannot read (${(e as Error)?.message ?? String(e)})`, 2);
}

/** Parses mesh text (bytes or string). Never throws for bad content. */
export function parseMeshText(input: Buffer | string, file: string): ParseResult {
  const bad = (code: string, message: string, hint: string, line = 1, col = 1, text = ''): ParseResult => {
    const source: Source = { file, text };
    return { source, diagnostics: [at(source, error(code, '', message, hint), line, col)] };
  };
  let text: string;
  if (typeof input === 'string') {
    text = input;
  } else {
    const nul = input.indexOf(0);
    if (nul !== -1) {
      const { line, col } = byteToLineCol(input, nul);
      return bad('not-text', `${file} contains a NUL byte: it is binary, not YAML`, 'check that -f names mesh.yaml', line, col);
    }
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(input);
    } catch {
      const offset = firstInvalidUtf8(input);
      const { line, col } = byteToLineCol(input, offset);
      return bad('not-utf8', `${file} is not valid UTF-8 (byte 0x${input[offset]?.toString(16).padStart(2, '0')} at offset ${offset})`, 're-save the file as UTF-8', line, col);
    }
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.trim() === '') return bad('empty-file', `${file} is empty`, 'run `meshc init` for a commented example');
  const deep = tooDeepAt(text);
  if (deep !== undefined) {
    const { line, col } = offsetToLineCol(text, deep);
    return bad('too-deep', `${file} nests deeper than ${MAX_DEPTH} levels here; meshc reads at most ${MAX_DEPTH} (a mesh needs fewer than ten)`, 'check the brackets and the indentation that lead here', line, col, text);
  }
  const fast = fastParse(text);
  if (fast !== undefined) return { source: { file, text }, value: fast, diagnostics: [] };

  const lineCounter = new (yaml().LineCounter)();
  const doc = yaml().parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false, strict: true, stringKeys: false });
  const source: Source = { file, text, doc, lineCounter };
  const diagnostics: Diagnostic[] = [];
  // A second document is its own mistake; the others are explained together (yaml-errors.ts).
  for (const e of doc.errors.filter((x) => x.code === 'MULTIPLE_DOCS')) {
    const { line, col } = lineCounter.linePos(e.pos[0]);
    diagnostics.push({ ...multipleDocuments(file), severity: 'error', pointer: '', file, line, col });
  }
  const others = doc.errors.filter((x) => x.code !== 'MULTIPLE_DOCS');
  if (others.length) diagnostics.push(...explainYamlErrors(text, doc, others, lineCounter, file));
  for (const w of doc.warnings) {
    const { line, col } = lineCounter.linePos(w.pos[0]);
    diagnostics.push({ code: 'yaml-warning', severity: 'warning', message: firstLine(w.message), pointer: '', file, line, col });
  }
  if (diagnostics.some((d) => d.severity === 'error')) return { source, diagnostics };

  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    const pos = firstAliasPos(doc);
    const { line, col } = pos === undefined ? { line: 1, col: 1 } : lineCounter.linePos(pos);
    const msg = (e as Error).message ?? String(e);
    const isBomb = /alias/i.test(msg);
    diagnostics.push({
      code: isBomb ? 'yaml-alias-limit' : 'yaml-syntax',
      severity: 'error',
      message: isBomb ? `too many alias expansions (more than ${MAX_ALIAS_COUNT}): refusing a document that expands exponentially` : firstLine(msg),
      hint: isBomb ? 'write the values out instead of nesting aliases' : undefined,
      pointer: '',
      file,
      line,
      col,
    });
    return { source, diagnostics };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const pos = doc.contents?.range?.[0] ?? 0;
    const { line, col } = lineCounter.linePos(pos);
    diagnostics.push({ code: 'not-a-mapping', severity: 'error', message: `the top level of ${file} must be a mapping (apiVersion, kind, metadata, spec)`, hint: 'run `meshc init` for a commented example', pointer: '', file, line, col });
    return { source, diagnostics };
  }
  return { source, value, diagnostics };
}

/** The `yaml` package's errors in meshc's words, where its own are about its API. */
function multipleDocuments(file: string): { code: string; message: string; hint: string } {
  return { code: 'multiple-documents', message: `${file} holds one mesh document, and a second one starts here`, hint: 'remove the second `---` (and merge what follows it into the first document)' };
}

function firstLine(s: string): string {
  return s.split('\n')[0].trim();
}

function firstAliasPos(doc: Document.Parsed): number | undefined {
  const { visit } = yaml();
  let pos: number | undefined;
  visit(doc, {
    Alias(_, node) {
      pos = node.range?.[0];
      return visit.BREAK;
    },
  });
  return pos;
}

function offsetToLineCol(text: string, offset: number): { line: number; col: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, col: offset - lineStart + 1 };
}

function byteToLineCol(bytes: Buffer, offset: number): { line: number; col: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) if (bytes[i] === 0x0a) { line++; lineStart = i + 1; }
  return { line, col: offset - lineStart + 1 };
}

/** Offset of the first byte that starts an invalid (or truncated) UTF-8 sequence. */
function firstInvalidUtf8(b: Buffer): number {
  let i = 0;
  while (i < b.length) {
    const x = b[i];
    const n = x < 0x80 ? 0 : x >= 0xc2 && x <= 0xdf ? 1 : x >= 0xe0 && x <= 0xef ? 2 : x >= 0xf0 && x <= 0xf4 ? 3 : -1;
    if (n < 0 || i + n >= b.length) return i;
    for (let k = 1; k <= n; k++) if ((b[i + k] & 0xc0) !== 0x80) return i;
    i += n + 1;
  }
  return Math.max(0, b.length - 1);
}

/**
 * Drops a source's positional document once its diagnostics are placed: a large mesh's takes tens
 * of MB that a build would otherwise hold until it ends. A later `locate` builds it again.
 */
export function releasePositions(source: Source): void {
  source.doc = undefined;
  source.lineCounter = undefined;
}

/** Maps a finding's JSON pointer to the position of that node (or its key) in the source. */
export function locate(source: Source, f: Finding): Diagnostic {
  const { atKey, ...rest } = f;
  const pos = pointerOffset(source, f.pointer, atKey ?? false); // builds the document if needed
  const { line, col } = pos === undefined ? { line: 1, col: 1 } : lineCounterOf(source).linePos(pos);
  return { ...rest, file: source.file, line, col };
}

function at(source: Source, f: Finding, line: number, col: number): Diagnostic {
  const { atKey: _ignored, ...rest } = f;
  return { ...rest, file: source.file, line, col };
}

function pointerSegments(ptr: string): string[] {
  return ptr === '' ? [] : ptr.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/**
 * Offset of the node a pointer names. Where the path leaves the document (a missing field), the
 * deepest existing node is used, so "missing field" points at the mapping that lacks it.
 */
export function pointerOffset(source: Source, ptr: string, atKey: boolean): number | undefined {
  const doc = docOf(source);
  if (!doc) return undefined;
  const { isAlias, isMap, isPair, isScalar, isSeq } = yaml();
  const segments = pointerSegments(ptr);
  let node: unknown = doc.contents;
  let keyNode: Node | undefined;
  for (const seg of segments) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === seg);
      if (!pair) break;
      keyNode = pair.key as Node;
      node = pair.value;
    } else if (isSeq(node)) {
      const item = node.items[Number(seg)];
      if (item === undefined) break;
      keyNode = undefined;
      node = item;
    } else {
      break;
    }
  }
  const target = atKey && keyNode ? keyNode : ((node as Node | null) ?? keyNode);
  return target?.range?.[0] ?? keyNode?.range?.[0];
}
