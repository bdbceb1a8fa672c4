/**
 * The two gateways: `envoy/ingress-gateway.yaml` (TLS termination by SNI, HTTP to HTTPS
 * redirect, routing by host and path prefix to services over mesh mTLS) and
 * `envoy/egress-gateway.yaml` (each caller's own egress list over mTLS with `viaGateway`, else the union).
 */
import type { CertMaterial } from '../../certs/material.js';
import { EGRESS_GATEWAY, INGRESS_GATEWAY, type IngressHost, type Mesh, type Service, serviceByName } from '../../model/mesh.js';
import {
  type Obj,
  admin,
  dnsResolverConfig,
  httpConnectionManager,
  router,
  serviceCluster,
  serviceRouteAction,
  socketAddress,
  tlsInspector,
  typed,
} from './common.js';
import { egressResources, isWildcard } from './egress.js';
import { gatewayEgressPerIdentity } from './egress-identity.js';
import { envoyMetrics, STAT_PREFIX } from './metrics.js';
import { ingressSdsPath, ingressSecretName, sdsSecretConfig } from './sds.js';
import { INGRESS_PLACE, httpAccessLog, httpTracing, listenerAccessLog, routeDestination, traceStartFilters, tracingClusters } from './telemetry.js';

/** Admin listeners of the gateways: loopback only. */
const GATEWAY_ADMIN_ADDRESS = '127.0.0.1';

export function ingressBootstrap(mesh: Mesh, certs: CertMaterial): Obj {
  const gw = mesh.ingress;
  const routed = routedServices(mesh);
  const listeners: Obj[] = [httpListener(mesh)];
  if (gw.hosts.length > 0) listeners.push(httpsListener(mesh, certs));
  const metrics = envoyMetrics(mesh, INGRESS_GATEWAY, gw.bindAddress, { address: GATEWAY_ADMIN_ADDRESS, port: gw.adminPort });
  return {
    node: { id: INGRESS_GATEWAY, cluster: INGRESS_GATEWAY },
    admin: admin(GATEWAY_ADMIN_ADDRESS, gw.adminPort),
    stats_config: metrics.statsConfig,
    typed_dns_resolver_config: dnsResolverConfig(mesh.dns),
    static_resources: {
      listeners: [...listeners, ...metrics.listeners],
      // Each calls its service as the gateway's own identity (by SDS).
      clusters: [...routed.map((svc) => serviceCluster(mesh, svc, INGRESS_GATEWAY)), ...tracingClusters(mesh), ...metrics.clusters],
    },
  };
}

/**
 * With `egress.viaGateway`, sidecars reach it over mTLS and each caller gets its own list (see
 * egress-identity.ts); without, it is a plain forward proxy for the union of every list.
 */
export function egressGatewayBootstrap(mesh: Mesh, certs: CertMaterial): Obj {
  const gw = mesh.egressGateway;
  const place = { stem: 'egress', address: gw.bindAddress, tlsPort: gw.tlsPort, httpPort: gw.httpPort };
  const egress = mesh.egress.viaGateway ? gatewayEgressPerIdentity(mesh, place) : egressResources(mesh, place, gw.allow);
  const metrics = envoyMetrics(mesh, EGRESS_GATEWAY, gw.bindAddress, { address: GATEWAY_ADMIN_ADDRESS, port: gw.adminPort });
  return {
    node: { id: EGRESS_GATEWAY, cluster: EGRESS_GATEWAY },
    admin: admin(GATEWAY_ADMIN_ADDRESS, gw.adminPort),
    stats_config: metrics.statsConfig,
    typed_dns_resolver_config: dnsResolverConfig(mesh.dns),
    static_resources: { listeners: [...egress.listeners, ...metrics.listeners], clusters: [...egress.clusters, ...tracingClusters(mesh), ...metrics.clusters] },
    layered_runtime: 'runtime' in egress ? egress.runtime : undefined,
  };
}

/** Every service an ingress route targets, sorted by name, each once. */
function routedServices(mesh: Mesh): Service[] {
  const names = new Set(mesh.ingress.hosts.flatMap((h) => h.routes.map((r) => r.service)));
  return mesh.services.filter((s) => names.has(s.name));
}

function service(mesh: Mesh, name: string): Service {
  const svc = serviceByName(mesh, name);
  if (!svc) throw new Error(`envoy: ingress route to unknown service ${name}`);
  return svc;
}

/** Routes of a host, longest prefix first (the order normalize gives), optionally guarded by a header. */
function serviceRoutes(mesh: Mesh, host: IngressHost, guard?: Obj[]): Obj[] {
  return host.routes.map((r) => ({
    match: { prefix: r.pathPrefix, headers: guard },
    route: serviceRouteAction(service(mesh, r.service), r.timeoutMs),
    metadata: routeDestination(mesh, r.service),
  }));
}

