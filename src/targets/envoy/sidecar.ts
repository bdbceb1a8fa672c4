/**
 * The sidecar of one service (`envoy/<service>.yaml`). It holds only what this service needs:
 * its inbound listener, its probe listener, one outbound listener and cluster per upstream, and
 * its own egress allow-list, so its size grows with its edges, not with the mesh.
 */
import type { CertMaterial } from '../../certs/material.js';
import { type Mesh, type Service, identityByName, serviceByName } from '../../model/mesh.js';
import {
  type Obj,
  admin,
  directResponse,
  dnsResolverConfig,
  duration,
  httpConnectionManager,
  httpProtocolOptions,
  isHttp,
  meshDownstreamTls,
  router,
  SharedObjects,
  serviceCluster,
  serviceClusterName,
  serviceRouteAction,
  socketAddress,
  tcpProxy,
  typed,
  usesHttp2,
} from './common.js';
import { egressResources } from './egress.js';
import { sidecarEgressViaGateway } from './egress-identity.js';
import { envoyMetrics, STAT_PREFIX } from './metrics.js';
import { httpAccessLog, httpTracing, listenerAccessLog, tcpAccessLog, tracingClusters } from './telemetry.js';
import { reuse } from '../../output/yaml.js';

export const APP_CLUSTER = 'inbound|app';

export function sidecarBootstrap(mesh: Mesh, certs: CertMaterial, svc: Service): Obj {
  const sc = svc.sidecar;
  const own = ownResources(mesh, certs, svc);
  const gw = mesh.egressGateway;
  const place = { stem: 'egress', address: sc.localAddress, tlsPort: sc.egressTlsPort, httpPort: sc.egressHttpPort };
  const egress = mesh.egress.viaGateway
    ? sidecarEgressViaGateway(mesh, certs, place, svc.egress, { host: gw.address, tlsPort: gw.tlsPort, httpPort: gw.httpPort }, svc.name)
    : egressResources(mesh, place, svc.egress);
  const metrics = envoyMetrics(mesh, svc.name, sc.bindAddress, { address: sc.localAddress, port: sc.adminPort });
  return {
    node: { id: svc.name, cluster: svc.name },
    admin: admin(sc.localAddress, sc.adminPort),
    stats_config: metrics.statsConfig,
    typed_dns_resolver_config: dnsResolverConfig(mesh.dns),
    static_resources: {
      listeners: [...own.listeners, ...egress.listeners, ...metrics.listeners],
      clusters: [...own.clusters, ...egress.clusters, ...tracingClusters(mesh), ...metrics.clusters],
    },
  };
}

/** What a sidecar has apart from egress: inbound and probe listeners, the application cluster, a listener and a cluster per upstream. */
function ownResources(mesh: Mesh, certs: CertMaterial, svc: Service): { listeners: Obj[]; clusters: Obj[] } {
  const listeners: Obj[] = [inboundListener(mesh, certs, svc), probeListener(svc)];
  const clusters: Obj[] = [appCluster(svc)];
  for (const up of svc.upstreams) {
    const target = serviceByName(mesh, up.service);
    if (!target) throw new Error(`envoy: ${svc.name} calls unknown service ${up.service}`);
    listeners.push(outboundListener(mesh, svc, target, up.localPort));
    clusters.push(serviceCluster(mesh, target, svc.name));
  }
  return { listeners, clusters };
}

/** Identities allowed to call `svc`, as SPIFFE URIs. */
function callerUris(mesh: Mesh, svc: Service): string[] {
  return svc.callers.map((name) => spiffeId(mesh, name));
}

function spiffeId(mesh: Mesh, name: string): string {
  return identityByName(mesh, name)?.spiffeId ?? `spiffe://${mesh.trustDomain}/ns/${mesh.namespace}/sa/${name}`;
}

function rbacRules(uris: string[]): Obj {
  // ALLOW with no policy denies everything: a service without callers refuses every request.
  return {
    action: 'ALLOW',
    policies:
      uris.length === 0
        ? {}
        : {
            'allow-from': {
              permissions: [{ any: true }],
              principals: uris.map((u) => ({ authenticated: { principal_name: { exact: u } } })),
            },
          },
  };
}

