/**
 * Building blocks shared by the Envoy sidecar and gateway bootstraps: typed extensions, TLS
 * contexts, clusters, DNS resolver settings. Every filter and extension carries a `typed_config`
 * with its `@type`: Envoy 1.39 removed the lookup by `name` alone.
 *
 * Reference: https://www.envoyproxy.io/docs/envoy/latest/api-v3/api
 */
import type { Dns, HashKey, HostPort, Identity, Mesh, Service } from '../../model/mesh.js';
import { reuse } from '../../output/yaml.js';
import { identitySdsRef, trustValidation, trustValidationMatching } from './sds.js';

export type Obj = Record<string, unknown>;

const T = 'type.googleapis.com/';

/** `{ name, typed_config: { '@type': ..., ...config } }`: the shape of every extension. */
export function typed(name: string, type: string, config: Obj = {}): Obj {
  return { name, typed_config: { '@type': typeUrl(type), ...config } };
}

/** One string per type URL, made once: the YAML emitter then writes the same flat string each time. */
function typeUrl(type: string): string {
  let url = typeUrls.get(type);
  if (url === undefined) typeUrls.set(type, (url = T + type));
  return url;
}
const typeUrls = new Map<string, string>();

/**
 * Objects many bootstraps hold the same of, made once per key and written once (see `reuse`):
 * a bounded cache, cleared when full, since it only saves work. `make` must return a new object
 * that no one changes afterwards.
 */
export class SharedObjects<T extends object, K = string> {
  private readonly byKey = new Map<K, T>();
  constructor(private readonly limit: number) {}

  get(key: K, make: () => T): T {
    let value = this.byKey.get(key);
    if (value === undefined) {
      if (this.byKey.size === this.limit) this.byKey.clear();
      this.byKey.set(key, (value = make()));
    }
    return value;
  }
}

/** Protobuf JSON duration (`"5s"`, `"0.25s"`). */
export function duration(ms: number): string {
  return `${ms / 1000}s`;
}

export function socketAddress(address: string, port: number): Obj {
  return { socket_address: { address, port_value: port } };
}

/** The bootstrap `admin` block. Admin is never reachable from outside the workload. */
export function admin(address: string, port: number): Obj {
  return { address: socketAddress(address, port) };
}

// ---------------------------------------------------------------------------------------- DNS

/**
 * The c-ares resolver pointed at `spec.dns.resolvers`, or undefined for the system resolver.
 * Set at bootstrap level and repeated in every DNS cluster and DNS cache, so no component falls
 * back to /etc/resolv.conf when the mesh names its resolvers.
 */
export function dnsResolverConfig(dns: Dns): Obj | undefined {
  if (dns.resolvers.length === 0) return undefined;
  let config = resolverConfigs.get(dns);
  if (!config) resolverConfigs.set(dns, (config = reuse(caresResolver(dns))));
  return config;
}
// Every DNS cluster carries the same resolver settings: one object, written once (see `reuse`).
const resolverConfigs = new WeakMap<Dns, Obj>();

function caresResolver(dns: Dns): Obj {
  return typed('envoy.network.dns_resolver.cares', 'envoy.extensions.network.dns_resolver.cares.v3.CaresDnsResolverConfig', {
    resolvers: dns.resolvers.map((r: HostPort) => socketAddress(r.host, r.port)),
    dns_resolver_options: { no_default_search_domain: true },
  });
}

/** `v4`: A records only (the default); `auto`: AAAA first, then A. */
export function dnsLookupFamily(dns: Dns): string {
  return dns.ipFamily === 'v4' ? 'V4_ONLY' : 'AUTO';
}

/**
 * The one DNS cache of a proxy's dynamic forward proxy. The filters and the cluster must carry
 * an identical copy, or Envoy refuses the configuration.
 */
export function dnsCacheConfig(dns: Dns): Obj {
  return {
    name: 'meshc_egress',
    dns_lookup_family: dnsLookupFamily(dns),
    typed_dns_resolver_config: dnsResolverConfig(dns),
  };
}

// ---------------------------------------------------------------------------------------- TLS

/**
 * Server side of mesh mTLS, as workload `self`: a client certificate from the mesh trust bundle is
 * required. Identity and trust come by SDS from files (see sds.ts), so a rotation replaces them
 * under the running Envoy.
 */
