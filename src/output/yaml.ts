import { InternalError } from '../errors.js';
import { cmp } from '../model/mesh.js';
/**
 * The one YAML serializer for structured outputs (Envoy, Kubernetes, Istio). Keys are sorted
 * recursively by code unit, `undefined` is dropped, no anchors or aliases, no folding: the same
 * object always gives the same bytes. A small emitter of its own: the `yaml` package's stringify
 * is several times slower on Envoy bootstraps. Strings are written plain when that is unambiguous
 * in YAML 1.1 and 1.2, as literal blocks when multi-line, and double-quoted (JSON escapes)
 * otherwise. test/unit/yaml.test.ts round-trips it through the `yaml` parser.
 */
export function toYaml(value: unknown, header?: string): string {
  const parts: string[] = header ? [`# ${header}\n`] : [];
  emitDocument(value, parts);
  return parts.join('');
}

/**
 * Several documents in one file, separated by `---`, after `lead`: a one-line header (written as
 * `# header`) or `{ text }`, written as it is (a comment block). The whole file is one join, not
 * documents joined again and prefixed (each a copy of the text: 40 MB at 1,000 services).
 */
export function toYamlDocuments(values: unknown[], lead?: string | { text: string }): string {
  const parts: string[] = lead === undefined ? [] : [typeof lead === 'string' ? `# ${lead}\n` : lead.text];
  values.forEach((v, i) => {
    if (i > 0) parts.push('---\n');
    emitDocument(v, parts);
  });
  return parts.join('');
}

/** Recursively sorts object keys (code-unit order) and drops undefined values. */
export function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.filter((v) => v !== undefined).map(sortKeys);
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort(cmp)) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/**
 * Whether two plain values are equal as `toJson` would write them (key order aside, undefined
 * members absent), without writing them: the old mesh comes from sorted JSON, the new from objects.
 */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => sameJson(x, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const ka = Object.keys(ao).filter((k) => ao[k] !== undefined);
  const kb = Object.keys(bo).filter((k) => bo[k] !== undefined);
  return ka.length === kb.length && ka.every((k) => sameJson(ao[k], bo[k]));
}

/** Deterministic JSON (sorted keys, two-space indent, trailing newline). */
export function toJson(value: unknown): string {
  return JSON.stringify(sortKeys(value), null, 2) + '\n';
}

const RESERVED = /^(?:true|false|yes|no|on|off|y|n|null|~)$/i;
// A plain scalar: starts with a letter, `/` or `_`; then a safe set; no ": " or " #"; no trailing
// space or colon. Anything else is quoted.
const PLAIN = /^[A-Za-z_/][A-Za-z0-9_./@+=~$%-]*(?::[A-Za-z0-9_./@+=~$%-]+)*(?: [A-Za-z0-9_./@+=~$%(),-][A-Za-z0-9_./@+=~$%(),:-]*)*$/;

/** A one-line string, plain or quoted. */
function scalarString(s: string): string {
  if (s !== '' && PLAIN.test(s) && !RESERVED.test(s) && !s.endsWith(':')) return s;
  // JSON leaves these raw; YAML does not allow them unescaped, even quoted.
  return JSON.stringify(s).replace(/[\u007f-\u009f\u2028\u2029\ufeff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * A document this emitter wrote, to be embedded in another as a literal block (an Envoy bootstrap
 * in a Kubernetes ConfigMap). Such text always can be, so it is not scanned again.
 */
export class Emitted {
  constructor(readonly text: string) {}
}

function emittedBlock(e: Emitted, indent: string): string {
  // A document ends with a newline; anything else is just a string.
  if (e.text.charCodeAt(e.text.length - 1) !== 10) return scalar(e.text, indent);
  return literalOf(e.text, indent);
}

function literalBlock(s: string, indent: string): string | undefined {
  return literalSafe(s) ? literalOf(s, indent) : undefined;
}

/**
 * Literal blocks keep bytes exactly; only safe for printable text whose first line has no
 * leading space, with no carriage returns or tabs, and no trailing spaces on a line.
 */
function literalSafe(s: string): boolean {
  return !(s.indexOf('\n') === -1 || s.charCodeAt(0) === 32 || s.charCodeAt(0) === 10 || /[\r\t\u0000-\u0008\u000b-\u001f\u007f]| \n| $/.test(s));
}

function literalOf(s: string, indent: string): string {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 10) end--;
  const trailing = s.length - end;
  const chomp = trailing === 0 ? '-' : trailing === 1 ? '' : '+';
  const content = trailing === 0 ? s : s.slice(0, -1);
  // Indent every non-empty line; without empty lines, that is every line (one plain replacement).
  const body = content.includes('\n\n') || content.endsWith('\n') ? content.replace(/\n(?=[^\n])/g, `\n${indent}`) : content.replaceAll('\n', `\n${indent}`);
  return `|${chomp}\n${indent}${body}`;
}

function scalar(v: unknown, indent: string): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new InternalError(`cannot serialize ${v} to YAML`);
    return String(v);
  }
  if (typeof v === 'string') return v.indexOf('\n') === -1 ? scalarString(v) : (literalBlock(v, indent) ?? scalarString(v));
  if (v instanceof Emitted) return emittedBlock(v, indent);
  throw new InternalError(`cannot serialize a ${typeof v} to YAML`);
}

