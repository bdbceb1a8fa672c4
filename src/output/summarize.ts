/**
 * Per-resource summaries for `meshc diff`: what changed, in words a reviewer understands.
 *
 * Two sources:
 *  - the normalized meshes (old: `summary/mesh.json` of the previous build, or the mesh compiled at
 *    a git revision; new: the mesh being compiled), compared service by service, ingress host by
 *    ingress host, and for the mesh-wide settings;
 *  - the structured output files: Envoy listeners and clusters by name, Kubernetes and Istio
 *    objects by kind/namespace/name, certificates by parsing them (`node:crypto` X509Certificate).
 *
 * Nothing here prints key material: certificates are described by serial and dates, private keys
 * are never parsed or described.
 */
import { X509Certificate } from 'node:crypto';
import jsyaml from 'js-yaml';
import { sameJson } from './yaml.js';
import { cmp, type HashKey, type IngressHost, type LoadBalancing, type Mesh, type Service } from '../model/mesh.js';

/** One summary line. `text` is the whole line as printed. */
export interface SummaryItem {
  /** What the line is about: `service`, `ingress`, `egress`, `mesh`, `certificate`, `file`. */
  scope: 'service' | 'ingress' | 'egress' | 'mesh' | 'certificate' | 'file';
  /** The service, host, domain, certificate name or file path the line is about. */
  subject: string;
  text: string;
}

const ARROW = '→';
const PLUS = '+';
const MINUS = '−';

// ---------------------------------------------------------------------------------------------
// Value formatting

/** `ring_hash(header x-user-id)`, `least_request(choiceCount 3)`, `round_robin`. */
export function formatLoadBalancing(lb: LoadBalancing | undefined): string {
  if (!lb) return 'none';
  if (lb.policy === 'least_request') return lb.choiceCount && lb.choiceCount !== 2 ? `least_request(choiceCount ${lb.choiceCount})` : 'least_request';
  if ((lb.policy === 'ring_hash' || lb.policy === 'maglev') && lb.hashOn) return `${lb.policy}(${formatHashKey(lb.hashOn)})`;
  return lb.policy;
}

function formatHashKey(h: HashKey): string {
  if (h.kind === 'header') return `header ${h.name}`;
  if (h.kind === 'cookie') return `cookie ${h.name}${h.ttlSeconds !== undefined ? `, ttl ${formatDuration(h.ttlSeconds * 1000)}` : ''}`;
  return 'source ip';
}