export function meshDownstreamTls(self: string, opts: { alpn?: string[]; allowedUris?: string[]; sanMatchers?: Obj[] } = {}): Obj {
  return typed('envoy.transport_sockets.tls', 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', {
    require_client_certificate: true,
    common_tls_context: {
      tls_certificate_sds_secret_configs: identitySdsRef(self),
      combined_validation_context: opts.sanMatchers ? trustValidationMatching(opts.sanMatchers) : trustValidation(opts.allowedUris),
      alpn_protocols: opts.alpn,
    },
  });
}

/** Client side of mesh mTLS, as workload `self`: its own identity, the trust bundle, the peer's SPIFFE URI. */
export function meshUpstreamTls(self: string, peer: Identity, alpn: string[]): Obj {
  return typed('envoy.transport_sockets.tls', 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', {
    sni: serverName(peer),
    common_tls_context: {
      tls_certificate_sds_secret_configs: identitySdsRef(self),
      combined_validation_context: trustValidation([peer.spiffeId]),
      alpn_protocols: alpn,
    },
  });
}

/** The SNI a caller sends: the peer's fully qualified cluster name. */
export function serverName(peer: Identity): string {
  return peer.dnsNames.find((n) => n.endsWith('.svc.cluster.local')) ?? peer.dnsNames[peer.dnsNames.length - 1] ?? peer.name;
}

// -------------------------------------------------------------------------------- HTTP pieces

export function router(): Obj {
  return typed('envoy.filters.http.router', 'envoy.extensions.filters.http.router.v3.Router');
}

export function httpConnectionManager(config: Obj): Obj {
  return typed('envoy.filters.network.http_connection_manager', 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', {
    codec_type: 'AUTO',
    ...config,
  });
}

export function tcpProxy(statPrefix: string, cluster: string, extra: Obj = {}): Obj {
  return typed('envoy.filters.network.tcp_proxy', 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', {
    stat_prefix: statPrefix,
    cluster,
    ...extra,
  });
}

export function tlsInspector(): Obj {
  return typed('envoy.filters.listener.tls_inspector', 'envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector');
}

export function directResponse(status: number, body: string): Obj {
  return { status, body: { inline_string: body } };
}

export function isHttp(svc: Service): boolean {
  return svc.protocol !== 'tcp';
}

export function usesHttp2(svc: Service): boolean {
  return svc.protocol === 'http2' || svc.protocol === 'grpc';
}

/** Upstream HTTP protocol options: HTTP/2 for http2 and grpc services, HTTP/1.1 otherwise. */
export function httpProtocolOptions(http2: boolean, idleMs?: number): Obj {
  return protocolOptions.get(`${http2}|${idleMs}`, () => reuse(makeProtocolOptions(http2, idleMs)));
}
const protocolOptions = new SharedObjects<Obj>(64);

function makeProtocolOptions(http2: boolean, idleMs?: number): Obj {
  return {
    'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
      '@type': T + 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
      common_http_protocol_options: idleMs === undefined ? undefined : { idle_timeout: duration(idleMs) },
      explicit_http_config: http2 ? { http2_protocol_options: {} } : { http_protocol_options: {} },
    },
  };
}

// ------------------------------------------------------------------------- service clusters

/** Name of the cluster that reaches a service's sidecars (from a sidecar or a gateway). */
export function serviceClusterName(service: string): string {
  return `outbound|${service}`;
}

/**
 * The cluster that reaches `target`'s sidecars over mesh mTLS as workload `self`: its endpoints
 * (STATIC for IP literals, STRICT_DNS otherwise), weights, load-balancing policy, outlier detection
 * and connection limits. All but the transport socket (which names the caller's own identity) is
 * the same for every caller, so it is made once per service and written once (see `reuse`).
 */
export function serviceCluster(mesh: Mesh, target: Service, self: string): Obj {
  let kept = clusters.get(target, () => ({ dns: mesh.dns, parts: makeServiceCluster(mesh, target) }));
  // The same service in another mesh: not kept.
  if (kept.dns !== mesh.dns) kept = { dns: mesh.dns, parts: makeServiceCluster(mesh, target) };
  const http2 = usesHttp2(target);
  return { ...kept.parts, transport_socket: meshUpstreamTls(self, target, isHttp(target) ? (http2 ? ['h2'] : ['http/1.1']) : []) };
}
/** What a service's cluster was made from (besides the service); bounded, so memory stays bounded for very large meshes. */
const clusters = new SharedObjects<{ dns: Dns; parts: Obj }, Service>(2048);

