/**
 * Text targets (nginx, HAProxy) render Handlebars templates from `templates/<target>/*.hbs`.
 *
 * One isolated Handlebars environment, HTML escaping off (configs are not HTML) and strict mode on
 * (a field missing from the view model throws instead of printing nothing). Templates are read
 * lazily, once per process, on first use: importing a target does no I/O, and `emit` stays a
 * function of its inputs (the templates ship with the package, like code). `npm run build`
 * precompiles them (scripts/gen-templates.mjs, dist/templates.cjs); a precompiled template is used
 * only when its source's hash is the one it was made from, otherwise the .hbs file is compiled.
 * Each template is also compiled to one plain function (template-compiler.ts), which renders the
 * same text in about a third of the time; a render it cannot do is left to Handlebars.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type Handlebars from 'handlebars';
import { sha256 } from '../output/manifest.js';
import { compileTemplate, fastRuntime, handlebarsLib, type FastRuntime, type FastTemplate } from './template-compiler.js';

/** The package root: this file is src/targets/render.ts or dist/targets/render.js. */
const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

let env: typeof Handlebars | undefined;
/**
 * Each template both ways: the fast path's function where it compiles (template-compiler.ts), and
 * Handlebars' own, made only when a render is left to it (Handlebars is loaded only then).
 */
interface Loaded {
  fast: FastTemplate | undefined;
  hb: () => Handlebars.TemplateDelegate;
}
const cache = new Map<string, Loaded>();
/** Partials by registered name (`<target>-<partial>`), for both renderers. */
const partialTemplates = new Map<string, Loaded>();
const runtime: FastRuntime = fastRuntime((name) => partialTemplates.get(name)?.fast);

function handlebars(): typeof Handlebars {
  if (!env) {
    env = handlebarsLib().create();
    // {{#each}} over lists that may legitimately be empty still works in strict mode; `eq` is the
    // only logic templates get (choosing between two spellings of one directive).
    env.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  }
  return env;
}

/** Absolute path of a template file (exported for tests and error messages). */
export function templatePath(target: string, name: string): string {
  return path.join(PACKAGE_ROOT, 'templates', target, `${name}.hbs`);
}

/**
 * Strict (a missing field throws) and unescaped (configs are not HTML). Templates use no `@data`
 * and no helper but `eq`, so both are declared: Handlebars then calls no helper lookups and makes no
 * data frames (measured: nginx and HAProxy for 1,000 services 214 -> 197 ms, the same bytes). A
 * template that used another helper would fail to compile, not print nothing. scripts/gen-templates.mjs
 * precompiles with these too.
 */
export const COMPILE_OPTIONS = { noEscape: true, strict: true, data: false, knownHelpers: { eq: true }, knownHelpersOnly: true } as const;

type Precompiled = Record<string, { sha256: string; spec: Parameters<typeof Handlebars.template>[0]; fast: FastTemplate | null }>;
let precompiled: Precompiled | undefined;

/** The template `<target>/<name>`: precompiled when its source is unchanged, else compiled. */
function load(target: string, name: string): Loaded {
  const source = readFileSync(templatePath(target, name), 'utf8');
  if (precompiled === undefined) {
    const file = path.join(PACKAGE_ROOT, 'dist', 'templates.cjs');
    precompiled = existsSync(file) ? (createRequire(import.meta.url)(file) as Precompiled) : {};
  }
  const made = precompiled[`${target}/${name}`];
  let hb: Handlebars.TemplateDelegate | undefined;
  if (made && made.sha256 === sha256(source)) return { fast: made.fast ?? undefined, hb: () => (hb ??= handlebars().template(made.spec)) };
  return { fast: compileTemplate(source), hb: () => (hb ??= handlebars().compile(source, COMPILE_OPTIONS)) };
}

/** Whether renders take the fast path; MESHC_FAST_TEMPLATES=0 renders with Handlebars alone. */
let fast = process.env.MESHC_FAST_TEMPLATES !== '0';
/** Renders the fast path left to Handlebars, in this process. */
let fallbacks = 0;

/** For tests: render through the fast path or through Handlebars alone (see template-compiler.ts). */
export function useFastTemplates(on: boolean): void {
  fast = on;
}

/** For tests: how many renders the fast path has left to Handlebars in this process. */
export function fastPathFallbacks(): number {
  return fallbacks;
}

/**
 * Renders `templates/<target>/<name>.hbs` with `view`. Each name in `partials` is registered once
 * as `<target>-<partial>` (from `templates/<target>/<partial>.hbs`), so a template includes it as
 * `{{> nginx-upstream}}`. Partials are compiled with the same strict options.
 */
export function render(target: string, name: string, view: object, partials: readonly string[] = []): string {
  for (const p of partials) {
    const key = `${target}-${p}`;
    if (!partialTemplates.has(key)) partialTemplates.set(key, load(target, p));
  }
  const key = `${target}/${name}`;
  let tpl = cache.get(key);
  if (!tpl) {
    tpl = load(target, name);
    cache.set(key, tpl);
  }
  if (fast && tpl.fast) {
    try {
      return tpl.fast(view, runtime);
    } catch {
      // Whatever the fast path leaves to Handlebars (or a view-model bug): Handlebars renders it,
      // or throws its own error.
      fallbacks++;
    }
  }
  const hb = handlebars();
  for (const p of partials) {
    const key = `${target}-${p}`;
    if (!hb.partials[key]) hb.registerPartial(key, partialTemplates.get(key)!.hb());
  }
  return tpl.hb()(view);
}

// ---------------------------------------------------------------------------------------------
// View-model helpers shared by the two text targets (nginx, HAProxy).

/** `5s`, `250ms`, `2m`, `1h`: spellings both nginx and HAProxy read. */
export function duration(ms: number): string {
  if (ms > 0 && ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms > 0 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/**
 * The name a caller verifies an upstream's certificate against and sends as SNI: the fully
 * qualified service DNS SAN. Neither proxy checks URI SANs (`proxy_ssl_verify` and `verifyhost`
 * look at DNS SANs and the CN), and every mesh leaf carries `<svc>.<ns>.svc.cluster.local`.
 */
export function verifyName(namespace: string, service: string): string {
  return `${service}.${namespace}.svc.cluster.local`;
}

/**
 * A caller's subject as the mesh CA writes it (O, OU, CN, most significant first), printed in
 * RFC 2253 order, as nginx's `$ssl_client_s_dn` prints it. Inbound listeners trust only the mesh
 * CA, so the subject names the caller as surely as its SPIFFE URI does.
 */
export function subjectRfc2253(name: string, namespace: string, trustDomain: string): string {
  return `CN=${name},OU=${namespace},O=${trustDomain}`;
}

/** Splits a service-wide limit over its endpoints, rounding up (at least 1). */
export function perEndpoint(n: number, parts: number): number {
  return Math.max(1, Math.ceil(n / Math.max(1, parts)));
}
