/**
 * View models of the HAProxy target: every decision is made here, the templates only print.
 *
 * Paths. HAProxy runs with its working directory at the output root (`cd <out> && haproxy -f
 * haproxy/<workload>.cfg`) and resolves relative `crt`, `ca-file` and `crt-list` paths (and the
 * paths inside a crt-list) against it. `crt` wants the certificate and its key in one file, so
 * the target writes bundles under `secrets/haproxy/` (mode 0600).
 */
import { TRUST_BUNDLE_PATH, hostFileName } from '../../certs/material.js';
import { cmp, serviceByName, type IngressHost, type Mesh, type Service } from '../../model/mesh.js';
import { GENERATED_HEADER } from '../target.js';
import { duration, perEndpoint, verifyName } from '../render.js';
import { frontendLog } from './telemetry.js';

export function bundlePath(identity: string): string {
  return `secrets/haproxy/${identity}.pem`;
}
export function ingressBundlePath(host: string): string {
  return `secrets/haproxy/ingress/${hostFileName(host)}.pem`;
}
export function crtListPath(gateway: string): string {
  return `haproxy/${gateway}.crtlist`;
}

interface Prelude {
  header: string;
  title: string;
  workload: string;
  /** `nameserver` lines, or `parse-resolv-conf` when the mesh names no resolver. */
  resolvers: { name: string; address: string }[];
  systemResolver: boolean;
  needsResolvers: boolean;
  resolveFamily: string;
  /** `address:port` of the Prometheus exporter, or '' when metrics are off. */
  metricsBind: string;
  metricsPath: string;
}

interface MeshBackend {
  /** `http`, or `tcp` for protocol tcp (no L7 retries, `observe layer4`). */
  mode: string;
  tcp: boolean;
  name: string;
  service: string;
  balance: string;
  hashConsistent: boolean;
  retries: number;
  retryOn: string;
  connectTimeout: string;
  serverTimeout: string;
  /** Everything after `default-server`. */
  defaultServer: string;
  /** The ingress with access logs: the backend names its service for the log line. */
  logDestination: boolean;
  servers: { directive: string; name: string; count: number; address: string; params: string }[];
}

interface EgressView {
  hasNames: boolean;
  names: { exact: string[]; suffixes: string[] };
  httpBind: string;
  tlsBind: string;
  httpPort: number;
  tlsPort: number;
  family: string;
  /** `log` and `log-format` lines of the two frontends, or ''. */
  tlsLog: string;
  httpLog: string;
}

export interface SidecarView extends Prelude {
  /** `http`, or `tcp` for protocol tcp. */
  mode: string;
  tcp: boolean;
  inboundBind: string;
  hasCallers: boolean;
  callers: string;
  namespace: string;
  trustDomain: string;
  appServer: string;
  probeBind: string;
  healthPath: string;
  adminBind: string;
  /** tcp: idle timeout of inbound connections (client and app side). */
  inboundIdle: string;
  /** `log` and `log-format` lines of the inbound frontend, or ''. */
  inboundLog: string;
  /** The rule keyword of the inbound checks (`http-request`, or `tcp-request content`) and its refusal. */
  rule: string;
  refuse: string;
  outbound: { frontend: string; mode: string; tcp: boolean; bind: string; maxRequests: number; clientTimeout: string; keepAliveTimeout: string; accessLog: string; backend: MeshBackend }[];
  egress: EgressView | false;
}

export interface IngressView extends Prelude {
  hasHosts: boolean;
  httpsBind: string;
  httpBind: string;
  adminBind: string;
  trustForwardedProto: boolean;
  /** `log` and `log-format` lines of the two frontends, or ''. */
  accessLog: string;
  backends: MeshBackend[];
  httpsRoutes: { acl: string; prefix: string; backend: string }[];
  redirects: { acl: string; location: string }[];
  httpRoutes: { acl: string; prefix: string; backend: string }[];
}

export interface EgressGatewayView extends Prelude {
  adminBind: string;
  egress: EgressView;
}

function prelude(mesh: Mesh, workload: string, title: string, needsResolvers: boolean, bindAddress: string): Prelude {
  const m = mesh.telemetry.metrics;
  return {
    metricsBind: m.enabled ? `${bindAddress}:${m.port}` : '',
    metricsPath: m.path,
    header: GENERATED_HEADER,
    title,
    workload,
    resolvers: mesh.dns.resolvers.map((r, i) => ({ name: `ns${i}`, address: `${r.host}:${r.port}` })),
    systemResolver: mesh.dns.resolvers.length === 0,
    needsResolvers,
    resolveFamily: mesh.dns.ipFamily === 'v4' ? 'ipv4' : 'ipv6',
  };
}

