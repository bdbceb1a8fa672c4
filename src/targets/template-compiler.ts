/**
 * Compiles a Handlebars template to one plain JavaScript function that renders exactly what the
 * Handlebars runtime renders with render.ts's options (strict, no escaping, no @data, `eq` the one
 * helper), for the part of the language the templates use: paths (`a.b`, `this`, `../x`),
 * `#if`/`#unless`/`#each` with `{{else}}`, `(eq a b)`, and partials with one context argument,
 * indented when they stand alone on a line. The Handlebars runtime spent most of the nginx and
 * HAProxy targets' time on helper calls, frames and property-access checks around what is string
 * concatenation (measured at 1,000 services: 122 + 88 ms of rendering against 40 ms this way).
 *
 * It is a fast path, not a second engine: a template using anything else compiles to undefined,
 * and a render that meets what this code leaves to Handlebars (a lookup of an inherited property, a
 * missing field in strict mode, `#each` over something other than an array, a null context) throws,
 * and render.ts then renders with Handlebars, which gives its own output or error. Handlebars'
 * parser still reads the templates (its standalone-line rules included). The generated code mirrors
 * the expressions Handlebars generates, down to `+` between two numbers, and test/unit/template-
 * compiler.test.ts renders both ways.
 */
import type Handlebars from 'handlebars';
import { onFirstUse } from '../lazy.js';

type Node = hbs.AST.Node;
type Statement = hbs.AST.Statement;
type Expression = hbs.AST.Expression;

/**
 * Handlebars itself, loaded on first use: renders normally take this fast path with the
 * precompiled templates and need none of it (loading it cost every build about 15 ms of start-up).
 */
export const handlebarsLib = onFirstUse<typeof Handlebars>('handlebars');

/** What a render of this fast path cannot do the way Handlebars would: render.ts falls back. */
export class LeaveToHandlebars extends Error {}

/** The helpers the generated code calls (see RUNTIME_SOURCE for what each mirrors). */
export interface FastRuntime {
  /** Handlebars' lookupProperty: own properties only; anything inherited is left to Handlebars. */
  L(o: unknown, k: string): unknown;
  /** Handlebars' strict(): the field must be there (a missing one is left to Handlebars' error). */
  S(o: unknown, k: string): unknown;
  /** A mustache's value: a function is called (lambda), null and undefined print nothing. */
  M(v: unknown, ctx: unknown): unknown;
  /** The `if` helper's test. */
  T(v: unknown, ctx: unknown): boolean;
  /** The `each` helper over an array. */
  E(v: unknown, ctx: unknown, fn: (item: unknown) => unknown, inverse: () => unknown): unknown;
  /** A partial by name, in `ctx`, indented by `indent` when it stands alone on its line. */
  P(name: string, ctx: unknown, indent: string): string;
}

export type FastTemplate = (context: unknown, runtime: FastRuntime) => string;

class Unsupported extends Error {}

/** The source of a `function (c0, R)` rendering `source`, or undefined when it uses more than the subset. */
export function compileSource(source: string): string | undefined {
  const ast = handlebarsLib().parse(source);
  try {
    const usesDepths = anyDepth(ast);
    const body = program(ast.body, { c: 'c0', d: usesDepths ? 'd0' : undefined }, { next: 1 });
    return `function (c0, R) {\n${usesDepths ? '  const d0 = [c0];\n' : ''}  return "" + ${body};\n}`;
  } catch (e) {
    if (e instanceof Unsupported) return undefined;
    throw e;
  }
}

/** The function itself (for a template whose source changed since `npm run build`). */
export function compileTemplate(source: string): FastTemplate | undefined {
  const code = compileSource(source);
  return code === undefined ? undefined : (new Function(`return ${code}`)() as FastTemplate);
}

/** The current context and depths (Handlebars' `depths`, kept only when a path goes up). */
interface Scope {
  c: string;
  d: string | undefined;
}

