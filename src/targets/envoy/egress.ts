/**
 * Egress by allow-list, shared by every sidecar (its own list plus the mesh-wide one) and the
 * egress gateway (the union of all lists).
 *
 * TLS: matched by SNI with the tls_inspector, passed through without terminating. One filter
 * chain per allowed name; there is no default chain, so a connection with another SNI (or none)
 * is closed. Exact names go to a LOGICAL_DNS cluster of their own; leading wildcards (`*.x`:
 * subdomains at any depth, never the apex) need the SNI dynamic forward proxy filter, which
 * resolves the SNI through the shared DNS cache.
 *
 * Plain HTTP: one virtual host per allowed name (by Host), forwarded through the HTTP dynamic
 * forward proxy; CONNECT to `name:tlsPort` is tunnelled the same way; everything else gets 403.
 *
 * Through the egress gateway (`egress.viaGateway`, always in Kubernetes): see egress-identity.ts;
 * without it, the egress gateway is this same allow-list for the union of every list.
 */
import type { Mesh } from '../../model/mesh.js';
import { reuse } from '../../output/yaml.js';
import {
  type Obj,
  directResponse,
  dnsCacheConfig,
  dnsLookupFamily,
  dnsResolverConfig,
  httpConnectionManager,
  router,
  SharedObjects,
  socketAddress,
  tcpProxy,
  tlsInspector,
  typed,
} from './common.js';
import { EGRESS_HTTP_ROUTE_STATS, egressTlsStatPrefix, STAT_PREFIX } from './metrics.js';
import { type LogPlace, httpAccessLog, listenerAccessLog, tcpAccessLog } from './telemetry.js';

export const DFP_CLUSTER = 'egress|dynamic-forward-proxy';
/** Header carrying `host:port` for the HTTP dynamic forward proxy when the HTTP port is not 80. */
const AUTHORITY_HEADER = 'x-meshc-egress-authority';

export interface EgressPlace {
  /** Stat prefix and listener name stem (`egress`, `egress-gateway`). */
  stem: string;
  address: string;
  tlsPort: number;
  httpPort: number;
}

export function isWildcard(name: string): boolean {
  return name.startsWith('*.');
}

type EgressResources = { readonly listeners: readonly Obj[]; readonly clusters: readonly Obj[] };

/**
 * Sidecars mostly share an allow-list (the mesh-wide one, plus their own if any) and the same
 * local ports, so their egress resources are the same objects, made once and written once (see
 * `reuse`). They depend on the mesh's DNS settings and egress ports alone.
 */
const shared = new WeakMap<Mesh['dns'], SharedObjects<EgressResources>>();

/** Listeners and clusters letting `allow` through and nothing else. Empty list: nothing at all. */
export function egressResources(mesh: Mesh, place: EgressPlace, allow: readonly string[]): EgressResources {
  if (allow.length === 0) return { listeners: [], clusters: [] };
  const key = JSON.stringify([mesh.egress.tlsPort, mesh.egress.httpPort, place, allow]);
  let byKey = shared.get(mesh.dns);
  if (!byKey) shared.set(mesh.dns, (byKey = new SharedObjects(64)));
  return byKey.get(key, () => {
    const made = directEgress(mesh, place, allow);
    return { listeners: Object.freeze(made.listeners.map(reuse)), clusters: Object.freeze(made.clusters.map(reuse)) };
  });
}

/** The allow-list straight to the destinations: [TLS listener, HTTP listener] and their clusters, new objects. */
export function directEgress(mesh: Mesh, place: EgressPlace, allow: readonly string[]): { listeners: Obj[]; clusters: Obj[] } {
  const { tlsPort, httpPort } = mesh.egress;
  const cache = dnsCacheConfig(mesh.dns);

  const log = { access_log: tcpAccessLog(mesh, EGRESS_PLACE, 'tls', false) };
  const tlsChains = allow.map((name) => ({
    filter_chain_match: { server_names: [name] },
    filters: isWildcard(name)
      ? [
          typed('envoy.filters.network.sni_dynamic_forward_proxy', 'envoy.extensions.filters.network.sni_dynamic_forward_proxy.v3.FilterConfig', {
            dns_cache_config: cache,
            // Without it the upstream port would be the listener's own.
            port_value: tlsPort,
          }),
          tcpProxy(egressTlsStatPrefix(name), DFP_CLUSTER, log),
        ]
      : [tcpProxy(egressTlsStatPrefix(name), exactClusterName(name), log)],
  }));

  const tlsListener = egressTlsListener(mesh, place, tlsChains);

  // HTTP by Host: the dynamic forward proxy takes the port from the Host header (80 when absent).
  // For another port, a header carrying `host:port` is added first and used as the host.
  const rewritePort = httpPort !== 80;
  const dfpPerRoute = rewritePort
    ? {
        'envoy.filters.http.dynamic_forward_proxy': {
          '@type': 'type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy.v3.PerRouteConfig',
          host_rewrite_header: AUTHORITY_HEADER,
        },
      }
    : undefined;
  // Only this route names the domain in its stats (metrics.ts): a Host with the port is counted in the listener's totals alone.
  const plain: Obj = { match: { prefix: '/' }, route: { cluster: DFP_CLUSTER }, stat_prefix: EGRESS_HTTP_ROUTE_STATS, typed_per_filter_config: dfpPerRoute, request_headers_to_remove: rewritePort ? [AUTHORITY_HEADER] : undefined };
  const virtualHosts: Obj[] = [];
  for (const name of allow) {
    virtualHosts.push(
      ...hostVirtualHosts(mesh, name, {
        plain,
        // A Host that names the port needs no rewrite: the forward proxy takes the port from it.
        plainWithPort: rewritePort ? { match: { prefix: '/' }, route: { cluster: DFP_CLUSTER }, request_headers_to_remove: [AUTHORITY_HEADER] } : plain,
        connect: { match: { connect_matcher: {} }, route: { cluster: DFP_CLUSTER, upgrade_configs: [{ upgrade_type: 'CONNECT', connect_config: {} }] } },
      }),
    );
  }
  virtualHosts.push(DENIED);

  const httpFilters: Obj[] = [];
  if (rewritePort) {
    httpFilters.push(
      typed('envoy.filters.http.header_mutation', 'envoy.extensions.filters.http.header_mutation.v3.HeaderMutation', {
        mutations: {
          request_mutations: [
            {
              append: {
                header: { key: AUTHORITY_HEADER, value: `%REQ(:AUTHORITY)%:${httpPort}` },
                append_action: 'OVERWRITE_IF_EXISTS_OR_ADD',
              },
            },
          ],
        },
      }),
    );
  }
  httpFilters.push(
    typed('envoy.filters.http.dynamic_forward_proxy', 'envoy.extensions.filters.http.dynamic_forward_proxy.v3.FilterConfig', { dns_cache_config: cache }),
    router(),
  );

  const httpListener = egressHttpListener(mesh, place, virtualHosts, httpFilters);

  const clusters: Obj[] = [
    {
      name: DFP_CLUSTER,
      connect_timeout: '5s',
      lb_policy: 'CLUSTER_PROVIDED',
      cluster_type: typed('envoy.clusters.dynamic_forward_proxy', 'envoy.extensions.clusters.dynamic_forward_proxy.v3.ClusterConfig', {
        dns_cache_config: cache,
      }),
    },
  ];
  for (const name of allow.filter((n) => !isWildcard(n))) {
    const clusterName = exactClusterName(name);
    clusters.push({
      name: clusterName,
      type: 'LOGICAL_DNS',
      dns_lookup_family: dnsLookupFamily(mesh.dns),
      typed_dns_resolver_config: dnsResolverConfig(mesh.dns),
      connect_timeout: '5s',
      load_assignment: {
        cluster_name: clusterName,
        endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(name, tlsPort) } }] }],
      },
    });
  }
  return { listeners: [tlsListener, httpListener], clusters };
}

