/**
 * View models of the nginx target: every decision is made here, the templates only print.
 *
 * Paths. nginx is run as `nginx -p <runtime>/ -c <out>/nginx/<workload>.conf`, the prefix a writable
 * folder outside the output tree (which each build replaces). It resolves
 * `ssl_certificate`, `ssl_client_certificate`, `proxy_ssl_*` and `include` against the directory
 * of the configuration file (its "conf prefix"), but `pid`, `error_log` and the `*_temp_path`
 * directives against `-p`. So certificates are written `../certs/...` (next to nginx/), and runtime
 * files go under `run/` and `tmp/` of the prefix, which the operator creates (nginx creates only
 * the last component of a temp path). Nothing in a config is an absolute machine path except the
 * stream module: `spec.nginx.streamModule`, Debian's path by default, none when it is `builtin`.
 */
import { TRUST_BUNDLE_PATH, ingressCertPath, ingressKeyPath, workloadCertPath, workloadKeyPath } from '../../certs/material.js';
import { GENERATED_HEADER } from '../target.js';
import { serviceByName, type IngressHost, type Mesh, type Service } from '../../model/mesh.js';
import { nginxNeedsUpstreamBlock } from '../features.js';
import { duration, perEndpoint, subjectRfc2253, verifyName } from '../render.js';
import { logView, type LogView } from './telemetry.js';

/** Debian's libnginx-mod-stream, the default of `spec.nginx.streamModule`; `stream` (egress by SNI, tcp) needs it. */
export const NGINX_STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

/** Output paths are relative to the output root; configs live one level down, in nginx/. */
function fromConf(outputPath: string): string {
  return `../${outputPath}`;
}

interface Prelude {
  header: string;
  title: string;
  workload: string;
  stream: boolean;
  /** The `load_module` path of the stream module, or '' when it is built in. */
  streamModule: string;
  /** Access log formats, or false when access logs are off. */
  log: LogView | false;
}

interface TlsFiles {
  cert: string;
  key: string;
  ca: string;
}

interface UpstreamBlock {
  block: string;
  /** A load-balancing directive (`random two least_conn`, `hash ... consistent`), or ''. */
  balance: string;
  servers: { address: string; params: string }[];
  /** http upstreams keep idle connections; stream upstreams have no such directive. */
  keepalive: boolean;
  /** `timeouts.idle` of idle kept-alive connections, or ''. */
  keepaliveTimeout: string;
}

/** How one location (or stream server) proxies to mesh peers over mTLS. */
interface MeshProxy extends TlsFiles {
  /** `proxy` or `grpc`: the module whose directives are used. */
  m: string;
  pass: string;
  /** A single DNS-named endpoint resolved at run time: `name:port` set into $meshc_target, or ''. */
  dynamicTarget: string;
  resolver: string;
  sslName: string;
  connectTimeout: string;
  readTimeout: string;
  idleTimeout: string;
  nextUpstream: string;
  tries: number;
  http1: boolean;
  forwardedProto: boolean;
  /** The ingress: send the request id and trace context it started (or kept). */
  startTrace: boolean;
  /** The ingress with access logs: the service its log lines name (`$meshc_destination`), or ''. */
  logDestination: string;
}

interface EgressView {
  names: string[];
  /** `resolver` arguments; '' only when `names` is empty. */
  resolver: string;
  httpListen: string;
  tlsListen: string;
  httpPort: number;
  tlsPort: number;
  connectTimeout: string;
  /** Where the egress servers log, or '' when access logs are off. */
  logPath: string;
}

interface Outbound {
  service: string;
  /** The upstream block, or false when the target is resolved at run time (dynamicTarget). */
  upstream: UpstreamBlock | false;
  listen: string;
  h2c: boolean;
  limitConn: number;
  limitZone: string;
  /** `keepalive_timeout` towards the application (timeouts.idle), or ''. */
  keepaliveTimeout: string;
  proxy: MeshProxy;
}

