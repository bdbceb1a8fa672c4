/**
 * Egress through the egress gateway, authorised per identity (`egress.viaGateway`, always in
 * Kubernetes). The sidecar-to-gateway hop is mutual TLS with the sidecar's mesh identity, and the
 * gateway lets a caller reach a domain only when that caller's own list allows it, so an
 * application cannot use the gateway to reach what another service may reach.
 *
 * Sidecar: it keeps its own allow-list. TLS from the application is read by SNI (tls_inspector)
 * and sent, untouched, inside an mTLS connection to the gateway whose SNI is the same name (the
 * set_filter_state filter copies the requested server name into the upstream SNI); a CONNECT
 * tunnel is sent the same way (the CONNECT authority becomes the SNI); plain HTTP goes to the
 * gateway's HTTP port over mTLS with its Host header.
 *
 * Gateway: one TLS filter chain per allowed name (server_names), each requiring a client
 * certificate from the mesh trust bundle whose SPIFFE ID is one of the services allowed that name
 * (refused at the handshake otherwise), then the network RBAC filter on the same principals and
 * the requested server name, then the bytes (the application's own TLS) to the destination. The
 * HTTP port requires a mesh certificate too, and answers 403 unless the caller is allowed the
 * Host it asks for (HTTP RBAC per virtual host). Without a mesh certificate nothing passes.
 *
 * Like Istio's ISTIO_MUTUAL egress: https://istio.io/latest/docs/tasks/traffic-management/egress/egress-gateway/
 */
import type { CertMaterial } from '../../certs/material.js';
import type { Identity, Mesh } from '../../model/mesh.js';
import { reuse } from '../../output/yaml.js';
import {
  type Obj,
  dnsLookupFamily,
  dnsResolverConfig,
  httpProtocolOptions,
  meshDownstreamTls,
  meshUpstreamTls,
  router,
  SharedObjects,
  socketAddress,
  tcpProxy,
  typed,
} from './common.js';
import { type EgressPlace, EGRESS_PLACE, deniedVirtualHost, directEgress, egressHttpListener, egressTlsListener, hostVirtualHosts, isWildcard } from './egress.js';
import { EGRESS_HTTP_ROUTE_STATS, egressTlsStatPrefix } from './metrics.js';
import { tcpAccessLog } from './telemetry.js';

export const GATEWAY_TLS_CLUSTER = 'egress|gateway-tls';
export const GATEWAY_HTTP_CLUSTER = 'egress|gateway-http';

/** Where a sidecar reaches the egress gateway. */
export interface EgressVia {
  host: string;
  tlsPort: number;
  httpPort: number;
}

type EgressResources = { readonly listeners: readonly Obj[]; readonly clusters: readonly Obj[] };

/** A sidecar's egress objects, made once per sidecar and list and written once (see `reuse`): the Kubernetes target writes the bootstraps again. */
const sidecarShared = new WeakMap<Mesh['dns'], SharedObjects<EgressResources>>();

/** Sidecar `self`'s egress through the gateway: its own list, one mTLS next hop as its own identity. Empty list: nothing. */
export function sidecarEgressViaGateway(mesh: Mesh, certs: CertMaterial, place: EgressPlace, allow: readonly string[], via: EgressVia, self: string): EgressResources {
  if (allow.length === 0) return { listeners: [], clusters: [] };
  const gateway = mesh.egressGateway;
  const key = JSON.stringify([mesh.egress.tlsPort, mesh.egress.httpPort, place, allow, via, certs.trustBundlePath, gateway.spiffeId, self]);
  let byKey = sidecarShared.get(mesh.dns);
  if (!byKey) sidecarShared.set(mesh.dns, (byKey = new SharedObjects(64)));
  return byKey.get(key, () => {
    const made = makeSidecarEgress(mesh, place, allow, via, gateway, self);
    return { listeners: Object.freeze(made.listeners.map(reuse)), clusters: Object.freeze(made.clusters.map(reuse)) };
  });
}

