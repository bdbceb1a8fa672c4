/**
 * The features of mesh.yaml a target may or may not express: the rows of the capability matrix.
 * Each target declares its column in its own folder (`<target>/capabilities.ts`, a Cell per
 * feature), and the columns feed three things, so they cannot disagree:
 *   - `renderCapabilityMatrix(targets)`: the Markdown table in the README (a test checks it);
 *   - `unsupported(target, mesh)`: the findings a target's `check` reports for the features this
 *     mesh uses that the target cannot express (`no` → error, `partial` → warning);
 *   - test/unit/capabilities.test.ts, which builds a mesh using each row and checks the findings.
 *
 * A `no` cell is never silently replaced by something weaker: the mesh fails to compile for that
 * target, with the nearest equivalent in the hint. A `partial` cell compiles, with a warning that
 * says what differs.
 */
import { InternalError } from '../errors.js';
import { error, pointer, warning, type Finding } from '../model/diagnostic.js';
import type { Mesh, Service } from '../model/mesh.js';
import { durationsOf, formatMs } from '../model/durations.js';
import { ejectionCapWritten } from '../model/normalize.js';
import { TELEMETRY_FEATURES } from './telemetry-features.js';

export type Support = 'yes' | 'no' | 'partial';

export interface Cell {
  support: Support;
  /** How the target expresses it (yes/partial), or why it cannot (no). Markdown allowed. */
  how: string;
  /** For `no`/`partial`: the nearest equivalent, shown as the diagnostic's hint. */
  hint?: string;
  /**
   * The largest value the target accepts, where it is below what the schema allows (in the unit
   * of Use.value): a larger one is an error (`target-limit`) naming the target.
   */
  max?: number;
}

/** Where a mesh uses a feature: a JSON pointer into mesh.yaml and the field as the user wrote it. */
export interface Use {
  pointer: string;
  field: string;
  /** The value as written, for rows whose cells have a `max` (counts; durations in ms). */
  value?: number;
  /** Replaces the cell's hint where this mesh needs another (a step it has already taken is not advised). */
  hint?: string;
}

export interface Feature {
  /** Stable kebab-case id (tests and other targets refer to rows by it). */
  id: string;
  /** Row label in the README (Markdown). */
  title: string;
  /** Where the mesh uses the feature; empty when it does not. Rows that describe how a target
   *  works rather than something the user writes (identity matching) return nothing. */
  uses(mesh: Mesh): Use[];
  /** How a value of this row reads in a message and in the README (default: the number). */
  format?: (value: number) => string;
}

/** A target's column: its name in the README's table, and a cell for every feature, by id. */
export interface Capabilities {
  label: string;
  cells: Readonly<Record<string, Cell>>;
}

const svcPtr = (s: Service, ...rest: (string | number)[]) => pointer('spec', 'services', s.name, ...rest);

function perService(pred: (s: Service) => boolean, where: (s: Service) => Use): (mesh: Mesh) => Use[] {
  return (mesh) => mesh.services.filter(pred).map(where);
}

/** Services where `pred` holds, at the field `field` names (`a.b` or `a.b: value`). */
function serviceField(pred: (s: Service) => boolean, field: string): (mesh: Mesh) => Use[] {
  const path = field.split(':')[0]!.split('.');
  return perService(pred, (s) => ({ pointer: svcPtr(s, ...path), field }));
}

export const yes = (how: string, max?: number): Cell => ({ support: 'yes', how, ...(max !== undefined ? { max } : {}) });
export const no = (how: string, hint?: string): Cell => ({ support: 'no', how, ...(hint ? { hint } : {}) });
export const partial = (how: string, hint?: string, max?: number): Cell => ({ support: 'partial', how, ...(hint ? { hint } : {}), ...(max !== undefined ? { max } : {}) });

/** HAProxy keeps `maxconn`, `maxqueue` and its timers in signed 32-bit integers (timers in ms). */
export const INT32_MAX = 2_147_483_647;

/** A count limit of one service: its value, where the service sets it. */
function limitUses(field: 'maxConnections' | 'maxPendingRequests' | 'maxRequests', present: (v: number) => boolean = () => true) {
  return perService(
    (s) => s.connectionLimits?.[field] !== undefined && present(s.connectionLimits[field]!),
    (s) => ({ pointer: svcPtr(s, 'connectionLimits', field), field: `connectionLimits.${field}`, value: s.connectionLimits![field]! }),
  );
}