export interface SidecarView extends Prelude {
  callers: string[];
  tls: TlsFiles;
  /** protocol tcp: the inbound listener is a stream server. */
  tcp: boolean;
  inboundListen: string;
  inboundHttp2: boolean;
  appAddress: string;
  /** `proxy_pass http://meshc_app` or `grpc_pass grpc://meshc_app` */
  appPass: string;
  appHttp1: boolean;
  /** `proxy_bind` address towards the application, or '' (see appSource). */
  appSource: string;
  /** `proxy_bind` or `grpc_bind` */
  appBind: string;
  appIdleTimeout: string;
  probeListen: string;
  healthPath: string;
  adminListen: string;
  metrics: MetricsView | false;
  outbound: Outbound[];
  streamOutbound: Outbound[];
  egress: EgressView | false;
}

export interface IngressView extends Prelude {
  httpsListen: string;
  httpListen: string;
  adminListen: string;
  metrics: MetricsView | false;
  trustForwardedProto: boolean;
  upstreams: UpstreamBlock[];
  hosts: {
    host: string;
    cert: string;
    key: string;
    redirect: boolean;
    location: string;
    routes: { prefix: string; proxy: MeshProxy; service: string }[];
    catchAll: boolean;
  }[];
}

export interface EgressGatewayView extends Prelude {
  adminListen: string;
  metrics: MetricsView | false;
  egress: EgressView;
}

/** The metrics server of a workload, on its bind address; false when metrics are off. */
export interface MetricsView {
  listen: string;
  path: string;
  mesh: string;
}

function metricsView(mesh: Mesh, bindAddress: string): MetricsView | false {
  const m = mesh.telemetry.metrics;
  return m.enabled ? { listen: `${bindAddress}:${m.port}`, path: m.path, mesh: mesh.name } : false;
}

function prelude(mesh: Mesh, workload: string, title: string, stream: boolean, log: LogView | false): Prelude {
  const module = mesh.nginx?.streamModule ?? NGINX_STREAM_MODULE;
  return { header: GENERATED_HEADER, title, workload, stream, streamModule: module === 'builtin' ? '' : module, log };
}

function tlsOf(name: string): TlsFiles {
  return { cert: fromConf(workloadCertPath(name)), key: fromConf(workloadKeyPath(name)), ca: fromConf(TRUST_BUNDLE_PATH) };
}

/** nginx variable for a request header: lower case, `-` → `_`. */
export function headerVariable(name: string): string {
  return `$http_${name.toLowerCase().replace(/-/g, '_')}`;
}

function balanceOf(s: Service): string {
  const lb = s.loadBalancing;
  switch (lb.policy) {
    case 'round_robin':
      return '';
    case 'least_request':
      // Power of two choices; other choice counts are refused by check().
      return 'random two least_conn';
    case 'random':
      return 'random';
    case 'ring_hash':
    case 'maglev': {
      // maglev is refused by check(); a hash policy without hashOn is a mesh rule error; header
      // and cookie keys on a tcp service are refused by check().
      const h = lb.hashOn;
      if (!h) return '';
      if (h.kind === 'header') return `hash ${headerVariable(h.name)} consistent`;
      if (h.kind === 'cookie') return `hash $cookie_${h.name} consistent`;
      // Not ip_hash: it keeps only three octets of an IPv4 address.
      return 'hash $remote_addr consistent';
    }
  }
}

/**
 * Whether a service's endpoints are resolved at run time: one DNS-named endpoint (the default,
 * `<svc>.<ns>.svc.cluster.local`) and a `resolver` to ask. Open-source nginx 1.22 resolves names in
 * an `upstream` block once, at start (`resolve` arrived in 1.27.3); `proxy_pass` with a variable
 * asks `resolver` at run time instead, at the price of the upstream block (no load-balancing
 * directive, weights, max_fails or keepalive; a single name needs none of them).
 */