/**
 * mTLS in, caller identity checked, forwarded to the application. HTTP services answer 403 to a
 * mesh identity that is not a caller (HTTP RBAC on the URI SAN). TCP services check the caller at
 * the handshake (the network RBAC filter only judges on the first byte, too late for protocols
 * where the server speaks first); without callers, the handshake can never succeed.
 */
function inboundListener(mesh: Mesh, certs: CertMaterial, svc: Service): Obj {
  const sc = svc.sidecar;
  const uris = callerUris(mesh, svc);
  const place = { direction: 'inbound', workload: svc.name, destination: svc.name } as const;
  if (!isHttp(svc)) {
    const handshakeUris = uris.length > 0 ? uris : [`spiffe://${mesh.trustDomain}/ns/${mesh.namespace}/sa/-no-caller-`];
    return {
      name: 'inbound',
      stat_prefix: STAT_PREFIX.inbound,
      address: socketAddress(sc.bindAddress, sc.inboundPort),
      filter_chains: [
        {
          transport_socket: meshDownstreamTls(svc.name, { allowedUris: handshakeUris }),
          filters: [
            typed('envoy.filters.network.rbac', 'envoy.extensions.filters.network.rbac.v3.RBAC', { stat_prefix: 'inbound_rbac', rules: rbacRules(uris) }),
            tcpProxy('inbound', APP_CLUSTER, {
              idle_timeout: svc.timeouts.idleMs === undefined ? undefined : duration(svc.timeouts.idleMs),
              // The application is dialled once the caller's certificate has passed the handshake:
              // by default tcp_proxy connects on accept, so a refused caller would open a connection.
              // Bytes the caller sends before the application answers the connect are held (up to 64 KiB).
              upstream_connect_mode: 'ON_DOWNSTREAM_TLS_HANDSHAKE',
              max_early_data_bytes: 65536,
              access_log: tcpAccessLog(mesh, place, 'tcp', true),
            }),
          ],
        },
      ],
    };
  }
  return {
    name: 'inbound',
    stat_prefix: STAT_PREFIX.inbound,
    address: socketAddress(sc.bindAddress, sc.inboundPort),
    // Refused handshakes (no certificate, another CA): the connection manager sees no request.
    access_log: listenerAccessLog(mesh, place, { handshakes: 'mtls' }),
    filter_chains: [
      {
        transport_socket: meshDownstreamTls(svc.name, { alpn: ['h2', 'http/1.1'] }),
        filters: [
          httpConnectionManager({
            stat_prefix: 'inbound',
            // The application sees the caller's identity in x-forwarded-client-cert.
            forward_client_cert_details: 'SANITIZE_SET',
            set_current_client_cert_details: { uri: true },
            access_log: httpAccessLog(mesh, place),
            tracing: httpTracing(mesh, svc.name),
            route_config: shared.get('inbound-routes', () =>
              reuse({
                name: 'inbound',
                virtual_hosts: [
                  {
                    name: 'inbound',
                    domains: ['*'],
                    // Timeouts are the caller's to set (its sidecar enforces them); none here.
                    routes: [{ match: { prefix: '/' }, route: { cluster: APP_CLUSTER, timeout: '0s' } }],
                  },
                ],
              }),
            ),
            http_filters: [
              typed('envoy.filters.http.rbac', 'envoy.extensions.filters.http.rbac.v3.RBAC', { rules: rbacRules(uris) }),
              router(),
            ],
          }),
        ],
      },
    ],
  };
}

/**
 * Pieces that many sidecars have the same of (the probe listener and the application cluster
 * of services on the same ports, the inbound TLS context and routes of HTTP services): made once
 * per key and written once, like an upstream's cluster (serviceCluster).
 */
const shared = new SharedObjects<Obj>(256);

/** Plaintext, for kubelet probes under strict mTLS: the health path reaches the app, nothing else. */
function probeListener(svc: Service): Obj {
  const sc = svc.sidecar;
  return shared.get(JSON.stringify(['probe', sc.bindAddress, sc.probePort, svc.healthPath]), () => reuse(makeProbeListener(svc)));
}