/** Every feature's cell `cell`, but those in `overrides`: where a new target starts (targets/_template). */
export function cellsFor(cell: Cell, overrides: Record<string, Cell> = {}): Record<string, Cell> {
  return Object.fromEntries(FEATURES.map((f) => [f.id, overrides[f.id] ?? cell]));
}

function policyIs(policy: Service['loadBalancing']['policy']) {
  return perService(
    (s) => s.loadBalancing.policy === policy,
    (s) => ({ pointer: svcPtr(s, 'loadBalancing', 'policy'), field: `loadBalancing.policy: ${policy}` }),
  );
}

function hashOnKind(kind: 'header' | 'cookie' | 'sourceIp', extra?: (s: Service) => boolean) {
  return perService(
    (s) =>
      (s.loadBalancing.policy === 'ring_hash' || s.loadBalancing.policy === 'maglev') &&
      s.loadBalancing.hashOn?.kind === kind &&
      (extra ? extra(s) : true),
    (s) => ({ pointer: svcPtr(s, 'loadBalancing', 'hashOn', kind), field: `loadBalancing.hashOn.${kind}` }),
  );
}

/**
 * nginx can re-resolve a name at run time only through `proxy_pass $variable`, which bypasses
 * any `upstream` block: plain round robin over the resolved addresses, no weights, no
 * `max_fails`, no `max_conns`, no balancing directive. A service that needs any of those gets a
 * static `upstream` (names resolved at start) instead, and the row below says so.
 */
export function nginxNeedsUpstreamBlock(s: Service): boolean {
  return s.loadBalancing.policy !== 'round_robin' || s.outlierDetection !== undefined || s.connectionLimits?.maxConnections !== undefined;
}

/**
 * The endpoint meshc gives a service that names none: its Kubernetes Service name, whose ClusterIP
 * does not change. With dns.resolvers set, nginx resolving it once at start loses nothing: not
 * flagged. Without them every DNS endpoint is, with the hint to set them.
 */
function isDefaultEndpoint(mesh: Mesh, s: Service): boolean {
  return s.endpoints.length === 1 && s.endpoints[0].host === `${s.name}.${mesh.namespace}.svc.cluster.local`;
}

function usesEgress(mesh: Mesh): boolean {
  return mesh.services.some((s) => s.egress.length > 0) || mesh.egressGateway.allow.length > 0;
}

function egressUses(mesh: Mesh, pred: (domain: string) => boolean, what: string): Use[] {
  const uses: Use[] = [];
  mesh.egress.allow.forEach((d, i) => {
    if (pred(d)) uses.push({ pointer: pointer('spec', 'egress', 'allow', i), field: `${what} \`${d}\`` });
  });
  for (const s of mesh.services) {
    s.ownEgress.forEach((d, i) => {
      if (pred(d)) uses.push({ pointer: svcPtr(s, 'egress', i), field: `${what} \`${d}\`` });
    });
  }
  return uses;
}

/** The first place egress is configured: where "egress needs X" diagnostics point. */
function firstEgressUse(mesh: Mesh, field: string): Use[] {
  if (mesh.egress.allow.length > 0) return [{ pointer: pointer('spec', 'egress', 'allow'), field }];
  const s = mesh.services.find((x) => x.ownEgress.length > 0);
  return s ? [{ pointer: svcPtr(s, 'egress'), field }] : [];
}