export function resolvedAtRunTime(mesh: Mesh, s: Service): boolean {
  // See nginxNeedsUpstreamBlock: run-time resolution would silently drop the balancing.
  return mesh.dns.resolvers.length > 0 && s.endpoints.length === 1 && !s.endpoints[0].isIp && !nginxNeedsUpstreamBlock(s);
}

export function upstreamBlock(s: Service, block: string): UpstreamBlock {
  const od = s.outlierDetection;
  const maxConns = s.connectionLimits?.maxConnections;
  return {
    block,
    balance: balanceOf(s),
    servers: s.endpoints.map((e) => {
      const params = [`weight=${e.weight}`];
      // Without outlierDetection nothing is ejected (nginx's default would be max_fails=1 fail_timeout=10s).
      // fail_timeout takes whole seconds only (`fail_timeout=1ms` is an invalid parameter): rounded up.
      if (od) params.push(`max_fails=${od.consecutive5xx}`, `fail_timeout=${duration(Math.max(1, Math.ceil(od.baseEjectionTimeMs / 1000)) * 1000)}`);
      else params.push('max_fails=0');
      if (maxConns !== undefined) params.push(`max_conns=${perEndpoint(maxConns, s.endpoints.length)}`);
      return { address: `${e.host}:${e.port}`, params: ' ' + params.join(' ') };
    }),
    keepalive: s.protocol !== 'tcp',
    keepaliveTimeout: s.protocol !== 'tcp' && s.timeouts.idleMs !== undefined ? duration(s.timeouts.idleMs) : '',
  };
}

const NEXT_ORDER = ['error', 'timeout', 'http_500', 'http_502', 'http_503', 'http_504'];

/**
 * `proxy_next_upstream` conditions and tries. nginx counts a failure for `max_fails` only when it
 * moves on to the next server, so with retries off only errors and timeouts eject (the capability
 * row `outlier-5xx-without-retries` says so).
 */
function nextUpstream(s: Service): { nextUpstream: string; tries: number } {
  const r = s.retries;
  const retrying = r.attempts > 0;
  if (s.protocol === 'tcp') {
    // TCP can retry only the connection itself.
    const on = retrying && (r.retryOn.includes('connect-failure') || r.retryOn.includes('reset'));
    return { nextUpstream: on ? 'on' : 'off', tries: on ? r.attempts + 1 : 1 };
  }
  const conds = new Set<string>();
  const on = retrying ? r.retryOn : [];
  if (on.includes('connect-failure') || on.includes('reset')) conds.add('error').add('timeout');
  if (on.includes('5xx')) ['http_500', 'http_502', 'http_503', 'http_504'].forEach((c) => conds.add(c));
  if (on.includes('gateway-error')) ['http_502', 'http_503', 'http_504'].forEach((c) => conds.add(c));
  if (s.outlierDetection && !retrying) conds.add('error').add('timeout');
  // Without retries: `error` with one try lets nginx resend only a request that failed on a
  // kept-alive upstream connection the peer had closed (nginx adds a try for those), which is
  // what a peer's graceful reload does; any other failure is final.
  if (conds.size === 0) return { nextUpstream: 'error', tries: 1 };
  const list = NEXT_ORDER.filter((c) => conds.has(c));
  // Envoy retries whatever the method; so does the mesh.
  if (retrying) list.push('non_idempotent');
  return { nextUpstream: list.join(' '), tries: retrying ? r.attempts + 1 : 1 };
}

/**
 * http2 and grpc services are proxied by the grpc module: its upstream side speaks HTTP/2 and
 * carries any HTTP/2 request, gRPC or not, where `proxy_pass` speaks only HTTP/1.x.
 */
function speaksHttp2(s: Service): boolean {
  return s.protocol === 'grpc' || s.protocol === 'http2';
}

