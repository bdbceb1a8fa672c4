/**
 * The one YAML serializer for structured outputs (Envoy, Kubernetes, Istio). Keys are sorted
 * recursively by code unit, `undefined` is dropped, no anchors or aliases, no folding: the same
 * object always gives the same bytes.
 *
 * It is a small emitter of its own rather than the `yaml` package's stringify, which was most of
 * the time of a 1,000-service build (profiled: about 2 s of a 5.8 s no-op build). It only needs
 * plain data: objects, arrays, strings, finite numbers, booleans and null. Strings are written
 * plain when that is unambiguous in YAML 1.1 and 1.2, as literal blocks when multi-line, and
 * double-quoted (JSON escapes, valid YAML) otherwise. test/unit/yaml.test.ts round-trips it
 * through the `yaml` parser.
 */
export function toYaml(value: unknown, header?: string): string {
  const body = emitDocument(value);
  return header ? `# ${header}\n${body}` : body;
}

/** Several documents in one file, separated by `---`. */
export function toYamlDocuments(values: unknown[], header?: string): string {
  const docs = values.map((v) => toYaml(v));
  return (header ? `# ${header}\n` : '') + docs.join('---\n');
}

/** Recursively sorts object keys (code-unit order) and drops undefined values. */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.filter((v) => v !== undefined).map(sortKeys);
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/** Deterministic JSON (sorted keys, two-space indent, trailing newline). */
export function toJson(value: unknown): string {
  return JSON.stringify(sortKeys(value), null, 2) + '\n';
}

const RESERVED = /^(?:true|false|yes|no|on|off|y|n|null|~)$/i;
// A plain scalar: starts with a letter, `/` or `_`; then a safe set; no ": " or " #"; no trailing
// space or colon. Anything else is quoted.
const PLAIN = /^[A-Za-z_/][A-Za-z0-9_./@+=~$%-]*(?::[A-Za-z0-9_./@+=~$%-]+)*(?: [A-Za-z0-9_./@+=~$%(),-][A-Za-z0-9_./@+=~$%(),:-]*)*$/;

function scalarString(s: string): string {
  if (s !== '' && PLAIN.test(s) && !RESERVED.test(s) && !s.endsWith(':')) return s;
  return JSON.stringify(s).replace(/[\u0080-\u009f\u2028\u2029\ufeff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function literalBlock(s: string, indent: string): string | undefined {
  // Literal blocks keep bytes exactly; only safe for printable text whose first line has no
  // leading space, with no carriage returns or tabs, and no trailing spaces on a line.
  if (s.indexOf('\n') === -1 || s.charCodeAt(0) === 32 || s.charCodeAt(0) === 10 || /[\r\t\u0000-\u0008\u000b-\u001f\u007f]| \n| $/.test(s)) return undefined;
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 10) end--;
  const trailing = s.length - end;
  const chomp = trailing === 0 ? '-' : trailing === 1 ? '' : '+';
  const content = trailing === 0 ? s : s.slice(0, -1);
  // Indent every non-empty line.
  return `|${chomp}\n${indent}` + content.replace(/\n(?=[^\n])/g, `\n${indent}`);
}

function scalar(v: unknown, indent: string): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`internal: cannot serialize ${v} to YAML`);
    return String(v);
  }
  if (typeof v === 'string') return literalBlock(v, indent) ?? scalarString(v);
  throw new Error(`internal: cannot serialize a ${typeof v} to YAML`);
}

const isCollection = (v: unknown): v is object => v !== null && typeof v === 'object';
const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
/** Keys in code-unit order, without those whose value is undefined. */
const keysOf = (v: object): string[] => Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined).sort(byCodeUnit);
const isEmpty = (v: object) => (Array.isArray(v) ? v.every((x) => x === undefined) : keysOf(v).length === 0);

function emitDocument(v: unknown): string {
  const out: string[] = [];
  if (isCollection(v) && !isEmpty(v)) emitCollection(v, '', out);
  else out.push(isCollection(v) ? (Array.isArray(v) ? '[]' : '{}') : scalar(v, '  '));
  return out.join('\n') + '\n';
}

const FLOW_WIDTH = 100;

/**
 * A small collection of one-line scalars is written on one line (`{ address: 127.0.0.1,
 * port_value: 15443 }`, `[http/1.1, h2]`): Envoy and Kubernetes objects are mostly such leaves,
 * and block style spent a third of every file on indentation. Undefined when it would not fit.
 */
function flow(v: object, room: number): string | undefined {
  const parts: string[] = [];
  let width = 4;
  if (Array.isArray(v)) {
    for (const item of v) {
      if (item === undefined) continue;
      if (isCollection(item) || (typeof item === 'string' && item.includes('\n'))) return undefined;
      const text = flowScalar(item);
      width += text.length + 2;
      if (width > room) return undefined;
      parts.push(text);
    }
    return `[${parts.join(', ')}]`;
  }
  for (const k of keysOf(v)) {
    const item = (v as Record<string, unknown>)[k];
    if (isCollection(item) || (typeof item === 'string' && item.includes('\n'))) return undefined;
    const text = `${scalarString(k)}: ${flowScalar(item)}`;
    width += text.length + 2;
    if (width > room) return undefined;
    parts.push(text);
  }
  return `{ ${parts.join(', ')} }`;
}

/** A scalar inside a flow collection, where `,` `[` `]` `{` `}` are indicators too. */
function flowScalar(v: unknown): string {
  const s = scalar(v, '');
  return typeof v === 'string' && /[,[\]{}]/.test(s) && !s.startsWith('"') ? JSON.stringify(v) : s;
}

/** Emits a non-empty collection whose lines start at `indent`. */
function emitCollection(v: object, indent: string, out: string[]): void {
  if (Array.isArray(v)) {
    for (const item of v) {
      if (item === undefined) continue;
      const inline = isCollection(item) && !isEmpty(item) ? flow(item, FLOW_WIDTH - indent.length - 2) : undefined;
      if (inline) out.push(`${indent}- ${inline}`);
      else if (isCollection(item) && !isEmpty(item)) {
        const inner: string[] = [];
        emitCollection(item, indent + '  ', inner);
        // The first line of the item shares the line with "- ".
        inner[0] = `${indent}- ${inner[0].slice(indent.length + 2)}`;
        out.push(...inner);
      } else out.push(`${indent}- ${isCollection(item) ? (Array.isArray(item) ? '[]' : '{}') : scalar(item, indent + '  ')}`);
    }
    return;
  }
  for (const k of keysOf(v)) {
    const val = (v as Record<string, unknown>)[k];
    const key = scalarString(k);
    const inline = isCollection(val) && !isEmpty(val) ? flow(val, FLOW_WIDTH - indent.length - key.length - 2) : undefined;
    if (inline) out.push(`${indent}${key}: ${inline}`);
    else if (isCollection(val) && !isEmpty(val)) {
      out.push(`${indent}${key}:`);
      emitCollection(val, Array.isArray(val) ? indent + '  ' : indent + '  ', out);
    } else out.push(`${indent}${key}: ${isCollection(val) ? (Array.isArray(val) ? '[]' : '{}') : scalar(val, indent + '  ')}`);
  }
}