export const FEATURES: readonly Feature[] = [
  {
    id: 'lb-round-robin',
    title: '`loadBalancing.policy: round_robin`',
    uses: policyIs('round_robin'),
  },
  {
    id: 'lb-least-request',
    title: '`loadBalancing.policy: least_request` (choiceCount 2)',
    uses: serviceField((s) => s.loadBalancing.policy === 'least_request' && s.loadBalancing.choiceCount === 2, 'loadBalancing.policy: least_request'),
  },
  {
    id: 'lb-least-request-choice-count',
    title: '`loadBalancing.choiceCount` other than 2',
    uses: perService(
      (s) => s.loadBalancing.policy === 'least_request' && s.loadBalancing.choiceCount !== 2,
      (s) => ({ pointer: svcPtr(s, 'loadBalancing', 'choiceCount'), field: `loadBalancing.choiceCount: ${s.loadBalancing.choiceCount}` }),
    ),
  },
  {
    id: 'lb-random',
    title: '`loadBalancing.policy: random`',
    uses: policyIs('random'),
  },
  {
    id: 'lb-ring-hash-header',
    title: '`ring_hash` by `hashOn.header`',
    uses: hashOnKind('header'),
  },
  {
    id: 'lb-ring-hash-cookie',
    title: '`ring_hash` by `hashOn.cookie` (without `ttl`)',
    uses: hashOnKind('cookie', (s) => s.loadBalancing.hashOn?.kind === 'cookie' && s.loadBalancing.hashOn.ttlSeconds === undefined),
  },
  {
    id: 'lb-ring-hash-cookie-ttl',
    title: '`hashOn.cookie.ttl` (proxy generates the cookie)',
    uses: perService(
      (s) =>
        (s.loadBalancing.policy === 'ring_hash' || s.loadBalancing.policy === 'maglev') &&
        s.loadBalancing.hashOn?.kind === 'cookie' &&
        s.loadBalancing.hashOn.ttlSeconds !== undefined,
      (s) => ({ pointer: svcPtr(s, 'loadBalancing', 'hashOn', 'cookie', 'ttl'), field: 'loadBalancing.hashOn.cookie.ttl' }),
    ),
  },
  {
    id: 'lb-ring-hash-source-ip',
    title: '`ring_hash` by `hashOn.sourceIp`',
    uses: hashOnKind('sourceIp'),
  },
  {
    id: 'lb-maglev',
    title: '`loadBalancing.policy: maglev`',
    uses: policyIs('maglev'),
  },
  {
    id: 'endpoint-weights',
    title: 'endpoint `weight`',
    uses: (mesh) =>
      mesh.services.flatMap((s) =>
        s.endpoints.some((e) => e.weight !== 1)
          ? [{ pointer: svcPtr(s, 'endpoints'), field: 'endpoints[].weight' }]
          : [],
      ),
  },
  {
    id: 'dns-endpoints',
    title: 'endpoints given by DNS name (the default), re-resolved at run time',
    uses: () => [],
  },
  {
    id: 'dns-endpoints-static',
    title: 'DNS-named endpoints without `dns.resolvers`; or written ones (not the default Kubernetes Service name) several per service, or with a non-default `loadBalancing`, `outlierDetection` or `maxConnections`',
    uses: (mesh) =>
      mesh.services.flatMap((s) =>
        s.endpoints.some((e) => !e.isIp) && (mesh.dns.resolvers.length === 0 || (!isDefaultEndpoint(mesh, s) && (s.endpoints.length > 1 || nginxNeedsUpstreamBlock(s))))
          ? [{ pointer: svcPtr(s, 'endpoints'), field: 'endpoints (DNS names)', ...(mesh.dns.resolvers.length ? { hint: 'give the service one DNS endpoint with default balancing, or list IP endpoints' } : {}) }]
          : [],
      ),
  },
  {
    id: 'retries',
    title: '`retries` (attempts; retryOn `5xx`, `gateway-error`, `connect-failure`, `reset`)',
    uses: serviceField((s) => s.retries.attempts > 0, 'retries.attempts'),
  },
  {
    id: 'retries-retriable-4xx',
    title: '`retries.retryOn: retriable-4xx` (409)',
    uses: perService(
      (s) => s.retries.attempts > 0 && s.retries.retryOn.includes('retriable-4xx'),
      (s) => ({ pointer: svcPtr(s, 'retries', 'retryOn', s.retries.retryOn.indexOf('retriable-4xx')), field: 'retries.retryOn: retriable-4xx' }),
    ),
  },
  {
    id: 'retries-per-try-timeout',
    title: '`retries.perTryTimeout`',
    uses: serviceField((s) => s.retries.attempts > 0 && s.retries.perTryTimeoutMs !== undefined, 'retries.perTryTimeout'),
  },
  {
    id: 'timeouts-connect',
    title: '`timeouts.connect`',
    uses: () => [],
  },
  {
    id: 'timeouts-request',
    title: '`timeouts.request` (whole request)',
    uses: serviceField((s) => s.timeouts.requestMs !== undefined, 'timeouts.request'),
  },
  {
    id: 'timeouts-idle',
    title: '`timeouts.idle`',
    uses: () => [],
  },
  {
    id: 'duration-range',
    title: 'durations (`timeouts`, `retries.perTryTimeout`, `outlierDetection`, `hashOn.cookie.ttl`, route `timeout`)',
    uses: (mesh) => durationsOf(mesh).map((d) => ({ pointer: d.pointer, field: d.field, value: d.ms })),
    format: formatMs,
  },
  {
    id: 'outlier-detection',
    title: '`outlierDetection` (consecutive5xx, baseEjectionTime)',
    uses: serviceField((s) => s.outlierDetection !== undefined, 'outlierDetection'),
  },
  {
    id: 'outlier-5xx-without-retries',
    title: '`outlierDetection` ejecting on 5xx when retries do not retry 5xx',
    uses: serviceField((s) => s.outlierDetection !== undefined && s.protocol !== 'tcp' && !(s.retries.attempts > 0 && (s.retries.retryOn.includes('5xx') || s.retries.retryOn.includes('gateway-error'))), 'outlierDetection.consecutive5xx'),
  },
  {
    id: 'outlier-max-ejection-percent',
    title: '`outlierDetection.maxEjectionPercent` below 100 (as written; the default 10 is not flagged)',
    uses: perService(
      (s) => s.outlierDetection !== undefined && ejectionCapWritten(s.outlierDetection) && s.outlierDetection.maxEjectionPercent < 100,
      (s) => ({ pointer: svcPtr(s, 'outlierDetection', 'maxEjectionPercent'), field: `outlierDetection.maxEjectionPercent: ${s.outlierDetection?.maxEjectionPercent}` }),
    ),
  },
  {
    id: 'limit-max-connections',
    title: '`connectionLimits.maxConnections`',
    uses: limitUses('maxConnections'),
  },
  {
    id: 'limit-max-pending-requests',
    title: '`connectionLimits.maxPendingRequests` (a queue)',
    uses: limitUses('maxPendingRequests', (v) => v > 0),
  },
  {
    id: 'limit-max-requests',
    title: '`connectionLimits.maxRequests`',
    uses: limitUses('maxRequests'),
  },
  {
    id: 'protocol-http2',
    title: '`protocol: http2`',
    uses: serviceField((s) => s.protocol === 'http2', 'protocol: http2'),
  },
  {
    id: 'protocol-grpc',
    title: '`protocol: grpc`',
    uses: serviceField((s) => s.protocol === 'grpc', 'protocol: grpc'),
  },
  {
    id: 'protocol-tcp',
    title: '`protocol: tcp`',
    uses: serviceField((s) => s.protocol === 'tcp', 'protocol: tcp'),
  },
  {
    id: 'egress-tls-sni',
    title: 'egress TLS by SNI, exact names',
    uses: (mesh) => egressUses(mesh, (d) => !d.startsWith('*.'), 'egress domain'),
  },
  {
    id: 'egress-wildcard',
    title: 'egress leading wildcard (`*.example.com`: subdomains, not the apex)',
    uses: (mesh) => egressUses(mesh, (d) => d.startsWith('*.'), 'egress wildcard'),
  },
  {
    id: 'egress-http-host',
    title: 'egress plain HTTP by Host',
    uses: (mesh) => (usesEgress(mesh) ? firstEgressUse(mesh, 'egress (plain HTTP)') : []),
  },
  {
    id: 'egress-http-connect',
    title: 'egress HTTP `CONNECT` (`HTTPS_PROXY`)',
    // mesh.yaml never asks for CONNECT: it is one of two ways an application can use its egress
    // port, so the matrix says where it is missing and no diagnostic repeats it for every mesh.
    uses: () => [],
  },
  {
    id: 'egress-via-gateway',
    title: 'egress through the egress gateway (`egress.viaGateway`)',
    uses: (mesh) => (mesh.egress.viaGateway && usesEgress(mesh) ? [{ pointer: pointer('spec', 'egress', 'viaGateway'), field: 'egress.viaGateway' }] : []),
  },
  {
    id: 'egress-system-resolver',
    title: 'egress with the system resolver (`dns.resolvers` empty)',
    uses: (mesh) => (usesEgress(mesh) && mesh.dns.resolvers.length === 0 ? firstEgressUse(mesh, 'egress without dns.resolvers') : []),
  },
  {
    id: 'ingress-sni',
    title: 'ingress: a certificate per host by SNI, unknown SNI refused',
    uses: (mesh) => mesh.ingress.hosts.map((h) => ({ pointer: pointer('spec', 'ingress', 'hosts', h.host), field: 'ingress.hosts' })),
  },
  {
    id: 'ingress-wildcard-host',
    title: 'ingress: wildcard host (`*.example.com`)',
    uses: (mesh) =>
      mesh.ingress.hosts.filter((h) => h.host.startsWith('*.')).map((h) => ({ pointer: pointer('spec', 'ingress', 'hosts', h.host), field: `ingress host ${h.host}` })),
  },
  {
    id: 'ingress-redirect',
    title: 'ingress: `redirectHttp` (301, explicit port when not 443)',
    uses: (mesh) =>
      mesh.ingress.hosts.filter((h) => h.redirectHttp).map((h) => ({ pointer: pointer('spec', 'ingress', 'hosts', h.host, 'redirectHttp'), field: 'redirectHttp' })),
  },
  {
    id: 'ingress-trust-forwarded-proto',
    title: 'ingress: `trustForwardedProto`',
    uses: (mesh) =>
      mesh.ingress.trustForwardedProto ? [{ pointer: pointer('spec', 'ingress', 'trustForwardedProto'), field: 'ingress.trustForwardedProto' }] : [],
  },
  {
    id: 'identity-spiffe-uri',
    title: 'caller identity by SPIFFE URI SAN',
    uses: () => [],
  },
  {
    id: 'identity-subject',
    title: 'caller identity by subject (`CN=<svc>, OU=<namespace>, O=<trustDomain>`)',
    uses: () => [],
  },
  {
    id: 'probe-port',
    title: 'plaintext probe port (health path only)',
    uses: () => [],
  },
  // Metrics (spec.telemetry.metrics, on by default): the rows say what each proxy can count;
  // they describe the proxies rather than a field, so no mesh gets a diagnostic from them.
  {
    id: 'metrics-endpoint',
    title: 'Prometheus metrics at `/metrics` on `telemetry.metrics.port`',
    uses: () => [],
  },
  {
    id: 'metrics-labels',
    title: 'metrics labelled `mesh`, `workload`, `destination`, `code` by the proxy itself',
    uses: () => [],
  },
  {
    id: 'metrics-edge-requests',
    title: 'metrics: requests per edge by response class (caller side)',
    uses: () => [],
  },
  {
    id: 'metrics-edge-latency',
    title: 'metrics: latency histogram per edge',
    uses: () => [],
  },
  {
    id: 'metrics-edge-failures',
    title: 'metrics: connection and TLS-handshake failures per edge',
    uses: () => [],
  },
  {
    id: 'metrics-refused',
    title: 'metrics: requests refused by `allowFrom`, at the callee',
    uses: () => [],
  },
  {
    id: 'metrics-egress',
    title: 'metrics: allowed and refused egress per domain',
    uses: () => [],
  },
  ...TELEMETRY_FEATURES,
];