const isCollection = (v: unknown): v is object => v !== null && typeof v === 'object' && !(v instanceof Emitted);

/**
 * An object's keys in code-unit order (the default sort) with their one-line texts, kept per order
 * of keys as Object.keys gives them: objects made by the same code share one, so keys are sorted
 * once per shape, not once per object. Bounded, cleared when full.
 */
interface Order {
  /** The keys as Object.keys gives them. */
  all: string[];
  sorted: string[];
  texts: string[];
  /** The index in `sorted` of the key whose collection value last kept such an object out of flow style, or -1. */
  nested: number;
}
const ORDERS_LIMIT = 10_000;
const ORDERS_PER_FIRST_KEY = 64;
const orders = new Map<string, Order[]>();
let orderCount = 0;

function orderOf(v: object): Order | undefined {
  const all = Object.keys(v);
  const n = all.length;
  if (n === 0) return undefined;
  let list = orders.get(all[0]!);
  if (list !== undefined) {
    next: for (const o of list) {
      if (o.all.length !== n) continue;
      for (let i = 1; i < n; i++) if (o.all[i] !== all[i]) continue next;
      return o;
    }
  }
  const sorted = n > 1 ? [...all].sort() : all;
  const order: Order = { all, sorted, texts: sorted.map(scalarString), nested: -1 };
  if (list === undefined) {
    if (orderCount >= ORDERS_LIMIT) {
      orders.clear();
      orderCount = 0;
    }
    orders.set(all[0]!, (list = []));
  }
  if (list.length < ORDERS_PER_FIRST_KEY) {
    list.push(order);
    orderCount++;
  }
  return order;
}

/** The key order of an object, or undefined for an array; `null` when the collection is empty. */
function shape(v: object): Order | undefined | null {
  if (Array.isArray(v)) {
    for (const x of v) if (x !== undefined) return undefined;
    return null;
  }
  const order = orderOf(v);
  if (order === undefined) return null;
  for (const k of order.sorted) if ((v as Record<string, unknown>)[k] !== undefined) return order;
  return null;
}

/**
 * Adds one document's text to `parts`; the caller joins them once (a flat string, not a tree of
 * concatenations to flatten later).
 */
function emitDocument(v: unknown, parts: string[]): void {
  if (!isCollection(v)) parts.push(scalar(v, '  '), '\n');
  else {
    const order = shape(v);
    if (order === null) parts.push(Array.isArray(v) ? '[]\n' : '{}\n');
    else block(v, order, '', '', parts);
  }
}

const FLOW_WIDTH = 100;

/**
 * A small collection of one-line scalars is written on one line (`{ address: 127.0.0.1,
 * port_value: 15443 }`, `[http/1.1, h2]`): Envoy and Kubernetes objects are mostly such leaves,
 * and block style spent a third of every file on indentation. Undefined when it would not fit.
 */
