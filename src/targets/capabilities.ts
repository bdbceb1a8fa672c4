/**
 * The capability matrix: which features of mesh.yaml each target can express, and how.
 *
 * One table feeds three things, so they cannot disagree:
 *   - `renderCapabilityMatrix()`: the Markdown table in the README (between markers; a test
 *     checks README == render);
 *   - `unsupported(target, mesh)`: the findings a target's `check` reports for the features this
 *     mesh uses that the target cannot express (`no` → error, `partial` → warning);
 *   - test/unit/capabilities.test.ts, which builds a mesh using each row and checks the findings.
 *
 * A `no` cell is never silently replaced by something weaker: the mesh fails to compile for that
 * target, with the nearest equivalent in the hint. A `partial` cell compiles, with a warning that
 * says what differs.
 */
import { error, pointer, warning, type Finding } from '../model/diagnostic.js';
import type { Mesh, Service } from '../model/mesh.js';
import { durationsOf, formatMs } from '../model/durations.js';
import { ejectionCapWritten } from '../model/normalize.js';

export const MATRIX_TARGETS = ['envoy', 'nginx', 'haproxy', 'k8s', 'istio'] as const;
export type MatrixTarget = (typeof MATRIX_TARGETS)[number];

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
  cells: Record<MatrixTarget, Cell>;
  /** How a value of this row reads in a message and in the README (default: the number). */
  format?: (value: number) => string;
}

const svcPtr = (s: Service, ...rest: (string | number)[]) => pointer('spec', 'services', s.name, ...rest);

function perService(pred: (s: Service) => boolean, where: (s: Service) => Use): (mesh: Mesh) => Use[] {
  return (mesh) => mesh.services.filter(pred).map(where);
}

const ENVOY_K8S_NOTE = 'Envoy sidecars (same as the Envoy column)';

/** Envoy supports every row; the k8s target deploys Envoy sidecars, so it inherits the column. */
function envoyK8s(how: string): Pick<Record<MatrixTarget, Cell>, 'envoy' | 'k8s'> {
  return { envoy: { support: 'yes', how }, k8s: { support: 'yes', how: ENVOY_K8S_NOTE } };
}

const yes = (how: string, max?: number): Cell => ({ support: 'yes', how, ...(max !== undefined ? { max } : {}) });
const no = (how: string, hint?: string): Cell => ({ support: 'no', how, ...(hint ? { hint } : {}) });
const partial = (how: string, hint?: string, max?: number): Cell => ({ support: 'partial', how, ...(hint ? { hint } : {}), ...(max !== undefined ? { max } : {}) });

/** HAProxy keeps `maxconn`, `maxqueue` and its timers in signed 32-bit integers (timers in ms). */
const INT32_MAX = 2_147_483_647;