/** A target's cell for a feature; a column without one is a bug in that target's folder. */
export function cellOf(target: { name: string; capabilities?: Capabilities }, feature: string): Cell {
  const cell = target.capabilities?.cells[feature];
  if (!cell) throw new InternalError(`target ${target.name} declares no capability ${feature}`);
  return cell;
}

/**
 * The findings of `target` for `mesh`: an error (`unsupported-feature`) for every place the mesh
 * uses a feature whose cell is `no`, and one warning (`partially-supported-feature`) per feature
 * whose cell is `partial`, at its first use with a count of the others: a partial cell describes
 * how the target works, so repeating it for every service would bury the errors.
 */
export function unsupported(target: { name: string; capabilities?: Capabilities }, mesh: Mesh): Finding[] {
  const out: Finding[] = [];
  for (const f of FEATURES) {
    const cell = cellOf(target, f.id);
    if (cell.support === 'yes' && cell.max === undefined) continue;
    const uses = f.uses(mesh);
    if (cell.max !== undefined && cell.support !== 'no') {
      const fmt = f.format ?? String;
      for (const use of uses)
        if (use.value !== undefined && use.value > cell.max)
          out.push(error('target-limit', use.pointer, `${target.name} accepts ${use.field} up to ${fmt(cell.max)}; this is ${fmt(use.value)}`, `lower it to ${fmt(cell.max)} at most, or build without ${target.name} (--targets)`));
      if (cell.support === 'yes') continue;
    }
    if (cell.support === 'no') {
      for (const use of uses) out.push(error('unsupported-feature', use.pointer, `${target.name} cannot express ${use.field}: ${stripMd(cell.how)}`, cell.hint));
    } else if (uses.length > 0) {
      const others = uses.length > 1 ? ` (here and in ${uses.length - 1} other place${uses.length === 2 ? '' : 's'})` : '';
      const hint = uses[0].hint ?? cell.hint;
      const w = warning('partially-supported-feature', uses[0].pointer, `${target.name} expresses ${uses[0].field} only partly${others}: ${stripMd(cell.how)}`, hint);
      PARTIAL.set(w, { target: target.name, field: uses[0].field, others, how: stripMd(cell.how), hint });
      out.push(w);
    }
  }
  return out;
}