function isH2(s: Service): boolean {
  return s.protocol === 'grpc' || s.protocol === 'http2';
}

function balanceOf(s: Service): { balance: string; hashConsistent: boolean } {
  const lb = s.loadBalancing;
  switch (lb.policy) {
    case 'round_robin':
      return { balance: 'roundrobin', hashConsistent: false };
    case 'least_request':
      // Power of N choices: N random draws, the least loaded wins.
      return { balance: `random(${lb.choiceCount})`, hashConsistent: false };
    case 'random':
      return { balance: 'random(1)', hashConsistent: false };
    case 'ring_hash':
    case 'maglev': {
      // maglev is refused by check(); a hash policy without hashOn is a mesh rule error.
      const h = lb.hashOn;
      if (!h) return { balance: 'roundrobin', hashConsistent: false };
      if (h.kind === 'header') return { balance: `hdr(${h.name})`, hashConsistent: true };
      if (h.kind === 'cookie') return { balance: `hash req.cook(${h.name})`, hashConsistent: true };
      return { balance: 'source', hashConsistent: true };
    }
  }
}

/**
 * Weights are multiplied by the largest factor that keeps them within HAProxy's 1..256: the ratios
 * are unchanged, but `random` and `hash-type consistent` place points on their ring in proportion
 * to the weight (16 per unit), and with weight 1 the few points make shares uneven.
 */
/**
 * Idle timeout of tcp connections: `timeouts.idle`, else one hour (Envoy's tcp_proxy default;
 * HAProxy has none of its own, and the one-minute default of these configs would cut idle
 * database connections).
 */
export function tcpIdleMs(s: Service): number {
  return s.timeouts.idleMs ?? 3_600_000;
}

export function weightScale(s: Service): number {
  const max = Math.max(1, ...s.endpoints.map((e) => e.weight));
  return Math.max(1, Math.floor(256 / max));
}

function retryOnOf(s: Service): string {
  // retry-on is HTTP only; TCP retries (the `retries` count) are connection attempts.
  if (s.retries.attempts === 0 || s.protocol === 'tcp') return '';
  const out = new Set<string>();
  for (const r of s.retries.retryOn) {
    if (r === 'connect-failure') out.add('conn-failure');
    if (r === 'reset') out.add('empty-response');
    if (r === '5xx') ['500', '502', '503', '504'].forEach((c) => out.add(c));
    if (r === 'gateway-error') ['502', '503', '504'].forEach((c) => out.add(c));
  }
  const order = ['conn-failure', 'empty-response', '500', '502', '503', '504'];
  return order.filter((c) => out.has(c)).join(' ');
}

function meshBackend(mesh: Mesh, caller: string, s: Service, name: string, requestMs: number | undefined, logDestination = false): MeshBackend {
  const vname = verifyName(mesh.namespace, s.name);
  const od = s.outlierDetection;
  const limits = s.connectionLimits;
  const n = s.endpoints.length;
  const perTry = s.retries.attempts > 0 ? s.retries.perTryTimeoutMs : undefined;
  // tcp: `timeout server` is the idle timeout of the connection; http: of each try.
  const serverMs = s.protocol === 'tcp' ? tcpIdleMs(s) : (perTry ?? requestMs);
  const ds = [`ssl crt ${bundlePath(caller)} ca-file ${TRUST_BUNDLE_PATH} verify required verifyhost ${vname} sni str(${vname})`];
  if (isH2(s)) ds.push('alpn h2');
  if (od) {
    // Passive ejection: consecutive errors mark the server down; a TLS connect check brings it
    // back after baseEjectionTime (without `check` a marked-down server would stay down).
    ds.push(`check observe ${s.protocol === 'tcp' ? 'layer4' : 'layer7'} error-limit ${od.consecutive5xx} on-error mark-down inter ${duration(od.intervalMs)} fastinter ${duration(od.baseEjectionTimeMs)} downinter ${duration(od.baseEjectionTimeMs)} rise 1`);
  }
  if (limits?.maxConnections !== undefined) ds.push(`maxconn ${perEndpoint(limits.maxConnections, n)}`);
  if ((limits?.maxPendingRequests ?? 0) > 0) ds.push(`maxqueue ${perEndpoint(limits!.maxPendingRequests!, n)}`);
  return {
    mode: s.protocol === 'tcp' ? 'tcp' : 'http',
    tcp: s.protocol === 'tcp',
    name,
    service: s.name,
    ...balanceOf(s),
    retries: s.retries.attempts,
    retryOn: retryOnOf(s),
    connectTimeout: duration(s.timeouts.connectMs),
    serverTimeout: serverMs !== undefined ? duration(serverMs) : '',
    defaultServer: ds.join(' '),
    logDestination: logDestination && mesh.telemetry.accessLog.enabled && s.protocol !== 'tcp',
    // A name may stand for several addresses (a headless Service): `server-template` gives each
    // address a slot of its own, where a plain `server` line would use one address only.
    servers: s.endpoints.map((e, i) => ({
      directive: e.isIp ? 'server' : 'server-template',
      name: e.isIp ? `e${i}` : `e${i}-`,
      count: e.isIp ? 0 : Math.max(4, 2 * s.replicas),
      address: `${e.host}:${e.port}`,
      params: [`weight ${e.weight * weightScale(s)}`, ...(e.isIp ? [] : [`resolvers meshc init-addr last,libc,none resolve-prefer ${mesh.dns.ipFamily === 'v4' ? 'ipv4' : 'ipv6'}`])].join(' '),
    })),
  };
}