function makeProbeListener(svc: Service): Obj {
  const sc = svc.sidecar;
  return {
    name: 'probe',
    address: socketAddress(sc.bindAddress, sc.probePort),
    filter_chains: [
      {
        filters: [
          httpConnectionManager({
            stat_prefix: 'probe',
            route_config: {
              name: 'probe',
              virtual_hosts: [
                {
                  name: 'probe',
                  domains: ['*'],
                  routes: [
                    { match: { path: svc.healthPath }, route: { cluster: APP_CLUSTER } },
                    { match: { prefix: '/' }, direct_response: directResponse(404, 'not found\n') },
                  ],
                },
              ],
            },
            http_filters: [router()],
          }),
        ],
      },
    ],
  };
}

function appCluster(svc: Service): Obj {
  const sc = svc.sidecar;
  return shared.get(JSON.stringify(['app', sc.appAddress, svc.port, isHttp(svc), usesHttp2(svc), sc.localAddress]), () => reuse(makeAppCluster(svc)));
}

function makeAppCluster(svc: Service): Obj {
  const sc = svc.sidecar;
  return {
    name: APP_CLUSTER,
    type: 'STATIC',
    connect_timeout: '5s',
    load_assignment: {
      cluster_name: APP_CLUSTER,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(sc.appAddress, svc.port) } }] }],
    },
    typed_extension_protocol_options: isHttp(svc) ? httpProtocolOptions(usesHttp2(svc)) : undefined,
    // On loopback, connect from the sidecar's own address (the kernel would pick 127.0.0.1), so
    // the application (or a firewall rule) can tell its sidecar's connections from anyone else's.
    upstream_bind_config:
      isLoopback(sc.appAddress) && isLoopback(sc.localAddress) ? { source_address: { address: sc.localAddress, port_value: 0 } } : undefined,
  };
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.');
}

/** Plaintext from the application on `localAddress:localPort`, mTLS out to the upstream. */
function outboundListener(mesh: Mesh, svc: Service, target: Service, localPort: number): Obj {
  // Spans name the caller, so with tracing each caller has chains of its own.
  const chains = mesh.telemetry.tracing && isHttp(target) ? makeOutboundFilterChains(mesh, target, svc.name) : outboundFilterChains(mesh, target);
  return { name: `outbound|${target.name}`, address: socketAddress(svc.sidecar.localAddress, localPort), filter_chains: chains };
}

/**
 * What an outbound listener does with a connection: the same for every caller of `target`, so
 * made once per service and written once (see `reuse`), like its cluster (serviceCluster).
 */
function outboundFilterChains(mesh: Mesh, target: Service): Obj[] {
  return outboundChains.get(target, () => reuse(makeOutboundFilterChains(mesh, target)));
}
/** Bounded like serviceCluster's cache. */
const outboundChains = new SharedObjects<Obj[], Service>(2048);

function makeOutboundFilterChains(mesh: Mesh, target: Service, caller?: string): Obj[] {
  const name = `outbound|${target.name}`;
  // The caller's name is read from the node id where the chains are shared.
  const place = { direction: 'outbound', destination: target.name } as const;
  if (!isHttp(target)) {
    const sourceIp = target.loadBalancing.hashOn?.kind === 'sourceIp' && (target.loadBalancing.policy === 'ring_hash' || target.loadBalancing.policy === 'maglev');
    return [
      {
        filters: [
          tcpProxy(`outbound_${target.name}`, serviceClusterName(target.name), {
            hash_policy: sourceIp ? [{ source_ip: {} }] : undefined,
            // TCP can retry only the connection itself.
            max_connect_attempts: target.retries.attempts > 0 ? target.retries.attempts + 1 : undefined,
            idle_timeout: target.timeouts.idleMs === undefined ? undefined : duration(target.timeouts.idleMs),
            access_log: tcpAccessLog(mesh, place, 'tcp', false),
          }),
        ],
      },
    ];
  }
  return [
    {
      filters: [
        httpConnectionManager({
          stat_prefix: `outbound_${target.name}`,
          access_log: httpAccessLog(mesh, place),
          tracing: caller === undefined ? undefined : httpTracing(mesh, caller),
          route_config: {
            name,
            virtual_hosts: [{ name: target.name, domains: ['*'], routes: [{ match: { prefix: '/' }, route: serviceRouteAction(target) }] }],
          },
          http_filters: [router()],
        }),
      ],
    },
  ];
}