/** A program's statements as one expression: `X1 + X2 + ...`, left to right, as Handlebars writes it. */
function program(body: Statement[], scope: Scope, names: { next: number }): string {
  const parts: string[] = [];
  let content = '';
  const flush = () => {
    if (content !== '') parts.push(JSON.stringify(content));
    content = '';
  };
  for (const st of body) {
    switch (st.type) {
      case 'ContentStatement':
        content += (st as hbs.AST.ContentStatement).value; // adjacent content is one string in Handlebars too
        break;
      case 'CommentStatement':
        break;
      case 'MustacheStatement': {
        const m = st as hbs.AST.MustacheStatement;
        if (m.params.length > 0 || hasHash(m.hash) || m.path.type !== 'PathExpression') throw new Unsupported();
        flush();
        parts.push(`R.M(${strictPath(m.path as hbs.AST.PathExpression, scope)}, ${scope.c})`);
        break;
      }
      case 'BlockStatement':
        flush();
        parts.push(block(st as hbs.AST.BlockStatement, scope, names));
        break;
      case 'PartialStatement': {
        const p = st as hbs.AST.PartialStatement & { indent?: string };
        if (p.name.type !== 'PathExpression' || p.params.length > 1 || hasHash(p.hash)) throw new Unsupported();
        const ctx = p.params.length === 1 ? param(p.params[0]!, scope) : scope.c;
        flush();
        parts.push(`R.P(${JSON.stringify((p.name as hbs.AST.PathExpression).original)}, ${ctx}, ${JSON.stringify(p.indent ?? '')})`);
        break;
      }
      default:
        throw new Unsupported();
    }
  }
  flush();
  return parts.length === 0 ? '""' : `(${parts.join(' + ')})`;
}

function block(b: hbs.AST.BlockStatement, scope: Scope, names: { next: number }): string {
  const path = b.path as hbs.AST.PathExpression;
  if (path.type !== 'PathExpression' || path.data || path.depth !== 0 || path.parts.length !== 1) throw new Unsupported();
  if (b.params.length !== 1 || hasHash(b.hash) || b.program?.blockParams?.length || b.inverse?.blockParams?.length) throw new Unsupported();
  const value = param(b.params[0]!, scope);
  const fn = (s: Scope) => (b.program ? program(b.program.body, s, names) : '""');
  const inverse = b.inverse ? program(b.inverse.body, scope, names) : '""';
  switch (path.original) {
    case 'if':
      return `(R.T(${value}, ${scope.c}) ? ${fn(scope)} : ${inverse})`;
    case 'unless':
      return `(R.T(${value}, ${scope.c}) ? ${inverse} : ${fn(scope)})`;
    case 'each': {
      const n = names.next++;
      const item: Scope = { c: `c${n}`, d: scope.d === undefined ? undefined : `d${n}` };
      // A new depth for each item unless it is the current context itself (Handlebars' `!=`).
      const params = item.d === undefined ? item.c : `${item.c}, ${item.d} = ${item.c} != ${scope.d}[0] ? [${item.c}].concat(${scope.d}) : ${scope.d}`;
      return `R.E(${value}, ${scope.c}, (${params}) => ${fn(item)}, () => ${inverse})`;
    }
    default:
      throw new Unsupported();
  }
}

/** A helper's argument: looked up without strictness, as Handlebars does for parameters. */
function param(e: Expression, scope: Scope): string {
  switch (e.type) {
    case 'PathExpression': {
      const p = e as hbs.AST.PathExpression;
      return p.parts.reduce((base, part) => `R.L(${base}, ${JSON.stringify(part)})`, base(p, scope));
    }
    case 'StringLiteral':
      return JSON.stringify((e as hbs.AST.StringLiteral).value);
    case 'NumberLiteral':
      return String((e as hbs.AST.NumberLiteral).value);
    case 'BooleanLiteral':
      return String((e as hbs.AST.BooleanLiteral).value);
    case 'NullLiteral':
      return 'null';
    case 'UndefinedLiteral':
      return 'undefined';
    case 'SubExpression': {
      const s = e as hbs.AST.SubExpression;
      const helper = s.path as hbs.AST.PathExpression;
      if (helper.type !== 'PathExpression' || helper.original !== 'eq' || s.params.length !== 2 || hasHash(s.hash)) throw new Unsupported();
      return `(${param(s.params[0]!, scope)} === ${param(s.params[1]!, scope)})`;
    }
    default:
      throw new Unsupported();
  }
}