function meshProxy(mesh: Mesh, caller: string, s: Service, block: string, requestMs: number | undefined, forwardedProto: boolean): MeshProxy {
  const h2 = speaksHttp2(s);
  const perTry = s.retries.attempts > 0 ? s.retries.perTryTimeoutMs : undefined;
  const read = perTry ?? requestMs;
  const dynamic = resolvedAtRunTime(mesh, s);
  const target = dynamic ? '$meshc_target' : block;
  // No leading spread (see normalize.ts): a view read by the template for every upstream.
  return {
    m: h2 ? 'grpc' : 'proxy',
    ...tlsOf(caller),
    pass: s.protocol === 'tcp' ? `proxy_pass ${target}` : h2 ? `grpc_pass grpcs://${target}` : `proxy_pass https://${target}`,
    dynamicTarget: dynamic ? `${s.endpoints[0].host}:${s.endpoints[0].port}` : '',
    resolver: dynamic ? resolverArgs(mesh) : '',
    sslName: verifyName(mesh.namespace, s.name),
    connectTimeout: duration(s.timeouts.connectMs),
    readTimeout: read !== undefined ? duration(read) : '',
    idleTimeout: s.timeouts.idleMs !== undefined ? duration(s.timeouts.idleMs) : '',
    ...nextUpstream(s),
    http1: !h2,
    forwardedProto,
    startTrace: forwardedProto,
    logDestination: forwardedProto && mesh.telemetry.accessLog.enabled ? s.name : '',
  };
}

function resolverArgs(mesh: Mesh): string {
  if (mesh.dns.resolvers.length === 0) return '';
  const addrs = mesh.dns.resolvers.map((r) => `${r.host}:${r.port}`).join(' ');
  return `${addrs} valid=30s${mesh.dns.ipFamily === 'v4' ? ' ipv6=off' : ''}`;
}

function egressView(mesh: Mesh, names: string[], address: string, httpPort: number, tlsPort: number): EgressView {
  return {
    names,
    resolver: resolverArgs(mesh),
    httpListen: `${address}:${httpPort}`,
    tlsListen: `${address}:${tlsPort}`,
    httpPort: mesh.egress.httpPort,
    tlsPort: mesh.egress.tlsPort,
    connectTimeout: duration(5000),
    logPath: mesh.telemetry.accessLog.enabled ? mesh.telemetry.accessLog.path : '',
  };
}

const loopback = (a: string) => a.startsWith('127.');

/**
 * The application sees its sidecar connect from `localAddress` when both are on loopback (the
 * kernel would otherwise pick 127.0.0.1 whatever the sidecar listens on); elsewhere the system
 * picks the source, as binding a loopback source towards a pod address cannot work.
 */
export function appSource(sc: { localAddress: string; appAddress: string }): string {
  return loopback(sc.localAddress) && loopback(sc.appAddress) ? sc.localAddress : '';
}

const blockName = (prefix: string, svc: string) => `${prefix}${svc.replace(/-/g, '_')}`;

