/**
 * Reading the input of `meshc import istio`: files and directories of Kubernetes YAML (or JSON),
 * several documents per file, `List` objects flattened. Every object keeps its place in its file,
 * so a finding about it is placed by the same pointer-to-position mapping as mesh.yaml's
 * (src/source/parse.ts `locate`).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import { UserError } from '../../errors.js';
import { pointer, type Diagnostic, type Severity } from '../../model/diagnostic.js';
import { cmp } from '../../model/mesh.js';
import { locate, MAX_SOURCE_BYTES, type Source } from '../../source/parse.js';

export type Obj = Record<string, unknown>;

/** One Kubernetes object of the input and where it was written. */
export interface InputObject {
  source: Source;
  /** JSON pointer of the object inside its document: '' or `/items/<i>` for a List item. */
  base: string;
  value: Obj;
  apiVersion: string;
  /** The API group (`networking.istio.io`; '' for the core group). */
  group: string;
  version: string;
  kind: string;
  name: string;
  /** As written; undefined when the object does not say (kubectl's default namespace applies). */
  namespace?: string;
  /** Input order: files in the order given (directories walked in code-unit order), then documents. */
  order: number;
}

export interface ReadResult {
  objects: InputObject[];
  diagnostics: Diagnostic[];
  /** True when some input could not be parsed at all (exit 2). */
  unreadable: boolean;
  files: number;
}

const EXTENSIONS = /\.(ya?ml|json)$/i;
const MAX_ALIAS_COUNT = 100;

/** Lists the files to read: a file as given, a directory's YAML and JSON files recursively. */
async function expand(path: string, out: string[], explicit: boolean): Promise<void> {
  let st;
  try {
    st = await stat(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(code === 'ENOENT' ? `${path}: no such file or directory` : `${path}: cannot read (${(e as Error).message})`, 2, 'pass files or directories of Kubernetes and Istio YAML');
  }
  if (st.isDirectory()) {
    let entries: string[];
    try {
      entries = await readdir(path);
    } catch (e) {
      throw new UserError(`${path}: cannot read the directory (${(e as Error).message})`, 2);
    }
    for (const name of entries.sort(cmp)) {
      if (name.startsWith('.')) continue; // .git, .meshc and the like
      await expand(join(path, name), out, false);
    }
  } else if (explicit || EXTENSIONS.test(path)) out.push(path);
}

export async function readInputs(paths: readonly string[]): Promise<ReadResult> {
  const files: string[] = [];
  for (const p of paths) await expand(p, files, true);
  const result: ReadResult = { objects: [], diagnostics: [], unreadable: false, files: files.length };
  for (const file of files) {
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (e) {
      throw new UserError(`${file}: cannot read (${(e as Error).message})`, 2);
    }
    parseFile(file, bytes, result);
  }
  return result;
}

function fileDiagnostic(file: string, code: string, message: string, hint: string, line = 1, col = 1): Diagnostic {
  return { code, severity: 'error', message, hint, pointer: '', file, line, col };
}

/** Parses one file into objects (appended to `result`); problems become diagnostics. */
export function parseFile(file: string, bytes: Buffer, result: ReadResult): void {
  const fatal = (code: string, message: string, hint: string, line = 1, col = 1) => {
    result.diagnostics.push(fileDiagnostic(file, code, message, hint, line, col));
    result.unreadable = true;
  };
  if (bytes.length > MAX_SOURCE_BYTES) return fatal('file-too-large', `${file} is ${bytes.length} bytes; meshc reads input files of at most ${MAX_SOURCE_BYTES} bytes`, 'split the manifests into several files');
  if (bytes.indexOf(0) !== -1) return fatal('not-text', `${file} contains a NUL byte: it is binary, not YAML`, 'pass only Kubernetes YAML or JSON files');
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return fatal('not-utf8', `${file} is not valid UTF-8`, 're-save the file as UTF-8');
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter, uniqueKeys: true, prettyErrors: false, strict: true, stringKeys: false });
  const list = Array.isArray(docs) ? docs : [docs];
  let broken = false;
  for (const doc of list) {
    for (const e of doc.errors) {
      const { line, col } = lineCounter.linePos(e.pos[0]);
      const dup = e.code === 'DUPLICATE_KEY';
      fatal(dup ? 'duplicate-key' : 'yaml-syntax', dup ? 'duplicate key: a key may appear only once in a mapping' : e.message.split('\n')[0].trim(), dup ? 'remove or merge the repeated key' : 'fix the YAML syntax at this position', line, col);
      broken = true;
    }
  }
  if (broken) return;
  for (const doc of list) addDocument(file, text, lineCounter, doc as Document.Parsed, result);
}

function addDocument(file: string, text: string, lineCounter: LineCounter, doc: Document.Parsed, result: ReadResult): void {
  const source: Source = { file, text, doc, lineCounter };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    const { line, col } = lineCounter.linePos(doc.range?.[0] ?? 0);
    result.diagnostics.push(fileDiagnostic(file, 'yaml-alias-limit', `too many alias expansions (more than ${MAX_ALIAS_COUNT}) or an unresolvable alias: ${(e as Error).message}`, 'write the values out instead of nesting aliases', line, col));
    result.unreadable = true;
    return;
  }
  if (value === null || value === undefined) return; // an empty document (a trailing `---`)
  addValue(source, '', value, result);
}

/** A diagnostic at a pointer in a source (for objects too malformed to be an InputObject). */
export function placeAt(source: Source, ptr: string, severity: Severity, code: string, message: string, hint?: string): Diagnostic {
  return locate(source, { code, severity, pointer: ptr, message, ...(hint ? { hint } : {}) });
}

function addValue(source: Source, base: string, value: unknown, result: ReadResult): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    result.diagnostics.push(placeAt(source, base, 'error', 'import-not-an-object', 'this document is not a Kubernetes object (a mapping with apiVersion and kind)', 'remove it, or pass only Kubernetes manifests'));
    return;
  }
  const v = value as Obj;
  const apiVersion = v.apiVersion;
  const kind = v.kind;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || apiVersion === '' || kind === '') {
    result.diagnostics.push(placeAt(source, base, 'note', 'import-not-kubernetes', 'not a Kubernetes object (no apiVersion and kind): ignored'));
    return;
  }
  if (/List$/.test(kind) && Array.isArray(v.items)) {
    v.items.forEach((item, i) => addValue(source, `${base}${pointer('items', i)}`, item, result));
    return;
  }
  const meta = (v.metadata ?? {}) as Obj;
  const name = typeof meta.name === 'string' ? meta.name : '';
  const slash = apiVersion.indexOf('/');
  result.objects.push({
    source,
    base,
    value: v,
    apiVersion,
    group: slash === -1 ? '' : apiVersion.slice(0, slash),
    version: slash === -1 ? apiVersion : apiVersion.slice(slash + 1),
    kind,
    name,
    ...(typeof meta.namespace === 'string' && meta.namespace !== '' ? { namespace: meta.namespace } : {}),
    order: result.objects.length,
  });
}