/** Everything not allowed: 403, for plain requests and CONNECT alike. */
const DENIED: Obj = {
  name: 'denied',
  domains: ['*'],
  routes: [
    { match: { connect_matcher: {} }, direct_response: directResponse(403, 'egress denied by meshc\n') },
    { match: { prefix: '/' }, direct_response: directResponse(403, 'egress denied by meshc\n') },
  ],
};

export function deniedVirtualHost(): Obj {
  return DENIED;
}

/** Shared by sidecars and the egress gateway: the workload is read from the node id. */
export const EGRESS_PLACE: LogPlace = { direction: 'egress' };

/** The TLS egress listener: a filter chain per allowed name; no default chain, so another SNI (or none) is closed, and logged as refused. */
export function egressTlsListener(mesh: Mesh, place: EgressPlace, chains: Obj[]): Obj {
  return {
    name: `${place.stem}-tls`,
    stat_prefix: STAT_PREFIX.egressTls,
    address: socketAddress(place.address, place.tlsPort),
    access_log: listenerAccessLog(mesh, EGRESS_PLACE, { refusal: 'domain-not-allowed' }),
    listener_filters: [tlsInspector()],
    filter_chains: chains,
  };
}

/** The plain-HTTP egress listener: by Host, and CONNECT. */
export function egressHttpListener(mesh: Mesh, place: EgressPlace, virtualHosts: Obj[], httpFilters: Obj[]): Obj {
  return {
    name: `${place.stem}-http`,
    address: socketAddress(place.address, place.httpPort),
    filter_chains: [
      {
        filters: [
          httpConnectionManager({
            stat_prefix: `${place.stem}_http`,
            codec_type: 'HTTP1',
            http_protocol_options: { allow_absolute_url: true },
            upgrade_configs: [{ upgrade_type: 'CONNECT' }],
            access_log: httpAccessLog(mesh, EGRESS_PLACE),
            route_config: { name: `${place.stem}-http`, virtual_hosts: virtualHosts },
            http_filters: httpFilters,
          }),
        ],
      },
    ],
  };
}

/**
 * The virtual hosts of one allowed name: plain HTTP with `Host: name` or `Host: name:httpPort`
 * (what clients send when the port is not 80), and CONNECT to `name:tlsPort`. Envoy matches
 * domains exactly, port included, so a Host naming any other port falls to DENIED (403), as in
 * the nginx and HAProxy targets.
 */
export function hostVirtualHosts(mesh: Mesh, name: string, routes: { plain: Obj; plainWithPort: Obj; connect: Obj }): Obj[] {
  const { httpPort, tlsPort } = mesh.egress;
  const withPort = `${name}:${httpPort}`;
  // Domains are unique across virtual hosts: one port serving both takes both routes.
  if (httpPort === tlsPort) return [{ name: `http|${name}`, domains: [name], routes: [routes.plain] }, { name: `connect|${name}`, domains: [withPort], routes: [routes.connect, routes.plainWithPort] }];
  const http =
    routes.plainWithPort === routes.plain
      ? [{ name: `http|${name}`, domains: [name, withPort], routes: [routes.plain] }]
      : [{ name: `http|${name}`, domains: [name], routes: [routes.plain] }, { name: `http-port|${name}`, domains: [withPort], routes: [routes.plainWithPort] }];
  return [...http, { name: `connect|${name}`, domains: [`${name}:${tlsPort}`], routes: [routes.connect] }];
}

function exactClusterName(name: string): string {
  return `egress|${name}`;
}