/** A printed path: every part but the last looked up as a parameter is, the last one strictly. */
function strictPath(p: hbs.AST.PathExpression, scope: Scope): string {
  if (p.data) throw new Unsupported();
  const at = base(p, scope);
  if (p.parts.length === 0) return at; // `this`, `..`
  const last = p.parts[p.parts.length - 1]!;
  const head = p.parts.slice(0, -1).reduce((b, part) => `R.L(${b}, ${JSON.stringify(part)})`, at);
  return `R.S(${head}, ${JSON.stringify(last)})`;
}

function base(p: hbs.AST.PathExpression, scope: Scope): string {
  if (p.data) throw new Unsupported();
  if (p.depth === 0) return scope.c;
  if (scope.d === undefined) throw new Error('internal: a path goes up in a template compiled without depths');
  return `${scope.d}[${p.depth}]`;
}

function hasHash(h: hbs.AST.Hash | undefined): boolean {
  return h !== undefined && h.pairs.length > 0;
}

/** Whether any path of the template goes up (`../`): then depths are kept, as Handlebars keeps them. */
function anyDepth(node: unknown): boolean {
  if (node === null || typeof node !== 'object') return false;
  if ((node as Node).type === 'PathExpression' && (node as hbs.AST.PathExpression).depth > 0) return true;
  return Object.values(node).some((v) => (Array.isArray(v) ? v.some(anyDepth) : typeof v === 'object' && anyDepth(v)));
}

/** The runtime for one set of partials (`partial(name)`: a partial's fast function, or undefined). */
export function fastRuntime(partial: (name: string) => FastTemplate | undefined): FastRuntime {
  const runtime: FastRuntime = {
    L(o, k) {
      const r = (o as Record<string, unknown>)[k];
      if (r == null || Object.prototype.hasOwnProperty.call(o, k)) return r;
      throw new LeaveToHandlebars(`inherited property ${k}`);
    },
    S(o, k) {
      if (!o || !(k in (o as object))) throw new LeaveToHandlebars(`"${k}" not defined`);
      return runtime.L(o, k);
    },
    M(v, ctx) {
      const value = typeof v === 'function' ? (v as (this: unknown) => unknown).call(ctx) : v;
      return value != null ? value : '';
    },
    T(v, ctx) {
      if (ctx == null) throw new LeaveToHandlebars('a block in a null context');
      const value = typeof v === 'function' ? (v as (this: unknown) => unknown).call(ctx) : v;
      return !(!value || (Array.isArray(value) && value.length === 0));
    },
    E(v, ctx, fn, inverse) {
      if (ctx == null) throw new LeaveToHandlebars('a block in a null context');
      const list = typeof v === 'function' ? (v as (this: unknown) => unknown).call(ctx) : v;
      let i = 0;
      let out = '';
      if (list && typeof list === 'object') {
        if (!Array.isArray(list)) throw new LeaveToHandlebars('#each over something other than an array');
        for (const n = list.length; i < n; i++) if (i in list) out = out + fn(list[i]);
      }
      return i === 0 ? inverse() : out;
    },
    P(name, ctx, indent) {
      const f = partial(name);
      if (!f) throw new LeaveToHandlebars(`partial ${name}`);
      const result = f(ctx, runtime);
      if (!indent || result === '') return result;
      // Handlebars indents every line of a standalone partial, empty ones too, but not a last empty
      // line (it splits on newlines, prefixes, joins); the same without the array of lines.
      const indented = indent + result.replaceAll('\n', '\n' + indent);
      return result.endsWith('\n') ? indented.slice(0, -indent.length) : indented;
    },
  };
  return runtime;
}