/** 1500 → `1.5s`, 3600000 → `1h`, 250 → `250ms`. */
export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms >= 1000) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** A short, single-line rendering of any JSON value. */
function show(v: unknown): string {
  if (v === undefined) return 'unset';
  if (v === null) return 'null';
  if (typeof v === 'string') return v === '' ? '""' : v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map(show).join(', ')}]`;
  const o = v as Record<string, unknown>;
  if (typeof o.host === 'string' && typeof o.port === 'number') return `${o.host}:${o.port}${typeof o.weight === 'number' && o.weight !== 1 ? ` (weight ${o.weight})` : ''}`;
  return `{${Object.keys(o)
    .sort(cmp)
    .filter((k) => o[k] !== undefined)
    .map((k) => `${k}: ${show(o[k])}`)
    .join(', ')}}`;
}

/** Shows `*Ms` fields as durations, everything else with `show`. */
function showField(key: string, v: unknown): string {
  if (typeof v === 'number' && /Ms$/.test(key)) return formatDuration(v);
  return show(v);
}

function fieldName(path: string): string {
  return path.replace(/Ms(?=$|\.)/g, '');
}

const same = sameJson;

/**
 * Lines for the leaves that differ between a and b: `timeouts.request 5s → 10s`. Arrays of
 * primitives or endpoints are compared as sets (`+ x`, `− y`).
 */
function leafChanges(a: unknown, b: unknown, path: string): string[] {
  if (same(a, b)) return [];
  const isObj = (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (Array.isArray(a) || Array.isArray(b)) {
    const av = (Array.isArray(a) ? a : []).map(show);
    const bv = (Array.isArray(b) ? b : []).map(show);
    const out: string[] = [];
    for (const x of bv) if (!av.includes(x)) out.push(`${fieldName(path)} ${PLUS} ${x}`);
    for (const x of av) if (!bv.includes(x)) out.push(`${fieldName(path)} ${MINUS} ${x}`);
    if (!out.length) out.push(`${fieldName(path)} reordered: ${show(a)} ${ARROW} ${show(b)}`);
    return out;
  }
  if (isObj(a) && isObj(b)) {
    const ao = a as Record<string, unknown>;
    const bo = b as Record<string, unknown>;
    const keys = [...new Set([...Object.keys(ao), ...Object.keys(bo)])].sort(cmp);
    return keys.flatMap((k) => leafChanges(ao[k], bo[k], path ? `${path}.${k}` : k));
  }
  const key = path.split('.').pop() ?? path;
  return [`${fieldName(path)} ${showField(key, a)} ${ARROW} ${showField(key, b)}`];
}

function setChanges(label: string, a: readonly string[], b: readonly string[]): string[] {
  return [...b.filter((x) => !a.includes(x)).map((x) => `${label} ${PLUS} ${x}`), ...a.filter((x) => !b.includes(x)).map((x) => `${label} ${MINUS} ${x}`)];
}

// ---------------------------------------------------------------------------------------------
// Meshes

/** Fields of a service that are derived from others (reported through those) or named specially. */
const SERVICE_SKIP = new Set(['name', 'spiffeId', 'dnsNames', 'callers', 'egress', 'loadBalancing', 'upstreams', 'allowFrom', 'ownEgress']);

function serviceChanges(a: Service, b: Service): string[] {
  const lines: string[] = [];
  if (!same(a.loadBalancing, b.loadBalancing)) {
    const fa = formatLoadBalancing(a.loadBalancing);
    const fb = formatLoadBalancing(b.loadBalancing);
    if (fa !== fb) lines.push(`load balancing ${fa} ${ARROW} ${fb}`);
    else lines.push(...leafChanges(a.loadBalancing, b.loadBalancing, 'loadBalancing'));
  }
  const ups = (s: Service) => (s.upstreams ?? []).map((u) => u.service);
  lines.push(...setChanges('upstream', ups(a), ups(b)));
  for (const ub of b.upstreams ?? []) {
    const ua = (a.upstreams ?? []).find((u) => u.service === ub.service);
    if (ua && ua.localPort !== ub.localPort) lines.push(`upstream ${ub.service} local port ${ua.localPort} ${ARROW} ${ub.localPort}`);
  }
  lines.push(...setChanges('allowFrom', a.allowFrom ?? [], b.allowFrom ?? []));
  lines.push(...setChanges('egress', a.ownEgress ?? [], b.ownEgress ?? []));
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !SERVICE_SKIP.has(k)).sort(cmp);
  for (const k of keys) lines.push(...leafChanges((a as unknown as Record<string, unknown>)[k], (b as unknown as Record<string, unknown>)[k], k));
  return lines;
}

function routeText(r: { pathPrefix: string; service: string; timeoutMs?: number }): string {
  return `${r.pathPrefix} ${ARROW} ${r.service}${r.timeoutMs !== undefined ? ` (timeout ${formatDuration(r.timeoutMs)})` : ''}`;
}

function hostChanges(a: IngressHost, b: IngressHost): string[] {
  const lines: string[] = [];
  const ra = new Map(a.routes.map((r) => [r.pathPrefix, r]));
  const rb = new Map(b.routes.map((r) => [r.pathPrefix, r]));
  for (const [p, r] of rb) {
    const old = ra.get(p);
    if (!old) lines.push(`route ${PLUS} ${routeText(r)}`);
    else if (old.service !== r.service) lines.push(`route ${p}: ${old.service} ${ARROW} ${r.service}`);
    else if (!same(old, r)) lines.push(...leafChanges(old, r, `route ${p}`));
  }
  for (const [, r] of ra) if (!rb.has(r.pathPrefix)) lines.push(`route ${MINUS} ${routeText(r)}`);
  if (!same(a.tls, b.tls)) lines.push(`tls ${a.tls.kind === 'generated' ? 'generated' : `files ${a.tls.certFile}`} ${ARROW} ${b.tls.kind === 'generated' ? 'generated' : `files ${b.tls.certFile}`}`);
  if (a.redirectHttp !== b.redirectHttp) lines.push(`HTTP→HTTPS redirect ${a.redirectHttp ? 'on' : 'off'} ${ARROW} ${b.redirectHttp ? 'on' : 'off'}`);
  return lines;
}

/**
 * Service-level lines between two normalized meshes, in a fixed order: mesh settings, services
 * added and removed, each service's changes (by name), mesh-wide egress, ingress, the gateways.
 */
export function summarizeMeshes(a: Mesh, b: Mesh): SummaryItem[] {
  const out: SummaryItem[] = [];
  const push = (scope: SummaryItem['scope'], subject: string, text: string) => out.push({ scope, subject, text });

  for (const k of ['name', 'trustDomain', 'namespace', 'pki', 'dns'] as const) {
    for (const l of leafChanges(a[k], b[k], k)) push('mesh', k, `mesh: ${l}`);
  }

  const sa = new Map(a.services.map((s) => [s.name, s]));
  const sb = new Map(b.services.map((s) => [s.name, s]));
  for (const name of [...sb.keys()].sort(cmp)) if (!sa.has(name)) push('service', name, `service added: ${name}`);
  for (const name of [...sa.keys()].sort(cmp)) if (!sb.has(name)) push('service', name, `service removed: ${name}`);
  for (const name of [...sb.keys()].sort(cmp)) {
    const old = sa.get(name);
    if (old) for (const l of serviceChanges(old, sb.get(name)!)) push('service', name, `${name}: ${l}`);
  }

  for (const l of setChanges('mesh-wide egress', a.egress.allow, b.egress.allow)) push('egress', 'mesh-wide', l);
  for (const k of ['tlsPort', 'httpPort'] as const) if (a.egress[k] !== b.egress[k]) push('egress', 'mesh-wide', `egress ${k} ${a.egress[k]} ${ARROW} ${b.egress[k]}`);

  const ha = new Map(a.ingress.hosts.map((h) => [h.host, h]));
  const hb = new Map(b.ingress.hosts.map((h) => [h.host, h]));
  for (const host of [...hb.keys()].sort(cmp)) {
    if (!ha.has(host)) {
      const h = hb.get(host)!;
      push('ingress', host, `ingress host added: ${host} (${h.routes.map(routeText).join(', ')})`);
    }
  }
  for (const host of [...ha.keys()].sort(cmp)) if (!hb.has(host)) push('ingress', host, `ingress host removed: ${host}`);
  for (const host of [...hb.keys()].sort(cmp)) {
    const old = ha.get(host);
    if (old) for (const l of hostChanges(old, hb.get(host)!)) push('ingress', host, `ingress ${host}: ${l}`);
  }

  const gwSkip = new Set(['hosts', 'name', 'spiffeId', 'dnsNames', 'allow']);
  for (const [label, ga, gb] of [
    ['ingress gateway', a.ingress, b.ingress],
    ['egress gateway', a.egressGateway, b.egressGateway],
  ] as const) {
    const keys = [...new Set([...Object.keys(ga), ...Object.keys(gb)])].filter((k) => !gwSkip.has(k)).sort(cmp);
    for (const k of keys) for (const l of leafChanges((ga as unknown as Record<string, unknown>)[k], (gb as unknown as Record<string, unknown>)[k], k)) push('mesh', label, `${label}: ${l}`);
  }
  return out;
}

/** Reads the normalized mesh out of a `summary/mesh.json`; undefined when it is not one. */
export function meshFromSummary(text: string | undefined): Mesh | undefined {
  if (text === undefined) return undefined;
  try {
    const j = JSON.parse(text) as { mesh?: Mesh };
    return j && typeof j.mesh === 'object' && Array.isArray(j.mesh?.services) ? j.mesh : undefined;
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Files

interface CertFacts {
  serial: string;
  notAfter: string;
  issuer: string;
  subject: string;
}

function parseCerts(pem: string | undefined): CertFacts[] {
  if (!pem) return [];
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  const out: CertFacts[] = [];
  for (const b of blocks) {
    try {
      const c = new X509Certificate(b);
      out.push({ serial: c.serialNumber.toLowerCase(), notAfter: new Date(c.validTo).toISOString().slice(0, 10), issuer: c.issuer.split('\n').join(', '), subject: c.subject.split('\n').join(', ') });
    } catch {
      /* not a certificate we can read: reported as a plain file change */
    }
  }
  return out;
}

/** `certs/cart.pem` → `cart`, `certs/ingress/shop.example.com.pem` → `ingress/shop.example.com`. */
function certName(path: string): string {
  return path.replace(/^certs\//, '').replace(/\.pem$/, '').replace(/(^|\/)_wildcard\./, '$1*.');
}

function summarizeCertificate(path: string, a: string | undefined, b: string | undefined): SummaryItem[] {
  if (path === 'certs/ca-bundle.pem') {
    const ca = parseCerts(a);
    const cb = parseCerts(b);
    const lines: string[] = [];
    for (const c of cb) if (!ca.some((x) => x.serial === c.serial)) lines.push(`trust bundle: CA ${PLUS} serial ${c.serial} (${c.subject}, expires ${c.notAfter})`);
    for (const c of ca) if (!cb.some((x) => x.serial === c.serial)) lines.push(`trust bundle: CA ${MINUS} serial ${c.serial} (${c.subject})`);
    if (!lines.length) lines.push('trust bundle: changed');
    return lines.map((text) => ({ scope: 'certificate', subject: 'ca-bundle', text }));
  }
  const name = certName(path);
  const [ca] = parseCerts(a);
  const [cb] = parseCerts(b);
  let text: string;
  if (!ca && cb) text = `certificate ${name}: issued, serial ${cb.serial}, expires ${cb.notAfter}`;
  else if (ca && !cb) text = b === undefined ? `certificate ${name}: removed (serial ${ca.serial})` : `certificate ${name}: changed (unreadable now)`;
  else if (ca && cb) {
    if (ca.serial !== cb.serial) {
      text = `certificate ${name}: rotated, serial ${ca.serial} ${ARROW} ${cb.serial}, expires ${ca.notAfter} ${ARROW} ${cb.notAfter}`;
      if (ca.issuer !== cb.issuer) text += `, issuer ${ca.issuer} ${ARROW} ${cb.issuer}`;
    } else text = `certificate ${name}: chain changed (same leaf, serial ${cb.serial})`;
  } else text = `certificate ${name}: ${a === undefined ? 'added' : b === undefined ? 'removed' : 'changed'}`;
  return [{ scope: 'certificate', subject: name, text }];
}

type Doc = Record<string, unknown>;

function parseYamlDocs(text: string | undefined, json: boolean): Doc[] | undefined {
  if (text === undefined) return [];
  try {
    if (json) {
      const v = JSON.parse(text) as unknown;
      return Array.isArray(v) ? (v as Doc[]) : [v as Doc];
    }
    // js-yaml with the core schema: these are meshc's own files, and it reads them several times
    // faster than a positional parse (which nothing here needs).
    return (jsyaml.loadAll(text, undefined, { schema: jsyaml.CORE_SCHEMA }) as Doc[]).filter((d) => d !== null && d !== undefined);
  } catch {
    return undefined;
  }
}

function objectKey(d: Doc): string | undefined {
  const md = d.metadata as { name?: unknown; namespace?: unknown } | undefined;
  if (typeof d.kind !== 'string' || !md || typeof md.name !== 'string') return undefined;
  return `${d.kind} ${typeof md.namespace === 'string' ? `${md.namespace}/` : ''}${md.name}`;
}

/** Kubernetes List objects are flattened so their items are compared one by one. */
function k8sObjects(docs: Doc[]): Map<string, Doc> | undefined {
  const out = new Map<string, Doc>();
  const add = (d: Doc) => {
    if (d.kind === 'List' && Array.isArray(d.items)) for (const i of d.items as Doc[]) add(i);
    else {
      const k = objectKey(d);
      if (k) out.set(k, d);
    }
  };
  docs.forEach(add);
  return out.size ? out : undefined;
}

function named(list: unknown): Map<string, unknown> {
  const m = new Map<string, unknown>();
  if (Array.isArray(list)) for (const x of list) if (x && typeof x === 'object' && typeof (x as { name?: unknown }).name === 'string') m.set((x as { name: string }).name, x);
  return m;
}

function mapChanges(label: string, a: Map<string, unknown>, b: Map<string, unknown>): string[] {
  const out: string[] = [];
  for (const k of [...b.keys()].sort(cmp)) if (!a.has(k)) out.push(`${label} added: ${k}`);
  for (const k of [...a.keys()].sort(cmp)) if (!b.has(k)) out.push(`${label} removed: ${k}`);
  for (const k of [...b.keys()].sort(cmp)) if (a.has(k) && !same(a.get(k), b.get(k))) out.push(`${label} changed: ${k}`);
  return out;
}

/** Envoy bootstrap: listeners and clusters by name, then any other top-level section. */
function envoyChanges(a: Doc, b: Doc): string[] {
  const sa = (a.static_resources ?? {}) as Doc;
  const sb = (b.static_resources ?? {}) as Doc;
  const out = [...mapChanges('listener', named(sa.listeners), named(sb.listeners)), ...mapChanges('cluster', named(sa.clusters), named(sb.clusters))];
  for (const k of [...new Set([...Object.keys(sa), ...Object.keys(sb)])].sort(cmp)) if (k !== 'listeners' && k !== 'clusters' && !same(sa[k], sb[k])) out.push(`static_resources.${k} changed`);
  for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort(cmp)) if (k !== 'static_resources' && !same(a[k], b[k])) out.push(`${k} changed`);
  return out;
}

/** Objects by `Kind namespace/name`: added, removed, changed (never field by field: a Secret's payload stays out of the words). */
function objectChanges(a: Map<string, Doc>, b: Map<string, Doc>): string[] {
  const out: string[] = [];
  for (const k of [...b.keys()].sort(cmp)) if (!a.has(k)) out.push(`${k} added`);
  for (const k of [...a.keys()].sort(cmp)) if (!b.has(k)) out.push(`${k} removed`);
  for (const k of [...b.keys()].sort(cmp)) if (a.has(k) && !same(a.get(k), b.get(k))) out.push(`${k} changed`);
  return out;
}

/** Matches section headers of the text formats: HAProxy `backend x`, nginx `upstream x {`. */
function textSections(text: string | undefined): Map<string, string> {
  const m = new Map<string, string>();
  if (text === undefined) return m;
  let current: string | undefined;
  let body: string[] = [];
  const flush = () => {
    if (current) m.set(current, body.join('\n'));
  };
  for (const line of text.split('\n')) {
    const hap = /^(frontend|backend|listen|resolvers|global|defaults)\b\s*(\S*)/.exec(line);
    const ngx = /^\s*(upstream|map)\s+(\S+)\s*\{/.exec(line);
    if (hap || ngx) {
      flush();
      const g = (hap ?? ngx)!;
      current = `${g[1]}${g[2] ? ` ${g[2]}` : ''}`;
      body = [];
    } else if (current) body.push(line);
  }
  flush();
  return m;
}

/**
 * What changed inside one output file, by resource. `a`/`b` undefined: the file is added/removed.
 * Files under `secrets/` and `summary/mesh.json` (covered by the mesh lines) give nothing.
 */
export function summarizeFile(path: string, a: string | undefined, b: string | undefined): SummaryItem[] {
  if (path.startsWith('secrets/') || path === 'summary/mesh.json') return [];
  if (path.startsWith('certs/') && path.endsWith('.pem')) return summarizeCertificate(path, a, b);
  const file = (text: string): SummaryItem => ({ scope: 'file', subject: path, text: `${path}: ${text}` });
  if (a === undefined) return [file('added')];
  if (b === undefined) return [file('removed')];
  if (/\.(ya?ml|json)$/.test(path)) {
    const json = path.endsWith('.json');
    const da = parseYamlDocs(a, json);
    const db = parseYamlDocs(b, json);
    if (da && db) {
      const envoy = (d: Doc[]) => d.length === 1 && d[0] && typeof d[0] === 'object' && 'static_resources' in d[0];
      if (envoy(da) && envoy(db)) {
        const lines = envoyChanges(da[0], db[0]);
        return (lines.length ? lines : ['changed']).map(file);
      }
      const oa = k8sObjects(da);
      const ob = k8sObjects(db);
      if (oa || ob) {
        const lines = objectChanges(oa ?? new Map(), ob ?? new Map());
        return (lines.length ? lines : ['changed']).map(file);
      }
    }
    return [file('changed')];
  }
  if (/\.(conf|cfg)$/.test(path)) {
    const sa = textSections(a);
    const sb = textSections(b);
    if (sa.size || sb.size) {
      const lines = mapChanges('section', sa, sb);
      return (lines.length ? lines : ['changed']).map(file);
    }
  }
  return [file('changed')];
}