function makeSidecarEgress(mesh: Mesh, place: EgressPlace, allow: readonly string[], via: EgressVia, gateway: Identity, self: string): { listeners: Obj[]; clusters: Obj[] } {
  const log = { access_log: tcpAccessLog(mesh, EGRESS_PLACE, 'tls', false) };
  const tlsListener = egressTlsListener(
    mesh,
    place,
    allow.map((name) => ({
      filter_chain_match: { server_names: [name] },
      filters: [sniToUpstream(), tcpProxy(egressTlsStatPrefix(name), GATEWAY_TLS_CLUSTER, log)],
    })),
  );
  const virtualHosts: Obj[] = [];
  const plain = { match: { prefix: '/' }, route: { cluster: GATEWAY_HTTP_CLUSTER }, stat_prefix: EGRESS_HTTP_ROUTE_STATS };
  // connect_config: the sidecar answers the CONNECT and sends the tunnelled bytes (a TLS
  // stream) to the gateway's TLS port, with the CONNECT host as the SNI (auto_sni below).
  const connect = { match: { connect_matcher: {} }, route: { cluster: GATEWAY_TLS_CLUSTER, upgrade_configs: [{ upgrade_type: 'CONNECT', connect_config: {} }] } };
  for (const name of allow) virtualHosts.push(...hostVirtualHosts(mesh, name, { plain, plainWithPort: plain, connect }));
  virtualHosts.push(deniedVirtualHost());
  const httpListener = egressHttpListener(mesh, place, virtualHosts, [router()]);
  const ip = /^\d+\.\d+\.\d+\.\d+$/.test(via.host);
  const cluster = (name: string, port: number, extra: Obj): Obj => ({
    name,
    type: ip ? 'STATIC' : 'STRICT_DNS',
    dns_lookup_family: ip ? undefined : dnsLookupFamily(mesh.dns),
    typed_dns_resolver_config: ip ? undefined : dnsResolverConfig(mesh.dns),
    connect_timeout: '5s',
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(via.host, port) } }] }] },
    ...extra,
  });
  return {
    listeners: [tlsListener, httpListener],
    clusters: [
      cluster(GATEWAY_TLS_CLUSTER, via.tlsPort, {
        // The SNI is the destination's name (set per connection); the gateway must prove it is the egress gateway.
        transport_socket: meshUpstreamTls(self, gateway, []),
        typed_extension_protocol_options: CONNECT_AUTO_SNI,
      }),
      cluster(GATEWAY_HTTP_CLUSTER, via.httpPort, {
        transport_socket: meshUpstreamTls(self, gateway, ['http/1.1']),
        typed_extension_protocol_options: httpProtocolOptions(false),
      }),
    ],
  };
}

/** The requested server name (the application's SNI) becomes the SNI of the connection to the gateway. */
function sniToUpstream(): Obj {
  return typed('envoy.filters.network.set_filter_state', 'envoy.extensions.filters.network.set_filter_state.v3.Config', {
    on_new_connection: [{ object_key: 'envoy.network.upstream_server_name', format_string: { text_format_source: { inline_string: '%REQUESTED_SERVER_NAME%' } } }],
  });
}

/** For CONNECT tunnels terminated by the sidecar: the SNI towards the gateway is the CONNECT host. */
const CONNECT_AUTO_SNI: Obj = reuse({
  'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
    '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
    upstream_http_protocol_options: { auto_sni: true },
    explicit_http_config: { http_protocol_options: {} },
  },
});

// ---------------------------------------------------------------------------------- gateway

/** True when `pattern` (an allow-list entry) allows every name `name` (a name or a wildcard) stands for. */
export function covers(pattern: string, name: string): boolean {
  if (pattern === name) return true;
  // `*.x` allows names ending in `.x` at any depth, never `x`; `*.a.x` ends in `.x` too.
  return isWildcard(pattern) && name.endsWith(pattern.slice(1)) && name.length > pattern.length - 1;
}

/**
 * The SPIFFE IDs allowed each name of the gateway's list: every service whose own effective list
 * covers it. The most specific filter chain wins in Envoy, so a chain for `api.x.com` also admits
 * the services allowed `*.x.com`.
 */