/**
 * Plain HTTP: hosts with redirectHttp answer 301 to https (with the port when it is not 443);
 * with trustForwardedProto, a request already marked `x-forwarded-proto: https` by a
 * TLS-terminating load balancer is routed instead, so the redirect cannot loop. Hosts without
 * redirectHttp are served over plain HTTP. Unknown hosts: 404.
 */
function httpListener(mesh: Mesh): Obj {
  const gw = mesh.ingress;
  const virtualHosts = gw.hosts.map((host) => {
    const routes: Obj[] = [];
    if (!host.redirectHttp) {
      routes.push(...serviceRoutes(mesh, host));
    } else {
      if (gw.trustForwardedProto) {
        routes.push(...serviceRoutes(mesh, host, [{ name: 'x-forwarded-proto', string_match: { exact: 'https' } }]));
      }
      routes.push({
        match: { prefix: '/' },
        redirect: {
          https_redirect: true,
          // A literal host drops the port the client used for plain HTTP; wildcard hosts keep
          // the requested name, and port_redirect replaces its port.
          host_redirect: isWildcard(host.host) ? undefined : host.host,
          port_redirect: gw.httpsPort === 443 ? undefined : gw.httpsPort,
          response_code: 'MOVED_PERMANENTLY',
        },
      });
    }
    return { name: host.host, domains: hostDomains(host.host, gw.httpPort, 80), routes };
  });
  return {
    name: 'ingress-http',
    address: socketAddress(gw.bindAddress, gw.httpPort),
    filter_chains: [
      {
        filters: [
          httpConnectionManager({
            stat_prefix: 'ingress_http',
            ...forwardingSettings(gw.trustForwardedProto),
            ...ingressTelemetry(mesh),
            route_config: { name: 'ingress-http', virtual_hosts: virtualHosts },
            http_filters: [...traceStartFilters(mesh), router()],
          }),
        ],
      },
    ],
  };
}

/** One filter chain per host, its certificate chosen by SNI; no default chain, so unknown SNI is refused. */
function httpsListener(mesh: Mesh, certs: CertMaterial): Obj {
  const gw = mesh.ingress;
  return {
    name: 'ingress-https',
    stat_prefix: STAT_PREFIX.ingressHttps,
    address: socketAddress(gw.bindAddress, gw.httpsPort),
    access_log: listenerAccessLog(mesh, INGRESS_PLACE, { refusal: 'unknown-sni', handshakes: 'tls' }),
    listener_filters: [tlsInspector()],
    filter_chains: gw.hosts.map((host) => {
      if (!certs.ingressHosts.has(host.host)) throw new Error(`envoy: no certificate for ingress host ${host.host}`);
      return {
        filter_chain_match: { server_names: [host.host] },
        transport_socket: typed('envoy.transport_sockets.tls', 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', {
          common_tls_context: {
            // By SDS, so a renewed host certificate replaces the old one under the running gateway.
            tls_certificate_sds_secret_configs: [sdsSecretConfig(ingressSecretName(host.host), ingressSdsPath(host.host))],
            alpn_protocols: ['h2', 'http/1.1'],
          },
        }),
        filters: [
          httpConnectionManager({
            stat_prefix: 'ingress_https',
            ...forwardingSettings(gw.trustForwardedProto),
            ...ingressTelemetry(mesh),
            route_config: {
              name: `ingress-https|${host.host}`,
              virtual_hosts: [{ name: host.host, domains: hostDomains(host.host, gw.httpsPort, 443), routes: serviceRoutes(mesh, host) }],
            },
            http_filters: [...traceStartFilters(mesh), router()],
          }),
        ],
      };
    }),
  };
}

/**
 * Access log and tracing of the ingress connection managers. A request id the client sent is
 * kept (Envoy would replace it at the edge); one is generated when absent.
 */
function ingressTelemetry(mesh: Mesh): Obj {
  return { preserve_external_request_id: true, access_log: httpAccessLog(mesh, INGRESS_PLACE), tracing: httpTracing(mesh, INGRESS_GATEWAY) };
}

/** The host alone, and with the port when it is not the scheme's default. */
function hostDomains(host: string, port: number, defaultPort: number): string[] {
  return port === defaultPort ? [host] : [host, `${host}:${port}`];
}

/**
 * At the edge, Envoy uses the peer address and sets x-forwarded-proto itself. Behind a trusted
 * load balancer, the load balancer's x-forwarded-for hop and x-forwarded-proto are kept.
 */
function forwardingSettings(trustForwardedProto: boolean): Obj {
  return trustForwardedProto ? { use_remote_address: false, xff_num_trusted_hops: 1 } : { use_remote_address: true };
}