/** A count limit of one service: its value, where the service sets it. */
function limitUses(field: 'maxConnections' | 'maxPendingRequests' | 'maxRequests', present: (v: number) => boolean = () => true) {
  return perService(
    (s) => s.connectionLimits?.[field] !== undefined && present(s.connectionLimits[field]!),
    (s) => ({ pointer: svcPtr(s, 'connectionLimits', field), field: `connectionLimits.${field}`, value: s.connectionLimits![field]! }),
  );
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
    cells: {
      ...envoyK8s('`ROUND_ROBIN`'),
      nginx: yes('weighted round robin (the `upstream` default)'),
      haproxy: yes('`balance roundrobin`'),
      istio: yes('DestinationRule `simple: ROUND_ROBIN`'),
    },
  },
  {
    id: 'lb-least-request',
    title: '`loadBalancing.policy: least_request` (choiceCount 2)',
    uses: perService(
      (s) => s.loadBalancing.policy === 'least_request' && s.loadBalancing.choiceCount === 2,
      (s) => ({ pointer: svcPtr(s, 'loadBalancing', 'policy'), field: 'loadBalancing.policy: least_request' }),
    ),
    cells: {
      ...envoyK8s('`LEAST_REQUEST`, `choice_count: 2`'),
      nginx: yes('`random two least_conn` (power of two choices)'),
      haproxy: yes('`balance random(2)` (two draws, the less loaded wins)'),
      istio: yes('DestinationRule `simple: LEAST_REQUEST` (Envoy default of two choices)'),
    },
  },
  {
    id: 'lb-least-request-choice-count',
    title: '`loadBalancing.choiceCount` other than 2',
    uses: perService(
      (s) => s.loadBalancing.policy === 'least_request' && s.loadBalancing.choiceCount !== 2,
      (s) => ({ pointer: svcPtr(s, 'loadBalancing', 'choiceCount'), field: `loadBalancing.choiceCount: ${s.loadBalancing.choiceCount}` }),
    ),
    cells: {
      ...envoyK8s('`least_request_lb_config.choice_count`'),
      nginx: no(
        'only `random two least_conn` (2 choices) or `least_conn` (all endpoints)',
        'use choiceCount: 2 (random two least_conn)',
      ),
      haproxy: yes('`balance random(<choiceCount>)`'),
      istio: no('DestinationRule has no choice count', 'use choiceCount: 2'),
    },
  },
  {
    id: 'lb-random',
    title: '`loadBalancing.policy: random`',
    uses: policyIs('random'),
    cells: {
      ...envoyK8s('`RANDOM`'),
      nginx: yes('`random` (weighted)'),
      haproxy: yes('`balance random(1)`'),
      istio: yes('DestinationRule `simple: RANDOM`'),
    },
  },
  {
    id: 'lb-ring-hash-header',
    title: '`ring_hash` by `hashOn.header`',
    uses: hashOnKind('header'),
    cells: {
      ...envoyK8s('`RING_HASH` + route `hash_policy.header`'),
      nginx: yes('`hash $http_<name> consistent` (ketama)'),
      haproxy: yes('`balance hdr(<name>)` + `hash-type consistent`'),
      istio: yes('`consistentHash.httpHeaderName`'),
    },
  },
  {
    id: 'lb-ring-hash-cookie',
    title: '`ring_hash` by `hashOn.cookie` (without `ttl`)',
    uses: hashOnKind('cookie', (s) => s.loadBalancing.hashOn?.kind === 'cookie' && s.loadBalancing.hashOn.ttlSeconds === undefined),
    cells: {
      ...envoyK8s('`RING_HASH` + route `hash_policy.cookie`'),
      nginx: yes('`hash $cookie_<name> consistent`'),
      haproxy: yes('`balance hash req.cook(<name>)` + `hash-type consistent`'),
      istio: yes('`consistentHash.httpCookie`'),
    },
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
    cells: {
      ...envoyK8s('route `hash_policy.cookie.ttl` (Envoy sets the cookie)'),
      nginx: no('open-source nginx cannot generate a cookie (`sticky cookie` is NGINX Plus)', 'drop `ttl` and let the application set the cookie'),
      haproxy: no('`cookie ... insert` is stickiness by server name, not a hash of a generated cookie', 'drop `ttl` and let the application set the cookie'),
      istio: yes('`consistentHash.httpCookie.ttl`'),
    },
  },
  {
    id: 'lb-ring-hash-source-ip',
    title: '`ring_hash` by `hashOn.sourceIp`',
    uses: hashOnKind('sourceIp'),
    cells: {
      ...envoyK8s('`RING_HASH` + `hash_policy.connection_properties.source_ip`'),
      nginx: yes('`hash $remote_addr consistent` (not `ip_hash`, which keeps only three octets)'),
      haproxy: yes('`balance source` + `hash-type consistent`'),
      istio: yes('`consistentHash.useSourceIp`'),
    },
  },
  {
    id: 'lb-maglev',
    title: '`loadBalancing.policy: maglev`',
    uses: policyIs('maglev'),
    cells: {
      ...envoyK8s('`MAGLEV`'),
      nginx: no('no maglev table', 'use policy: ring_hash (`hash ... consistent`)'),
      haproxy: no('no maglev table', 'use policy: ring_hash (`hash-type consistent`)'),
      istio: yes('`consistentHash.maglev`'),
    },
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
    cells: {
      ...envoyK8s('`load_balancing_weight`'),
      nginx: yes('`server ... weight=N`'),
      haproxy: yes('`server ... weight N`'),
      istio: yes('WorkloadEntry / ServiceEntry endpoint `weight`'),
    },
  },
  {
    id: 'dns-endpoints',
    title: 'endpoints given by DNS name (the default), re-resolved at run time',
    uses: () => [],
    cells: {
      ...envoyK8s('`STRICT_DNS` cluster'),
      nginx: yes('one name per service with `dns.resolvers`: `proxy_pass` with a variable and `resolver` (no `upstream` block)'),
      haproxy: yes('`server-template <prefix> <slots> <name>:<port> resolvers meshc init-addr last,libc,none`: one slot per address, max(4, 2 × replicas) slots'),
      istio: yes('Kubernetes Service / ServiceEntry `resolution: DNS`'),
    },
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
    cells: {
      ...envoyK8s('`STRICT_DNS` cluster, re-resolved at run time'),
      nginx: partial(
        'static `upstream`: open-source nginx 1.22 resolves the names once, at start, and `nginx -t` needs them to resolve (a Kubernetes ClusterIP does not change; other addresses need a reload)',
        'set spec.dns.resolvers and give the service one DNS endpoint with default balancing, or list IP endpoints',
      ),
      haproxy: yes('`server-template` slots filled from every address of the name (`resolvers meshc`; `parse-resolv-conf` without dns.resolvers)'),
      istio: yes('Kubernetes Service / ServiceEntry `resolution: DNS`'),
    },
  },
  {
    id: 'retries',
    title: '`retries` (attempts; retryOn `5xx`, `gateway-error`, `connect-failure`, `reset`)',
    uses: perService(
      (s) => s.retries.attempts > 0,
      (s) => ({ pointer: svcPtr(s, 'retries', 'attempts'), field: 'retries.attempts' }),
    ),
    cells: {
      ...envoyK8s('route `retry_policy`'),
      nginx: yes('`proxy_next_upstream <conditions> non_idempotent` + `proxy_next_upstream_tries`'),
      haproxy: yes('`retries` + `retry-on` + `option redispatch`'),
      istio: yes('VirtualService `retries`'),
    },
  },
  {
    id: 'retries-retriable-4xx',
    title: '`retries.retryOn: retriable-4xx` (409)',
    uses: perService(
      (s) => s.retries.attempts > 0 && s.retries.retryOn.includes('retriable-4xx'),
      (s) => ({ pointer: svcPtr(s, 'retries', 'retryOn', s.retries.retryOn.indexOf('retriable-4xx')), field: 'retries.retryOn: retriable-4xx' }),
    ),
    cells: {
      ...envoyK8s('`retry_on: retriable-4xx`'),
      nginx: no('`proxy_next_upstream` cannot retry on 409', 'remove retriable-4xx from retryOn'),
      haproxy: no('`retry-on` cannot retry on 409', 'remove retriable-4xx from retryOn'),
      istio: yes('VirtualService `retries.retryOn: retriable-4xx`'),
    },
  },
  {
    id: 'retries-per-try-timeout',
    title: '`retries.perTryTimeout`',
    uses: perService(
      (s) => s.retries.attempts > 0 && s.retries.perTryTimeoutMs !== undefined,
      (s) => ({ pointer: svcPtr(s, 'retries', 'perTryTimeout'), field: 'retries.perTryTimeout' }),
    ),
    cells: {
      ...envoyK8s('`retry_policy.per_try_timeout`'),
      nginx: partial('`proxy_read_timeout`: a limit between two reads of the response, not on the whole try', 'leave perTryTimeout unset to silence this'),
      haproxy: partial('`timeout server`: an inactivity limit per try, not on the whole try', 'leave perTryTimeout unset to silence this'),
      istio: yes('VirtualService `retries.perTryTimeout`'),
    },
  },
  {
    id: 'timeouts-connect',
    title: '`timeouts.connect`',
    uses: () => [],
    cells: {
      ...envoyK8s('cluster `connect_timeout`'),
      nginx: yes('`proxy_connect_timeout`'),
      haproxy: yes('`timeout connect`'),
      istio: yes('DestinationRule `connectionPool.tcp.connectTimeout`'),
    },
  },
  {
    id: 'timeouts-request',
    title: '`timeouts.request` (whole request)',
    uses: perService(
      (s) => s.timeouts.requestMs !== undefined,
      (s) => ({ pointer: svcPtr(s, 'timeouts', 'request'), field: 'timeouts.request' }),
    ),
    cells: {
      ...envoyK8s('route `timeout`'),
      nginx: partial('`proxy_read_timeout`/`proxy_send_timeout`: limits between two reads or writes, nginx has no whole-request timeout', 'leave timeouts.request unset to silence this'),
      haproxy: partial('`timeout server`: an inactivity limit, HAProxy has no whole-request timeout', 'leave timeouts.request unset to silence this'),
      istio: yes('VirtualService `timeout`'),
    },
  },
  {
    id: 'timeouts-idle',
    title: '`timeouts.idle`',
    uses: () => [],
    cells: {
      ...envoyK8s('`common_http_protocol_options.idle_timeout`'),
      nginx: yes('`keepalive_timeout` (upstream and listener); tcp: `proxy_timeout`'),
      haproxy: yes('`timeout http-keep-alive`; tcp: `timeout client` / `timeout server` (one hour when unset, as Envoy)'),
      istio: yes('DestinationRule `connectionPool.http.idleTimeout`'),
    },
  },
  {
    id: 'duration-range',
    title: 'durations (`timeouts`, `retries.perTryTimeout`, `outlierDetection`, `hashOn.cookie.ttl`, route `timeout`)',
    uses: (mesh) => durationsOf(mesh).map((d) => ({ pointer: d.pointer, field: d.field, value: d.ms })),
    format: formatMs,
    cells: {
      ...envoyK8s('protobuf `Duration`, converted to 64-bit nanoseconds'),
      nginx: yes('nginx time values'),
      haproxy: yes('HAProxy timers (`timeout`, `inter`): a larger one is a "timer overflow"', INT32_MAX),
      istio: yes('protobuf `Duration`, read into Go\'s `time.Duration`'),
    },
  },
  {
    id: 'outlier-detection',
    title: '`outlierDetection` (consecutive5xx, baseEjectionTime)',
    uses: perService(
      (s) => s.outlierDetection !== undefined,
      (s) => ({ pointer: svcPtr(s, 'outlierDetection'), field: 'outlierDetection' }),
    ),
    cells: {
      ...envoyK8s('cluster `outlier_detection`'),
      nginx: yes('`max_fails=<consecutive5xx> fail_timeout=<baseEjectionTime>` (rounded up to whole seconds, which is all nginx takes); failures are what `proxy_next_upstream` lists (5xx count when retries are off or retry on 5xx), counted within the window'),
      haproxy: yes('`observe layer7 error-limit <consecutive5xx> on-error mark-down`; back after `downinter <baseEjectionTime>` (TLS connect check)'),
      istio: yes('DestinationRule `outlierDetection`'),
    },
  },
  {
    id: 'outlier-5xx-without-retries',
    title: '`outlierDetection` ejecting on 5xx when retries do not retry 5xx',
    uses: perService(
      (s) => s.outlierDetection !== undefined && s.protocol !== 'tcp' && !(s.retries.attempts > 0 && (s.retries.retryOn.includes('5xx') || s.retries.retryOn.includes('gateway-error'))),
      (s) => ({ pointer: svcPtr(s, 'outlierDetection', 'consecutive5xx'), field: 'outlierDetection.consecutive5xx' }),
    ),
    cells: {
      ...envoyK8s('`consecutive_5xx`'),
      nginx: partial(
        'nginx counts a failure for `max_fails` only when it passes the request to the next server, so without retries on 5xx only connection errors and timeouts eject',
        'add retries: { attempts: 1, retryOn: [5xx] } to eject on 5xx as well',
      ),
      haproxy: yes('`observe layer7` counts 5xx responses'),
      istio: yes('`outlierDetection.consecutive5xxErrors`'),
    },
  },
  {
    id: 'outlier-max-ejection-percent',
    title: '`outlierDetection.maxEjectionPercent` below 100 (as written; the default 10 is not flagged)',
    uses: perService(
      (s) => s.outlierDetection !== undefined && ejectionCapWritten(s.outlierDetection) && s.outlierDetection.maxEjectionPercent < 100,
      (s) => ({ pointer: svcPtr(s, 'outlierDetection', 'maxEjectionPercent'), field: `outlierDetection.maxEjectionPercent: ${s.outlierDetection?.maxEjectionPercent}` }),
    ),
    cells: {
      ...envoyK8s('`max_ejection_percent`'),
      nginx: partial('no cap: every endpoint may be marked down at once (then 502)', 'set maxEjectionPercent: 100 to acknowledge'),
      haproxy: partial('no cap: every endpoint may be marked down at once (then 503)', 'set maxEjectionPercent: 100 to acknowledge'),
      istio: yes('`outlierDetection.maxEjectionPercent`'),
    },
  },
  {
    id: 'limit-max-connections',
    title: '`connectionLimits.maxConnections`',
    uses: limitUses('maxConnections'),
    cells: {
      ...envoyK8s('circuit breaker `max_connections`'),
      nginx: partial('`max_conns` per endpoint (the limit divided over the endpoints, rounded up), per worker', 'none closer in open-source nginx'),
      haproxy: partial('`maxconn` per server (the limit divided over the endpoints, rounded up); excess waits in the queue', 'none closer in HAProxy', INT32_MAX),
      istio: yes('`connectionPool.tcp.maxConnections`', INT32_MAX),
    },
  },
  {
    id: 'limit-max-pending-requests',
    title: '`connectionLimits.maxPendingRequests` (a queue)',
    uses: limitUses('maxPendingRequests', (v) => v > 0),
    cells: {
      ...envoyK8s('circuit breaker `max_pending_requests`'),
      nginx: no('open-source nginx has no upstream queue (`queue` is NGINX Plus)', 'set maxPendingRequests: 0 (no queue: excess requests fail at once)'),
      haproxy: partial('`maxqueue` per server (the limit divided over the endpoints, rounded up)', undefined, INT32_MAX),
      istio: yes('`connectionPool.http.http1MaxPendingRequests`', INT32_MAX),
    },
  },
  {
    id: 'limit-max-requests',
    title: '`connectionLimits.maxRequests`',
    uses: limitUses('maxRequests'),
    cells: {
      ...envoyK8s('circuit breaker `max_requests`'),
      // "connection limit must be less 65536" (ngx_http_limit_conn_module)
      nginx: yes('`limit_conn` on the outbound listener (excess answered 503)', 65_535),
      haproxy: partial('`http-request return status 503` once `be_conn` reaches the limit: HAProxy counts connections established to the upstream (idle pooled ones included), not requests in flight', 'none closer in HAProxy 2.6'),
      istio: yes('`connectionPool.http.http2MaxRequests`', INT32_MAX),
    },
  },
  {
    id: 'protocol-http2',
    title: '`protocol: http2`',
    uses: perService(
      (s) => s.protocol === 'http2',
      (s) => ({ pointer: svcPtr(s, 'protocol'), field: 'protocol: http2' }),
    ),
    cells: {
      ...envoyK8s('`http2_protocol_options` on both hops'),
      nginx: partial('the inbound listener accepts HTTP/2, but nginx speaks HTTP/1.1 to the application and to other sidecars (it proxies HTTP/2 only as gRPC)', 'use protocol: grpc for gRPC services'),
      haproxy: yes('`proto h2` on the listeners, `alpn h2` / `proto h2` towards servers'),
      istio: yes('port name `http2`'),
    },
  },
  {
    id: 'protocol-grpc',
    title: '`protocol: grpc`',
    uses: perService(
      (s) => s.protocol === 'grpc',
      (s) => ({ pointer: svcPtr(s, 'protocol'), field: 'protocol: grpc' }),
    ),
    cells: {
      ...envoyK8s('`http2_protocol_options`'),
      nginx: yes('`http2` listeners and `grpc_pass` (grpcs:// between sidecars)'),
      haproxy: yes('`proto h2` on the listeners, `alpn h2` / `proto h2` towards servers'),
      istio: yes('port name `grpc`'),
    },
  },
  {
    id: 'protocol-tcp',
    title: '`protocol: tcp`',
    uses: perService(
      (s) => s.protocol === 'tcp',
      (s) => ({ pointer: svcPtr(s, 'protocol'), field: 'protocol: tcp' }),
    ),
    cells: {
      ...envoyK8s('`tcp_proxy` with network RBAC'),
      nginx: yes('`stream` servers: `map $ssl_client_s_dn` to the application, or to nothing (connection closed)'),
      haproxy: yes('`mode tcp` with `tcp-request session reject` on the caller subject'),
      istio: yes('port name `tcp`'),
    },
  },
  {
    id: 'egress-tls-sni',
    title: 'egress TLS by SNI, exact names',
    uses: (mesh) => egressUses(mesh, (d) => !d.startsWith('*.'), 'egress domain'),
    cells: {
      ...envoyK8s('`tls_inspector` + `server_names` filter chains'),
      nginx: yes('`stream` + `ssl_preread` + `map $ssl_preread_server_name` (`hostnames`)'),
      haproxy: yes('`req.ssl_sni` ACLs + `do-resolve` + `set-dst`'),
      istio: yes('ServiceEntry + `outboundTrafficPolicy: REGISTRY_ONLY`'),
    },
  },
  {
    id: 'egress-wildcard',
    title: 'egress leading wildcard (`*.example.com`: subdomains, not the apex)',
    uses: (mesh) => egressUses(mesh, (d) => d.startsWith('*.'), 'egress wildcard'),
    cells: {
      ...envoyK8s('`server_names` wildcard + SNI dynamic forward proxy'),
      nginx: yes('`*.example.com` in a `hostnames` map'),
      haproxy: yes('`req.ssl_sni -m end .example.com` (Host: `-m end`)'),
      istio: partial('ServiceEntry wildcard hosts with `resolution: NONE` (the sidecar passes the original destination through)'),
    },
  },
  {
    id: 'egress-http-host',
    title: 'egress plain HTTP by Host',
    uses: (mesh) => (usesEgress(mesh) ? firstEgressUse(mesh, 'egress (plain HTTP)') : []),
    cells: {
      ...envoyK8s('virtual hosts by domain + dynamic forward proxy'),
      nginx: yes('`map $host` + `proxy_pass http://$host` with `resolver`'),
      haproxy: yes('`hdr(host)` ACLs + `do-resolve` + `set-dst`'),
      istio: yes('ServiceEntry `protocol: HTTP`'),
    },
  },
  {
    id: 'egress-http-connect',
    title: 'egress HTTP `CONNECT` (`HTTPS_PROXY`)',
    // mesh.yaml never asks for CONNECT: it is one of two ways an application can use its egress
    // port, so the matrix says where it is missing and no diagnostic repeats it for every mesh.
    uses: () => [],
    cells: {
      ...envoyK8s('HCM `upgrade_configs: CONNECT` + dynamic forward proxy'),
      nginx: partial('open-source nginx cannot forward `CONNECT`: applications must send TLS to `egressTlsPort` (SNI) instead of using `HTTPS_PROXY`', 'point TLS clients at egressTlsPort'),
      haproxy: partial('HAProxy 2.6 cannot terminate `CONNECT`: applications must send TLS to `egressTlsPort` (SNI) instead of using `HTTPS_PROXY`', 'point TLS clients at egressTlsPort'),
      istio: partial('no forward-proxy mode for applications: the sidecar captures their traffic transparently instead', 'rely on transparent egress (ServiceEntry)'),
    },
  },
  {
    id: 'egress-via-gateway',
    title: 'egress through the egress gateway (`egress.viaGateway`)',
    uses: (mesh) => (mesh.egress.viaGateway && usesEgress(mesh) ? [{ pointer: pointer('spec', 'egress', 'viaGateway'), field: 'egress.viaGateway' }] : []),
    cells: {
      envoy: yes('the sidecar keeps its own allow-list and sends what it allows to the gateway: TLS passed through, HTTP with its Host, CONNECT as the tunnelled TLS stream'),
      k8s: yes('always: the NetworkPolicies let only the egress gateway reach the internet, so the sidecars in the cluster always send egress through it'),
      nginx: no('not generated: the nginx sidecar sends allowed egress to the destination', 'leave viaGateway unset for nginx (the egress gateway config still enforces the union), or use the envoy target'),
      haproxy: no('not generated: the HAProxy sidecar sends allowed egress to the destination', 'leave viaGateway unset for haproxy (the egress gateway config still enforces the union), or use the envoy target'),
      istio: partial('Istio routes egress through its own egress gateway only with a Gateway and VirtualService per host, which meshc does not generate: the sidecars reach allowed ServiceEntries directly', 'add an Istio egress gateway by hand if you need one'),
    },
  },
  {
    id: 'egress-system-resolver',
    title: 'egress with the system resolver (`dns.resolvers` empty)',
    uses: (mesh) => (usesEgress(mesh) && mesh.dns.resolvers.length === 0 ? firstEgressUse(mesh, 'egress without dns.resolvers') : []),
    cells: {
      ...envoyK8s('c-ares reads `/etc/resolv.conf`'),
      nginx: no('`resolver` must name an address; nginx does not read `/etc/resolv.conf`', 'set spec.dns.resolvers (for example the cluster DNS, `10.96.0.10:53`)'),
      haproxy: yes('`resolvers` section with `parse-resolv-conf`'),
      istio: yes('the cluster DNS'),
    },
  },
  {
    id: 'ingress-sni',
    title: 'ingress: a certificate per host by SNI, unknown SNI refused',
    uses: (mesh) => mesh.ingress.hosts.map((h) => ({ pointer: pointer('spec', 'ingress', 'hosts', h.host), field: 'ingress.hosts' })),
    cells: {
      ...envoyK8s('one filter chain per `server_names`, no default chain'),
      nginx: yes('one `server` per host; a default server with `ssl_reject_handshake on`'),
      haproxy: yes('`crt-list` with one SNI filter per line + `strict-sni`'),
      istio: yes('Gateway `servers[].tls.credentialName` per host'),
    },
  },
  {
    id: 'ingress-wildcard-host',
    title: 'ingress: wildcard host (`*.example.com`)',
    uses: (mesh) =>
      mesh.ingress.hosts.filter((h) => h.host.startsWith('*.')).map((h) => ({ pointer: pointer('spec', 'ingress', 'hosts', h.host), field: `ingress host ${h.host}` })),
    cells: {
      ...envoyK8s('`server_names: ["*.example.com"]` + virtual host domain'),
      nginx: yes('`server_name *.example.com` (SNI and Host)'),
      haproxy: yes('crt-list SNI filter `*.example.com` (one label deep, like the wildcard certificate itself) + Host `-m end`'),
      istio: yes('Gateway `hosts: ["*.example.com"]`'),
    },
  },
  {
    id: 'ingress-redirect',
    title: 'ingress: `redirectHttp` (301, explicit port when not 443)',
    uses: (mesh) =>
      mesh.ingress.hosts.filter((h) => h.redirectHttp).map((h) => ({ pointer: pointer('spec', 'ingress', 'hosts', h.host, 'redirectHttp'), field: 'redirectHttp' })),
    cells: {
      ...envoyK8s('`https_redirect` + `port_redirect`'),
      nginx: yes('`return 301 https://$host:<port>$request_uri`'),
      haproxy: yes('`http-request redirect location https://...:<port>... code 301`'),
      istio: yes('VirtualService `redirect` with `scheme: https` and `port`'),
    },
  },
  {
    id: 'ingress-trust-forwarded-proto',
    title: 'ingress: `trustForwardedProto`',
    uses: (mesh) =>
      mesh.ingress.trustForwardedProto ? [{ pointer: pointer('spec', 'ingress', 'trustForwardedProto'), field: 'ingress.trustForwardedProto' }] : [],
    cells: {
      ...envoyK8s('route match on `x-forwarded-proto`'),
      nginx: yes('`map $http_x_forwarded_proto` decides redirect or proxy'),
      haproxy: yes('`http-request redirect ... unless { req.hdr(x-forwarded-proto) https }`'),
      istio: partial('`gatewayTopology` / `numTrustedProxies`: Envoy keeps the header, the redirect does not look at it'),
    },
  },
  {
    id: 'identity-spiffe-uri',
    title: 'caller identity by SPIFFE URI SAN',
    uses: () => [],
    cells: {
      ...envoyK8s('RBAC `principal_name` / `match_typed_subject_alt_names` (URI)'),
      nginx: no('no variable exposes SANs; nginx matches the subject instead (row below)'),
      haproxy: no('no SAN fetch in 2.6; HAProxy matches the subject instead (row below)'),
      istio: yes('AuthorizationPolicy `principals`'),
    },
  },
  {
    id: 'identity-subject',
    title: 'caller identity by subject (`CN=<svc>, OU=<namespace>, O=<trustDomain>`)',
    uses: () => [],
    cells: {
      ...envoyK8s('not used: Envoy matches the URI SAN'),
      nginx: yes('`map $ssl_client_s_dn` (RFC 2253) → 403'),
      haproxy: yes('`ssl_c_s_dn(CN)`, `(OU)`, `(O)` ACLs → 403'),
      istio: no('Istio authorizes by SPIFFE principal only'),
    },
  },
  {
    id: 'probe-port',
    title: 'plaintext probe port (health path only)',
    uses: () => [],
    cells: {
      ...envoyK8s('a plaintext listener routing only `healthPath`'),
      nginx: yes('a plaintext `server` with `location = <healthPath>`, else 404'),
      haproxy: yes('a plaintext frontend routing only `path <healthPath>`, else 404'),
      istio: yes('the sidecar injector rewrites probes'),
    },
  },
];