/** What a partial-support warning was made of, so that warnings of several targets can be merged. */
const PARTIAL = new WeakMap<Finding, { target: string; field: string; others: string; how: string; hint?: string }>();

/**
 * One warning per place instead of one per target: the partial-support warnings of several targets
 * about the same field at the same place become one ("nginx and haproxy express ... only partly:
 * nginx: ...; haproxy: ..."). Other findings pass through in order.
 */
export function mergePartialWarnings(findings: readonly Finding[]): Finding[] {
  const groups = new Map<string, Finding[]>();
  for (const f of findings) {
    const p = PARTIAL.get(f);
    if (!p) continue;
    const key = `${f.pointer}\u0000${p.field}\u0000${p.others}`;
    groups.set(key, [...(groups.get(key) ?? []), f]);
  }
  const out: Finding[] = [];
  for (const f of findings) {
    const p = PARTIAL.get(f);
    if (!p) {
      out.push(f);
      continue;
    }
    const group = groups.get(`${f.pointer}\u0000${p.field}\u0000${p.others}`)!;
    if (group.length === 1) out.push(f);
    else if (group[0] === f) {
      const parts = group.map((g) => PARTIAL.get(g)!);
      const names = parts.map((x) => x.target);
      const hints = [...new Set(parts.map((x) => x.hint).filter((h): h is string => h !== undefined))];
      const hint = hints.length <= 1 ? hints[0] : parts.filter((x) => x.hint).map((x) => `${x.target}: ${x.hint}`).join('; ');
      out.push(warning('partially-supported-feature', f.pointer, `${names.slice(0, -1).join(', ')} and ${names.at(-1)} express ${p.field} only partly${p.others}: ${parts.map((x) => `${x.target}: ${x.how}`).join('; ')}`, hint));
    }
  }
  return out;
}

function stripMd(s: string): string {
  return s.replace(/`/g, '');
}

function escapeCell(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** The matrix as a Markdown table: a row per feature, a column per target; `yes`, `no` or `partial`, then how. */
export function renderCapabilityMatrix(targets: readonly { name: string; capabilities?: Capabilities }[]): string {
  const columns = targets.filter((t) => t.capabilities);
  const head = `| feature | ${columns.map((t) => t.capabilities!.label).join(' | ')} |`;
  const sep = `|---|${columns.map(() => '---').join('|')}|`;
  const rows = FEATURES.map(
    (f) => `| ${escapeCell(f.title)} | ${columns.map((t) => cellOf(t, f.id)).map((c) => escapeCell(`${c.support}: ${c.how}${c.max !== undefined ? ` (at most ${(f.format ?? String)(c.max)})` : ''}`)).join(' | ')} |`,
  );
  return [head, sep, ...rows].join('\n') + '\n';
}