export function egressPrincipals(mesh: Mesh): Map<string, string[]> {
  const every = mesh.services.map((s) => s.spiffeId);
  // Services by own pattern: a name is matched against each distinct pattern once, not per service.
  const byPattern = new Map<string, number[]>();
  mesh.services.forEach((s, i) => {
    for (const p of s.ownEgress) byPattern.set(p, [...(byPattern.get(p) ?? []), i]);
  });
  const byName = new Map<string, string[]>();
  for (const name of mesh.egressGateway.allow) {
    if (mesh.egress.allow.some((p) => covers(p, name))) {
      byName.set(name, every); // the mesh-wide list is in every service's own
      continue;
    }
    const admitted = new Set<number>();
    for (const [p, services] of byPattern) if (covers(p, name)) for (const i of services) admitted.add(i);
    byName.set(name, [...admitted].sort((a, b) => a - b).map((i) => every[i]));
  }
  return byName;
}

/** The egress gateway's listeners and clusters (its identity by SDS) when sidecars reach it over mTLS. */
export function gatewayEgressPerIdentity(mesh: Mesh, place: EgressPlace): { listeners: Obj[]; clusters: Obj[]; runtime?: Obj } {
  const byName = egressPrincipals(mesh);
  const allow = mesh.egressGateway.allow.filter((n) => (byName.get(n) ?? []).length > 0);
  if (allow.length === 0) return { listeners: [], clusters: [] };
  const matchers = new IdentityMatchers(mesh);
  const principals = new Map([...byName].map(([name, ids]) => [name, matchers.of(ids)]));
  const made = directEgress(mesh, place, allow);
  const [tls, http] = made.listeners as [Obj, Obj];
  const tlsChains = (tls.filter_chains as Obj[]).map((chain) => {
    const name = ((chain.filter_chain_match as Obj).server_names as string[])[0];
    const ids = principals.get(name) ?? [];
    return {
      ...chain,
      // Refused at the handshake: no certificate, another CA, or an identity not allowed this name.
      transport_socket: meshDownstreamTls(mesh.egressGateway.name, { sanMatchers: ids.map((matcher) => ({ san_type: 'URI', matcher })) }),
      filters: [networkRbac(name, ids), ...(chain.filters as Obj[]).map((f) => connectOnData(f, tcpAccessLog(mesh, EGRESS_PLACE, 'tls', 'egress-gateway')))],
    };
  });
  return {
    listeners: [{ ...tls, filter_chains: tlsChains }, httpPerIdentity(mesh.egressGateway.name, http, principals)],
    clusters: made.clusters,
    runtime: matchers.runtime(),
  };
}

/**
 * The identities a name admits, as string matchers on the SPIFFE ID: exact IDs for a few, else
 * one anchored regex listing the service names. A name every service may reach lists them all,
 * and the gateway has it on three matchers (handshake, network RBAC, HTTP Host): one
 * regex keeps a 1,000-service gateway inside a ConfigMap's 1 MiB. Names are DNS labels, so the
 * alternation needs no escaping, and it is exact: a removed service's certificate matches none.
 */
class IdentityMatchers {
  private readonly prefix: string;
  private readonly made = new Map<string, Obj>();
  private longest = 0;
  constructor(private readonly mesh: Mesh) {
    this.prefix = `spiffe://${mesh.trustDomain}/ns/${mesh.namespace}/sa/`;
  }

  of(ids: string[]): Obj[] {
    if (ids.length <= EXACT_IDS) return ids.map((exact) => ({ exact }));
    const key = ids.join(' ');
    let m = this.made.get(key);
    if (!m) {
      const names = ids.map((id) => {
        if (!id.startsWith(this.prefix)) throw new Error(`envoy: ${id} is not an identity of mesh ${this.mesh.name}`);
        return id.slice(this.prefix.length);
      });
      const regex = `^${this.prefix.replace(/[.^$|?*+()[\]{}\\]/g, '\\$&')}(?:${names.join('|')})$`;
      this.longest = Math.max(this.longest, regex.length);
      this.made.set(key, (m = reuse({ safe_regex: { regex } })));
    }
    return [m];
  }