function egressView(mesh: Mesh, workload: string, names: string[], address: string, httpPort: number, tlsPort: number): EgressView {
  return {
    hasNames: names.length > 0,
    names: {
      exact: names.filter((d) => !d.startsWith('*.')),
      // `*.example.com` → `.example.com`: subdomains at any depth, never the apex.
      suffixes: names.filter((d) => d.startsWith('*.')).map((d) => d.slice(1)),
    },
    httpBind: `${address}:${httpPort}`,
    tlsBind: `${address}:${tlsPort}`,
    httpPort: mesh.egress.httpPort,
    tlsPort: mesh.egress.tlsPort,
    family: mesh.dns.ipFamily === 'v4' ? ',ipv4' : '',
    tlsLog: frontendLog(mesh, workload, 'egress', 'tls'),
    httpLog: frontendLog(mesh, workload, 'egress', 'http'),
  };
}

function needsDns(services: Service[]): boolean {
  return services.some((s) => s.endpoints.some((e) => !e.isIp));
}

export function sidecarView(mesh: Mesh, s: Service): SidecarView {
  const sc = s.sidecar;
  const targets = s.upstreams.flatMap((u) => {
    const t = serviceByName(mesh, u.service);
    return t ? [{ u, t }] : [];
  });
  const egress = s.egress.length > 0;
  // No leading spread (see normalize.ts).
  return {
    mode: s.protocol === 'tcp' ? 'tcp' : 'http',
    ...prelude(mesh, s.name, `sidecar of service "${s.name}"`, egress || needsDns(targets.map((x) => x.t)), sc.bindAddress),
    tcp: s.protocol === 'tcp',
    inboundBind: `${sc.bindAddress}:${sc.inboundPort} ssl crt ${bundlePath(s.name)} ca-file ${TRUST_BUNDLE_PATH} verify optional crt-ignore-err all ca-ignore-err all${isH2(s) ? ' alpn h2,http/1.1' : ''}`,
    inboundIdle: s.protocol === 'tcp' ? duration(tcpIdleMs(s)) : '',
    inboundLog: frontendLog(mesh, s.name, 'inbound', s.protocol === 'tcp' ? 'tcp' : 'http', s.name),
    rule: s.protocol === 'tcp' ? 'tcp-request content' : 'http-request',
    refuse: s.protocol === 'tcp' ? 'reject' : 'deny deny_status 403',
    hasCallers: s.callers.length > 0,
    callers: s.callers.join(' '),
    namespace: mesh.namespace,
    trustDomain: mesh.trustDomain,
    // The application sees its sidecar connect from localAddress when both are on loopback.
    appServer: `${sc.appAddress}:${s.port}${isH2(s) ? ' proto h2' : ''}${sc.localAddress.startsWith('127.') && sc.appAddress.startsWith('127.') ? ` source ${sc.localAddress}` : ''}`,
    probeBind: `${sc.bindAddress}:${sc.probePort}`,
    healthPath: s.healthPath,
    adminBind: `${sc.localAddress}:${sc.adminPort}`,
    outbound: targets.map(({ u, t }) => ({
      frontend: `out_${u.service}`,
      mode: t.protocol === 'tcp' ? 'tcp' : 'http',
      tcp: t.protocol === 'tcp',
      accessLog: frontendLog(mesh, s.name, 'outbound', t.protocol === 'tcp' ? 'tcp' : 'http', t.name),
      bind: `${sc.localAddress}:${u.localPort}${isH2(t) ? ' proto h2' : ''}`,
      maxRequests: t.protocol === 'tcp' ? 0 : (t.connectionLimits?.maxRequests ?? 0),
      clientTimeout: t.protocol === 'tcp' ? duration(tcpIdleMs(t)) : '',
      keepAliveTimeout: t.protocol !== 'tcp' && t.timeouts.idleMs !== undefined ? duration(t.timeouts.idleMs) : '',
      backend: meshBackend(mesh, s.name, t, `up_${u.service}`, t.timeouts.requestMs),
    })),
    egress: egress ? egressView(mesh, s.name, s.egress, sc.localAddress, sc.egressHttpPort, sc.egressTlsPort) : false,
  };
}