/** A service cluster without its transport socket; its parts are reused objects (written once each). */
function makeServiceCluster(mesh: Mesh, target: Service): Obj {
  const name = serviceClusterName(target.name);
  const allIp = target.endpoints.every((e) => e.isIp);
  const http2 = usesHttp2(target);
  const od = target.outlierDetection;
  const limits = target.connectionLimits;
  return {
    name,
    type: allIp ? 'STATIC' : 'STRICT_DNS',
    dns_lookup_family: allIp ? undefined : dnsLookupFamily(mesh.dns),
    typed_dns_resolver_config: allIp ? undefined : dnsResolverConfig(mesh.dns),
    connect_timeout: duration(target.timeouts.connectMs),
    load_assignment: reuse({
      cluster_name: name,
      endpoints: [
        {
          lb_endpoints: target.endpoints.map((e) => ({
            endpoint: { address: socketAddress(e.host, e.port) },
            load_balancing_weight: e.weight,
          })),
        },
      ],
    }),
    load_balancing_policy: reuse(loadBalancingPolicy(target)),
    typed_extension_protocol_options: isHttp(target) ? httpProtocolOptions(http2, target.timeouts.idleMs) : undefined,
    outlier_detection: od && {
      consecutive_5xx: od.consecutive5xx,
      interval: duration(od.intervalMs),
      base_ejection_time: duration(od.baseEjectionTimeMs),
      max_ejection_percent: od.maxEjectionPercent,
    },
    circuit_breakers: limits && {
      thresholds: [
        {
          priority: 'DEFAULT',
          max_connections: limits.maxConnections,
          max_pending_requests: limits.maxPendingRequests,
          max_requests: limits.maxRequests,
        },
      ],
    },
  };
}

/** The typed load-balancing policy extension (supersedes the `lb_policy` enum). */
export function loadBalancingPolicy(svc: Service): Obj {
  const lb = svc.loadBalancing;
  const base = 'envoy.extensions.load_balancing_policies.';
  let ext: Obj;
  switch (lb.policy) {
    case 'round_robin':
      ext = typed('envoy.load_balancing_policies.round_robin', base + 'round_robin.v3.RoundRobin');
      break;
    case 'least_request':
      ext = typed('envoy.load_balancing_policies.least_request', base + 'least_request.v3.LeastRequest', { choice_count: lb.choiceCount });
      break;
    case 'random':
      ext = typed('envoy.load_balancing_policies.random', base + 'random.v3.Random');
      break;
    case 'ring_hash':
      ext = typed('envoy.load_balancing_policies.ring_hash', base + 'ring_hash.v3.RingHash');
      break;
    case 'maglev':
      ext = typed('envoy.load_balancing_policies.maglev', base + 'maglev.v3.Maglev');
      break;
  }
  return { policies: [{ typed_extension_config: ext }] };
}

/** The route `hash_policy` of a consistent-hash service (none for other policies). */
export function routeHashPolicy(svc: Service): Obj[] | undefined {
  const key = svc.loadBalancing.hashOn;
  if (!key || (svc.loadBalancing.policy !== 'ring_hash' && svc.loadBalancing.policy !== 'maglev')) return undefined;
  return [hashPolicyEntry(key)];
}

function hashPolicyEntry(key: HashKey): Obj {
  switch (key.kind) {
    case 'header':
      return { header: { header_name: key.name } };
    case 'cookie':
      return { cookie: { name: key.name, ttl: key.ttlSeconds === undefined ? undefined : duration(key.ttlSeconds * 1000), path: key.ttlSeconds === undefined ? undefined : key.path } };
    case 'sourceIp':
      return { connection_properties: { source_ip: true } };
  }
}

/** The route action towards a service cluster: hash policy, retries, timeouts. */
export function serviceRouteAction(svc: Service, timeoutMs?: number): Obj {
  const r = svc.retries;
  const requestMs = timeoutMs ?? svc.timeouts.requestMs;
  return {
    cluster: serviceClusterName(svc.name),
    hash_policy: routeHashPolicy(svc),
    timeout: requestMs === undefined ? undefined : duration(requestMs),
    idle_timeout: svc.timeouts.idleMs === undefined ? undefined : duration(svc.timeouts.idleMs),
    retry_policy:
      r.attempts > 0
        ? {
            retry_on: r.retryOn.join(','),
            num_retries: r.attempts,
            per_try_timeout: r.perTryTimeoutMs === undefined ? undefined : duration(r.perTryTimeoutMs),
          }
        : undefined,
  };
}