  /**
   * Envoy refuses a regex whose compiled program exceeds `re2.max_program_size.error_level`
   * (default 100); an alternation of literals compiles to no more instructions than it has characters.
   */
  runtime(): Obj | undefined {
    if (this.longest === 0) return undefined;
    return { layers: [{ name: 'meshc-egress-identities', static_layer: { 're2.max_program_size.error_level': Math.max(100, this.longest + 100) } }] };
  }
}
/** Principal sets up to this size are written as exact SPIFFE IDs. */
const EXACT_IDS = 2;

/**
 * The destination is dialled only once the caller's first bytes have passed the handshake and
 * RBAC: by default tcp_proxy connects as soon as a connection is accepted, so a refused caller
 * would still open a connection to the destination.
 */
function connectOnData(filter: Obj, gatewayLog: Obj[] | undefined): Obj {
  if (filter.name !== 'envoy.filters.network.tcp_proxy') return filter;
  return {
    ...filter,
    typed_config: { ...(filter.typed_config as Obj), upstream_connect_mode: 'ON_DOWNSTREAM_DATA', max_early_data_bytes: EARLY_DATA_BYTES, access_log: gatewayLog },
  };
}
/** What the gateway holds of a caller's first bytes (its TLS ClientHello) before the destination answers. */
const EARLY_DATA_BYTES = 65536;

function serverNameMatcher(name: string): Obj {
  return isWildcard(name) ? { suffix: name.slice(1), ignore_case: true } : { exact: name, ignore_case: true };
}

function principalsOf(matchers: Obj[]): Obj[] {
  return matchers.map((principal_name) => ({ authenticated: { principal_name } }));
}

/** Caller identity and requested name again, after the handshake (defence in depth). */
function networkRbac(name: string, ids: Obj[]): Obj {
  return typed('envoy.filters.network.rbac', 'envoy.extensions.filters.network.rbac.v3.RBAC', {
    stat_prefix: 'egress_rbac',
    rules: { action: 'ALLOW', policies: { [`egress|${name}`]: { permissions: [{ requested_server_name: serverNameMatcher(name) }], principals: principalsOf(ids) } } },
  });
}

/**
 * The HTTP listener with mTLS in front and HTTP RBAC: denied by default (403), each virtual host
 * (an allowed name, by Host) admitting the identities allowed that name.
 */
function httpPerIdentity(self: string, listener: Obj, principals: Map<string, Obj[]>): Obj {
  const chain = (listener.filter_chains as Obj[])[0];
  const hcm = (chain.filters as Obj[])[0];
  const config = hcm.typed_config as Obj;
  const routeConfig = config.route_config as Obj;
  // Sidecars answer CONNECT themselves and send the tunnel to the TLS port: no CONNECT here.
  const virtualHosts = (routeConfig.virtual_hosts as Obj[]).filter((vh) => !(vh.name as string).startsWith('connect|')).map((vh) => {
    const name = allowedNameOf(vh.name as string);
    if (name === undefined) return vh;
    return {
      ...vh,
      typed_per_filter_config: {
        'envoy.filters.http.rbac': {
          '@type': 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute',
          rbac: { rules: { action: 'ALLOW', policies: { [`egress|${name}`]: { permissions: [{ any: true }], principals: principalsOf(principals.get(name) ?? []) } } } },
        },
      },
    };
  });
  const rbac = typed('envoy.filters.http.rbac', 'envoy.extensions.filters.http.rbac.v3.RBAC', { rules: { action: 'ALLOW', policies: {} } });
  return {
    ...listener,
    filter_chains: [
      {
        ...chain,
        transport_socket: meshDownstreamTls(self, { alpn: ['http/1.1'] }),
        filters: [
          {
            ...hcm,
            typed_config: {
              ...config,
              route_config: { ...routeConfig, virtual_hosts: virtualHosts },
              http_filters: [rbac, ...(config.http_filters as Obj[])],
            },
          },
        ],
      },
    ],
  };
}

/** `http|api.x.com` → `api.x.com`; the denied host → undefined. */
function allowedNameOf(virtualHost: string): string | undefined {
  const bar = virtualHost.indexOf('|');
  return bar < 0 ? undefined : virtualHost.slice(bar + 1);
}