/** A condition on the Host header (port stripped, lower-cased) for an ingress host. */
function hostAcl(h: IngressHost): string {
  return h.host.startsWith('*.')
    ? `req.hdr(host),field(1,:),lower -m end ${h.host.slice(1)}`
    : `req.hdr(host),field(1,:),lower -m str ${h.host}`;
}

export function ingressView(mesh: Mesh): IngressView {
  const ing = mesh.ingress;
  const port = ing.httpsPort === 443 ? '' : `:${ing.httpsPort}`;
  // One backend per service and request timeout: a route's own timeout gets its own backend.
  const backends = new Map<string, MeshBackend>();
  const backendFor = (service: string, routeTimeoutMs: number | undefined): string | undefined => {
    const s = serviceByName(mesh, service);
    if (!s) return undefined;
    const name = routeTimeoutMs === undefined ? `svc_${service}` : `svc_${service}_t${routeTimeoutMs}`;
    if (!backends.has(name)) backends.set(name, meshBackend(mesh, ing.name, s, name, routeTimeoutMs ?? s.timeouts.requestMs, true));
    return name;
  };
  const routes = (h: IngressHost) =>
    h.routes.flatMap((r) => {
      const backend = backendFor(r.service, r.timeoutMs);
      return backend ? [{ acl: hostAcl(h), prefix: r.pathPrefix, backend }] : [];
    });
  const httpsRoutes = ing.hosts.flatMap(routes);
  const httpRoutes = ing.hosts.filter((h) => !h.redirectHttp || ing.trustForwardedProto).flatMap(routes);
  const routedServices = mesh.services.filter((s) => ing.hosts.some((h) => h.routes.some((r) => r.service === s.name)));
  return {
    ...prelude(mesh, ing.name, 'ingress gateway', needsDns(routedServices), ing.bindAddress),
    hasHosts: ing.hosts.length > 0,
    httpsBind: `${ing.bindAddress}:${ing.httpsPort} ssl crt-list ${crtListPath(ing.name)} strict-sni alpn h2,http/1.1`,
    httpBind: `${ing.bindAddress}:${ing.httpPort}`,
    adminBind: `127.0.0.1:${ing.adminPort}`,
    trustForwardedProto: ing.trustForwardedProto,
    accessLog: frontendLog(mesh, ing.name, 'ingress', 'http'),
    backends: [...backends.values()].sort((a, b) => cmp(a.name, b.name)),
    httpsRoutes,
    redirects: ing.hosts.filter((h) => h.redirectHttp).map((h) => ({ acl: hostAcl(h), location: `https://%[req.hdr(host),field(1,:)]${port}` })),
    httpRoutes,
  };
}

export function crtList(mesh: Mesh): string {
  const lines = mesh.ingress.hosts.map((h) => `${ingressBundlePath(h.host)} ${h.host}`);
  return [`# ${GENERATED_HEADER}`, '# HAProxy crt-list of the ingress gateway: one certificate per host, chosen by SNI (strict-sni refuses others).', ...lines, ''].join('\n');
}

export function egressGatewayView(mesh: Mesh): EgressGatewayView {
  const gw = mesh.egressGateway;
  return {
    ...prelude(mesh, gw.name, 'egress gateway', true, gw.bindAddress),
    adminBind: `127.0.0.1:${gw.adminPort}`,
    egress: egressView(mesh, gw.name, gw.allow, gw.bindAddress, gw.httpPort, gw.tlsPort),
  };
}