export function featureById(id: string): Feature {
  const f = FEATURES.find((x) => x.id === id);
  if (!f) throw new Error(`unknown capability row ${id}`);
  return f;
}

const TARGET_LABEL: Record<MatrixTarget, string> = {
  envoy: 'Envoy',
  nginx: 'nginx',
  haproxy: 'HAProxy',
  k8s: 'Kubernetes',
  istio: 'Istio',
};

/**
 * The findings of `target` for `mesh`: an error (`unsupported-feature`) for every place the mesh
 * uses a feature whose cell is `no`, and one warning (`partially-supported-feature`) per feature
 * whose cell is `partial`, at its first use with a count of the others: a partial cell describes
 * how the target works, so repeating it for every service would bury the errors.
 */
export function unsupported(target: MatrixTarget, mesh: Mesh): Finding[] {
  const out: Finding[] = [];
  for (const f of FEATURES) {
    const cell = f.cells[target];
    if (cell.support === 'yes' && cell.max === undefined) continue;
    const uses = f.uses(mesh);
    if (cell.max !== undefined && cell.support !== 'no') {
      const fmt = f.format ?? String;
      for (const use of uses)
        if (use.value !== undefined && use.value > cell.max)
          out.push(error('target-limit', use.pointer, `${target} accepts ${use.field} up to ${fmt(cell.max)}; this is ${fmt(use.value)}`, `lower it to ${fmt(cell.max)} at most, or build without ${target} (--targets)`));
      if (cell.support === 'yes') continue;
    }
    if (cell.support === 'no') {
      for (const use of uses) out.push(error('unsupported-feature', use.pointer, `${target} cannot express ${use.field}: ${stripMd(cell.how)}`, cell.hint));
    } else if (uses.length > 0) {
      const others = uses.length > 1 ? ` (here and in ${uses.length - 1} other place${uses.length === 2 ? '' : 's'})` : '';
      const hint = uses[0].hint ?? cell.hint;
      const w = warning('partially-supported-feature', uses[0].pointer, `${target} expresses ${uses[0].field} only partly${others}: ${stripMd(cell.how)}`, hint);
      PARTIAL.set(w, { target, field: uses[0].field, others, how: stripMd(cell.how), hint });
      out.push(w);
    }
  }
  return out;
}

/** What a partial-support warning was made of, so that warnings of several targets can be merged. */
const PARTIAL = new WeakMap<Finding, { target: MatrixTarget; field: string; others: string; how: string; hint?: string }>();

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
export function renderCapabilityMatrix(): string {
  const head = `| feature | ${MATRIX_TARGETS.map((t) => TARGET_LABEL[t]).join(' | ')} |`;
  const sep = `|---|${MATRIX_TARGETS.map(() => '---').join('|')}|`;
  const rows = FEATURES.map(
    (f) => `| ${escapeCell(f.title)} | ${MATRIX_TARGETS.map((t) => escapeCell(`${f.cells[t].support}: ${f.cells[t].how}${f.cells[t].max !== undefined ? ` (at most ${(f.format ?? String)(f.cells[t].max!)})` : ''}`)).join(' | ')} |`,
  );
  return [head, sep, ...rows].join('\n') + '\n';
}
