/**
 * Prometheus metrics of an Envoy workload (`spec.telemetry.metrics`): a listener on the metrics
 * port that serves `/metrics` from the admin interface's `/stats/prometheus`, and a `stats_config`
 * that creates only the stats meshc documents (docs/observability.md) and turns the names of
 * clusters, domains and response classes into labels.
 *
 * Every series carries `mesh` and `workload` (the proxy that reports it); series about an edge
 * carry `destination` (the service or egress domain called); request counts carry `code`
 * (`2xx`...). Any other stat is never created (`stats_matcher`), which keeps the cost of stats on
 * the request path and the size of a scrape small.
 *
 * Reference: https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/metrics/v3/stats.proto
 */
import type { Mesh } from '../../model/mesh.js';
import { reuse } from '../../output/yaml.js';
import { type Obj, httpConnectionManager, router, SharedObjects, socketAddress } from './common.js';

/** Listener stat prefixes the stats matcher and the docs name. */
export const STAT_PREFIX = { inbound: 'inbound', egressTls: 'egress_tls', ingressHttps: 'ingress_https' } as const;

const ADMIN_CLUSTER = 'meshc|admin';

/** The stat prefix of an egress TLS filter chain: the domain becomes the `destination` label. */
export function egressTlsStatPrefix(domain: string): string {
  return `${STAT_PREFIX.egressTls}|${domain}`;
}

/** The stat prefix of an allowed plain-HTTP egress route (its virtual host names the domain). */
export const EGRESS_HTTP_ROUTE_STATS = 'egress_http';

/**
 * What a workload's bootstrap gains when metrics are on: `stats_config`, the metrics listener and
 * the cluster that reaches its own admin interface. Nothing when they are off.
 */
export function envoyMetrics(mesh: Mesh, workload: string, bindAddress: string, admin: { address: string; port: number }): { statsConfig?: Obj; listeners: Obj[]; clusters: Obj[] } {
  const m = mesh.telemetry.metrics;
  if (!m.enabled) return { listeners: [], clusters: [] };
  return {
    statsConfig: statsConfig(mesh.name, workload),
    listeners: [metricsListener(bindAddress, m.port, m.path)],
    clusters: [adminCluster(admin.address, admin.port)],
  };
}

function statsConfig(mesh: string, workload: string): Obj {
  return {
    // Envoy's default tags would add labels (and names) of their own; meshc names every label.
    use_all_default_tags: false,
    stats_tags: [{ tag_name: 'mesh', fixed_value: mesh }, { tag_name: 'workload', fixed_value: workload }, ...TAGS],
    stats_matcher: MATCHER,
  };
}

// In each regex the first group is cut from the metric name and the second is the label's value.
const TAGS: readonly Obj[] = [
  { tag_name: 'destination', regex: '^cluster\\.(outbound\\|([^.]+)\\.)' },
  { tag_name: 'destination', regex: '^cluster\\.(egress\\|(.+)\\.)upstream_cx_total$' },
  { tag_name: 'destination', regex: '^tcp\\.egress_tls(\\|(.+))\\.downstream_cx_total$' },
  { tag_name: 'destination', regex: '^vhost\\.(http\\|(.+)\\.)route\\.egress_http\\.' },
  { tag_name: 'code', regex: '\\.(?:upstream|downstream)_rq(_(\\dxx))$' },
];

/** The stats meshc documents; Envoy creates no other. */
const MATCHER: Obj = reuse({
  inclusion_list: {
    patterns: [
      // Caller side, per edge: requests by class, latency, connection and TLS failures.
      '^cluster\\.outbound\\|[^.]+\\.(upstream_rq_[1-5]xx|upstream_rq_total|upstream_rq_time|upstream_cx_total|upstream_cx_connect_fail|ssl\\.connection_error|ssl\\.fail_verify_error|ssl\\.fail_verify_san)$',
      // Callee side: requests refused by allowFrom (HTTP: 403), handshakes refused (no or foreign certificate; TCP: not a caller).
      '^http\\.inbound\\.rbac\\.(allowed|denied)$',
      '^listener\\.inbound\\.ssl\\.(connection_error|fail_verify_san|fail_verify_no_cert|fail_verify_error)$',
      // Egress: allowed connections and requests per domain, refusals; the connections of each
      // egress cluster (a domain, the forward proxy, the egress gateway).
      '^cluster\\.egress\\|.+\\.upstream_cx_total$',
      '^tcp\\.egress_tls\\|.+\\.downstream_cx_total$',
      '^listener\\.egress_tls\\.no_filter_chain_match$',
      '^vhost\\.http\\|.+\\.route\\.egress_http\\.(upstream_rq_[1-5]xx|upstream_rq_total|upstream_rq_time)$',
      '^http\\.egress_http\\.downstream_rq_[1-5]xx$',
      // Ingress: requests by class, unknown SNI.
      '^http\\.ingress_https?\\.downstream_rq_[1-5]xx$',
      '^listener\\.ingress_https\\.(no_filter_chain_match|ssl\\.connection_error)$',
    ].map((regex) => ({ safe_regex: { regex } })),
  },
});

/** `/metrics` on the metrics port, answered by the admin interface's Prometheus endpoint; any other path: 404. */
function metricsListener(address: string, port: number, path: string): Obj {
  return listeners.get(`${address}|${port}|${path}`, () =>
    reuse({
      name: 'metrics',
      address: socketAddress(address, port),
      filter_chains: [
        {
          filters: [
            httpConnectionManager({
              stat_prefix: 'metrics',
              route_config: {
                name: 'metrics',
                virtual_hosts: [
                  {
                    name: 'metrics',
                    domains: ['*'],
                    routes: [{ match: { path }, route: { cluster: ADMIN_CLUSTER, prefix_rewrite: '/stats/prometheus' } }],
                  },
                ],
              },
              http_filters: [router()],
            }),
          ],
        },
      ],
    }),
  );
}
const listeners = new SharedObjects<Obj>(64);

function adminCluster(address: string, port: number): Obj {
  return clusters.get(`${address}|${port}`, () =>
    reuse({
      name: ADMIN_CLUSTER,
      type: 'STATIC',
      connect_timeout: '1s',
      load_assignment: { cluster_name: ADMIN_CLUSTER, endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(address, port) } }] }] },
    }),
  );
}
const clusters = new SharedObjects<Obj>(64);
