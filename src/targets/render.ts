/**
 * Text targets (nginx, HAProxy) render the Handlebars templates of their folder
 * (`src/targets/<target>/templates/*.hbs`), each also registered as the partial `<target>-<name>`.
 * One Handlebars environment per target, HTML escaping off (configs are not HTML) and strict mode
 * on (a field missing from the view model throws instead of printing nothing). `npm run build`
 * precompiles them with Handlebars (scripts/gen-templates.mjs → dist/targets/<target>/templates.cjs);
 * run from the sources (the tests), the .hbs files are compiled on first use.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type Handlebars from 'handlebars';
import { InternalError } from '../errors.js';
import { onFirstUse } from '../lazy.js';

/** Handlebars, loaded on first use: most commands render no template. */
const handlebars = onFirstUse<typeof Handlebars>('handlebars');
const require = createRequire(import.meta.url);
/** src/targets or dist/targets. */
const TARGETS_DIR = path.dirname(fileURLToPath(import.meta.url));

/** Strict and unescaped; `eq` is the only helper (choosing between two spellings of one directive). */
export const COMPILE_OPTIONS = { noEscape: true, strict: true, data: false, knownHelpers: { eq: true }, knownHelpersOnly: true } as const;

/** The template sources of a target's folder (under `targetsDir`), by name. */
export function templateSources(target: string, targetsDir = TARGETS_DIR): Map<string, string> {
  const dir = path.join(targetsDir, target, 'templates');
  const names = readdirSync(dir).filter((f) => f.endsWith('.hbs')).sort();
  return new Map(names.map((f) => [f.slice(0, -4), readFileSync(path.join(dir, f), 'utf8')]));
}

type Spec = Parameters<typeof Handlebars.template>[0];
const loaded = new Map<string, Map<string, Handlebars.TemplateDelegate>>();

/** A target's templates: precompiled when built, else compiled from its folder. */
function templatesOf(target: string): Map<string, Handlebars.TemplateDelegate> {
  let templates = loaded.get(target);
  if (templates) return templates;
  const hb = handlebars().create();
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  const built = path.join(TARGETS_DIR, target, 'templates.cjs');
  templates = new Map();
  if (existsSync(built)) for (const [name, spec] of Object.entries(require(built) as Record<string, Spec>)) templates.set(name, hb.template(spec));
  else for (const [name, source] of templateSources(target)) templates.set(name, hb.compile(source, COMPILE_OPTIONS));
  for (const [name, t] of templates) hb.registerPartial(`${target}-${name}`, t);
  loaded.set(target, templates);
  return templates;
}

/** Renders the template `name` of `target`'s folder with `view`. */
export function render(target: string, name: string, view: object): string {
  const t = templatesOf(target).get(name);
  if (!t) throw new InternalError(`${target} has no template ${name}`);
  return t(view);
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