export function sidecarView(mesh: Mesh, s: Service): SidecarView {
  const sc = s.sidecar;
  const h2 = speaksHttp2(s);
  const egress = s.egress.length > 0;
  const outbound: Outbound[] = s.upstreams.flatMap((u) => {
    const target = serviceByName(mesh, u.service);
    if (!target) return [];
    const block = blockName('meshc_up_', u.service);
    return [
      {
        service: u.service,
        upstream: resolvedAtRunTime(mesh, target) ? false : upstreamBlock(target, block),
        listen: `${sc.localAddress}:${u.localPort}`,
        h2c: speaksHttp2(target),
        limitConn: target.protocol === 'tcp' ? 0 : (target.connectionLimits?.maxRequests ?? 0),
        limitZone: `${block}_requests`,
        keepaliveTimeout: target.protocol !== 'tcp' && target.timeouts.idleMs !== undefined ? duration(target.timeouts.idleMs) : '',
        proxy: meshProxy(mesh, s.name, target, block, target.timeouts.requestMs, false),
      },
    ];
  });
  const isTcp = (o: Outbound) => serviceByName(mesh, o.service)?.protocol === 'tcp';
  const streamOutbound = outbound.filter(isTcp);
  const tcp = s.protocol === 'tcp';
  return {
    callers: s.callers.map((c) => subjectRfc2253(c, mesh.namespace, mesh.trustDomain)),
    ...prelude(mesh, s.name, `sidecar of service "${s.name}"`, egress || tcp || streamOutbound.length > 0,
      logView(mesh, { inbound: !tcp, outbound: outbound.length > streamOutbound.length, egress, tcpInbound: tcp, tcpOutbound: streamOutbound.length > 0 })),
    tls: tlsOf(s.name),
    tcp,
    inboundListen: `${sc.bindAddress}:${sc.inboundPort}`,
    inboundHttp2: h2,
    appAddress: `${sc.appAddress}:${s.port}`,
    appPass: h2 ? 'grpc_pass grpc://meshc_app' : 'proxy_pass http://meshc_app',
    appHttp1: !h2,
    appSource: appSource(sc),
    appBind: h2 ? 'grpc_bind' : 'proxy_bind',
    appIdleTimeout: s.timeouts.idleMs !== undefined ? duration(s.timeouts.idleMs) : '',
    probeListen: `${sc.bindAddress}:${sc.probePort}`,
    healthPath: s.healthPath,
    adminListen: `${sc.localAddress}:${sc.adminPort}`,
    metrics: metricsView(mesh, sc.bindAddress),
    outbound: outbound.filter((o) => !isTcp(o)),
    streamOutbound,
    egress: egress ? egressView(mesh, s.egress, sc.localAddress, sc.egressHttpPort, sc.egressTlsPort) : false,
  };
}

function redirectLocation(mesh: Mesh): string {
  const port = mesh.ingress.httpsPort === 443 ? '' : `:${mesh.ingress.httpsPort}`;
  return `https://$host${port}$request_uri`;
}

export function ingressView(mesh: Mesh): IngressView {
  const ing = mesh.ingress;
  const routed = [...new Set(ing.hosts.flatMap((h) => h.routes.map((r) => r.service)))].sort();
  const block = (svc: string) => blockName('meshc_svc_', svc);
  const hostView = (h: IngressHost) => ({
    host: h.host,
    cert: fromConf(ingressCertPath(h.host)),
    key: fromConf(ingressKeyPath(h.host)),
    redirect: h.redirectHttp,
    location: redirectLocation(mesh),
    routes: h.routes.flatMap((r) => {
      const s = serviceByName(mesh, r.service);
      if (!s) return [];
      return [{ prefix: r.pathPrefix, service: s.name, proxy: meshProxy(mesh, ing.name, s, block(s.name), r.timeoutMs ?? s.timeouts.requestMs, true) }];
    }),
    catchAll: !h.routes.some((r) => r.pathPrefix === '/'),
  });
  return {
    ...prelude(mesh, ing.name, 'ingress gateway', false, logView(mesh, { ingress: true })),
    httpsListen: `${ing.bindAddress}:${ing.httpsPort}`,
    httpListen: `${ing.bindAddress}:${ing.httpPort}`,
    adminListen: `127.0.0.1:${ing.adminPort}`,
    metrics: metricsView(mesh, ing.bindAddress),
    trustForwardedProto: ing.trustForwardedProto,
    upstreams: routed.flatMap((name) => {
      const s = serviceByName(mesh, name);
      return s && !resolvedAtRunTime(mesh, s) ? [upstreamBlock(s, block(name))] : [];
    }),
    hosts: ing.hosts.map(hostView),
  };
}

export function egressGatewayView(mesh: Mesh): EgressGatewayView {
  const gw = mesh.egressGateway;
  return {
    ...prelude(mesh, gw.name, 'egress gateway', true, logView(mesh, { egress: true })),
    adminListen: `127.0.0.1:${gw.adminPort}`,
    metrics: metricsView(mesh, gw.bindAddress),
    egress: egressView(mesh, gw.allow, gw.bindAddress, gw.httpPort, gw.tlsPort),
  };
}