function flow(v: object, order: Order | undefined, room: number): string | undefined {
  let width = 4;
  let text = '';
  if (order === undefined) {
    for (const value of v as unknown[]) {
      if (value === undefined) continue;
      const item = value instanceof Emitted ? value.text : value;
      if (isCollection(item) || (typeof item === 'string' && item.indexOf('\n') !== -1)) return undefined;
      const part = flowScalar(item);
      width += part.length + 2;
      if (width > room) return undefined;
      text = text === '' ? part : `${text}, ${part}`;
    }
    return `[${text}]`;
  }
  const { sorted, texts, nested } = order;
  if (nested !== -1 && isCollection((v as Record<string, unknown>)[sorted[nested]!])) return undefined;
  for (let i = 0; i < sorted.length; i++) {
    const value = (v as Record<string, unknown>)[sorted[i]!];
    if (value === undefined) continue;
    if (isCollection(value)) {
      order.nested = i;
      return undefined;
    }
    const item = value instanceof Emitted ? value.text : value;
    if (typeof item === 'string' && item.indexOf('\n') !== -1) return undefined;
    const part = `${texts[i]}: ${flowScalar(item)}`;
    width += part.length + 2;
    if (width > room) return undefined;
    text = text === '' ? part : `${text}, ${part}`;
  }
  return `{ ${text} }`;
}

/** A scalar inside a flow collection, where `,` `[` `]` `{` `}` are indicators too. */
function flowScalar(v: unknown): string {
  if (typeof v !== 'string') return scalar(v, '');
  const s = scalarString(v);
  return /[,[\]{}]/.test(s) && !s.startsWith('"') ? JSON.stringify(v) : s;
}

/**
 * Shared parts. A builder that hands the same object to many documents (the egress listeners of
 * every sidecar with the same allow-list, a service's own listeners in both of its Envoy
 * bootstraps) marks it with `reuse`; its text is then made once per place it is written at and
 * copied after that. A reused object must not change after it is made.
 */
interface Placed {
  lead: string;
  indent: string;
  text: string;
}
const PLACES_PER_OBJECT = 4;
const reusable = new WeakMap<object, Placed[]>();

export function reuse<T extends object>(value: T): T {
  if (!reusable.has(value)) reusable.set(value, []);
  return value;
}

/** `block`, or the text it made before for the same reused object at the same place. */
function blockOf(v: object, order: Order | undefined, indent: string, first: string, out: string[]): void {
  const placed = reusable.get(v);
  if (placed === undefined) return block(v, order, indent, first, out);
  for (const p of placed) {
    if (p.indent === indent && p.lead === first) {
      out.push(p.text);
      return;
    }
  }
  const start = out.length;
  block(v, order, indent, first, out);
  const text = out.splice(start).join('');
  out.push(text);
  if (placed.length === PLACES_PER_OBJECT) placed.shift();
  placed.push({ lead: first, indent, text });
}

/**
 * Emits a non-empty collection (its key `order` for an object, undefined for an array) whose
 * lines start at `indent`, except the first, which starts with `first` (an array item's `- `).
 */
function block(v: object, order: Order | undefined, indent: string, first: string, out: string[]): void {
  let lead = first;
  const inner = indent + '  ';
  if (order === undefined) {
    const room = FLOW_WIDTH - indent.length - 2;
    for (const item of v as unknown[]) {
      if (item === undefined) continue;
      if (isCollection(item)) {
        const itemOrder = shape(item);
        if (itemOrder === null) out.push(lead, '- ', Array.isArray(item) ? '[]' : '{}', '\n');
        else {
          const inline = flow(item, itemOrder, room);
          if (inline !== undefined) out.push(lead, '- ', inline, '\n');
          else blockOf(item, itemOrder, inner, `${lead}- `, out);
        }
      } else out.push(lead, '- ', scalar(item, inner), '\n');
      lead = indent;
    }
    return;
  }
  const { sorted, texts } = order;
  for (let i = 0; i < sorted.length; i++) {
    const val = (v as Record<string, unknown>)[sorted[i]!];
    if (val === undefined) continue;
    const key = texts[i]!;
    if (isCollection(val)) {
      const valOrder = shape(val);
      if (valOrder === null) out.push(lead, key, Array.isArray(val) ? ': []\n' : ': {}\n');
      else {
        const inline = flow(val, valOrder, FLOW_WIDTH - indent.length - key.length - 2);
        if (inline !== undefined) out.push(lead, key, ': ', inline, '\n');
        else {
          out.push(lead, key, ':\n');
          blockOf(val, valOrder, inner, inner, out);
        }
      }
    } else out.push(lead, key, ': ', scalar(val, inner), '\n');
    lead = indent;
  }
}
