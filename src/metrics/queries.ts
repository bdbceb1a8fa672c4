/**
 * The series each proxy target emits, as PromQL: the one place that names them. The Grafana
 * dashboard, `meshc graph --metrics`, docs/observability.md and the metrics scenario of the
 * integration tests all read these, so a dashboard query is exactly what the proxies serve.
 *
 * Labels (docs/observability.md): `mesh`, `workload` (the proxy that reports: a service or a
 * gateway), `destination` (the service or egress domain an edge reaches), `code` (`2xx`...). An
 * edge is `workload → destination` on the caller's series. Envoy sets every label itself; the
 * HAProxy exporter cannot add labels, so `mesh` and `workload` come from the scrape (the pods'
 * labels, or the static target labels) and `destination` from the proxy name (`up_<service>`
 * in a sidecar, `svc_<service>` in the ingress gateway). nginx serves connection gauges only.
 */

export type MetricsProxy = 'envoy' | 'haproxy' | 'nginx';

/** One query of the catalog: what it shows, its PromQL, and the labels of its result. */
export interface Query {
  id: string;
  title: string;
  /** Unit of the result, for the dashboard. */
  unit: 'reqps' | 'percentunit' | 's' | 'short' | 'cps';
  expr: string;
  /** Labels that tell the result's series apart. */
  by: string[];
}

/** The queries a proxy's series can answer; `undefined` where the proxy has no such series (a named gap in the capability matrix). */
export interface ProxyQueries {
  /** Per edge and response class: requests per second. */
  requestRate?: Query;
  /** Per edge: the share of requests answered 5xx. */
  errorRatio?: Query;
  /** Per edge: the 99th percentile of the response time, in seconds. */
  latencyP99?: Query;
  /** Per edge: the average response time, in seconds, where there is no histogram. */
  latencyAverage?: Query;
  /** Per edge: failed connections (and TLS handshakes) per second. */
  connectFailures?: Query;
  tlsFailures?: Query;
  /** At the callee: requests or handshakes refused by authorization, per second. */
  refused?: Query;
  /** Egress: allowed connections or requests per domain, per second. */
  egressAllowed?: Query;
  /** Egress: refused connections or requests, per second. */
  egressRefused?: Query;
  /** Connections the proxy holds now. */
  connections?: Query;
  /** Counters behind requestRate, without rate(): requests per edge and class so far (tests compare them with what was sent). */
  requestTotal?: Query;
  /** Observations in the latency histogram so far, per edge. */
  latencyObservations?: Query;
  /** Refusals at the callee so far. */
  refusedTotal?: Query;
  egressAllowedTotal?: Query;
  egressRefusedTotal?: Query;
}

const EDGE = ['workload', 'destination'];

/** `mesh="name"`: every query is scoped to one mesh. */
function meshSel(mesh: string): string {
  return `mesh=${JSON.stringify(mesh)}`;
}

/** HAProxy names the callee in the proxy name: `up_<service>` (sidecar) or `svc_<service>[_t<ms>]` (ingress). */
function haproxyEdge(series: string): string {
  return `label_replace(${series}, "destination", "$2", "proxy", "(up|svc)_([a-z0-9-]+?)(_t[0-9]+)?")`;
}

/** a + b where both have a series, else whichever has one (PromQL's `+` drops series missing on one side). */
function plus(a: string, b: string): string {
  return `(${a} + ${b}) or ${a} or ${b}`;
}

export function proxyQueries(proxy: MetricsProxy, mesh: string, range = '1m'): ProxyQueries {
  const m = meshSel(mesh);
  const q = (id: string, title: string, unit: Query['unit'], by: string[], expr: string): Query => ({ id, title, unit, by, expr });
  if (proxy === 'envoy') {
    // TLS connections and HTTP requests to a domain, summed: one series per edge.
    const egressAllowed = (inner: (s: string) => string) =>
      plus(inner(`envoy_tcp_egress_tls_downstream_cx_total{${m}}`), inner(`envoy_vhost_route_egress_http_upstream_rq_total{${m}}`));
    // A refused plain-HTTP egress request is a 403 of the egress listener that no allowed route answered.
    const egressHttpRefused = (inner: (s: string) => string) =>
      `(${inner(`envoy_http_egress_http_downstream_rq{${m},code="4xx"}`)} - (${inner(`envoy_vhost_route_egress_http_upstream_rq{${m},code="4xx"}`)} or ${inner(`envoy_http_egress_http_downstream_rq{${m},code="4xx"}`)} * 0))`;
    return {
      requestRate: q('request-rate', 'Requests per second by edge and response class', 'reqps', [...EDGE, 'code'], `sum by (workload, destination, code) (rate(envoy_cluster_upstream_rq{${m}}[${range}]))`),
      errorRatio: q(
        'error-ratio',
        'Share of requests answered 5xx, by edge',
        'percentunit',
        EDGE,
        `sum by (workload, destination) (rate(envoy_cluster_upstream_rq{${m},code="5xx"}[${range}])) / sum by (workload, destination) (rate(envoy_cluster_upstream_rq_total{${m}}[${range}]))`,
      ),
      latencyP99: q('latency-p99', '99th percentile response time by edge', 's', EDGE, `histogram_quantile(0.99, sum by (workload, destination, le) (rate(envoy_cluster_upstream_rq_time_bucket{${m}}[${range}]))) / 1000`),
      connectFailures: q('connect-failures', 'Failed connections per second by edge', 'cps', EDGE, `sum by (workload, destination) (rate(envoy_cluster_upstream_cx_connect_fail{${m}}[${range}]))`),
      // A callee certificate the mesh CA did not issue (fail_verify_error) or with another identity (fail_verify_san) is not a connection_error.
      tlsFailures: q(
        'tls-failures',
        'Failed TLS handshakes per second by edge',
        'cps',
        EDGE,
        ['connection_error', 'fail_verify_error', 'fail_verify_san'].map((s) => `sum by (workload, destination) (rate(envoy_cluster_ssl_${s}{${m}}[${range}]))`).reduce(plus),
      ),
      refused: q('refused', 'Requests refused by allowFrom per second, at the callee', 'reqps', ['workload'], `sum by (workload) (rate(envoy_http_inbound_rbac_denied{${m}}[${range}]))`),
      egressAllowed: q(
        'egress-allowed',
        'Allowed egress per domain per second (TLS connections and HTTP requests)',
        'cps',
        EDGE,
        egressAllowed((s) => `sum by (workload, destination) (rate(${s}[${range}]))`),
      ),
      egressRefused: q(
        'egress-refused',
        'Refused egress per second (TLS connections for a name not allowed, HTTP requests answered 403)',
        'cps',
        ['workload'],
        `sum by (workload) (rate(envoy_listener_egress_tls_no_filter_chain_match{${m}}[${range}])) + ${egressHttpRefused((s) => `sum by (workload) (rate(${s}[${range}]))`)}`,
      ),
      requestTotal: q('request-total', 'Requests so far by edge and response class', 'short', [...EDGE, 'code'], `sum by (workload, destination, code) (envoy_cluster_upstream_rq{${m}})`),
      latencyObservations: q('latency-observations', 'Responses timed so far by edge', 'short', EDGE, `sum by (workload, destination) (envoy_cluster_upstream_rq_time_count{${m}})`),
      refusedTotal: q('refused-total', 'Requests refused by allowFrom so far, at the callee', 'short', ['workload'], `sum by (workload) (envoy_http_inbound_rbac_denied{${m}})`),
      egressAllowedTotal: q(
        'egress-allowed-total',
        'Allowed egress so far per domain',
        'short',
        EDGE,
        egressAllowed((s) => `sum by (workload, destination) (${s})`),
      ),
      egressRefusedTotal: q(
        'egress-refused-total',
        'Refused egress so far',
        'short',
        ['workload'],
        `sum by (workload) (envoy_listener_egress_tls_no_filter_chain_match{${m}}) + ${egressHttpRefused((s) => `sum by (workload) (${s})`)}`,
      ),
    };
  }
  if (proxy === 'haproxy') {
    const responses = `haproxy_backend_http_responses_total{${m},proxy=~"(up|svc)_.+"}`;
    return {
      requestRate: q('request-rate', 'Requests per second by edge and response class', 'reqps', [...EDGE, 'code'], `sum by (workload, destination, code) (${haproxyEdge(`rate(${responses}[${range}])`)})`),
      errorRatio: q(
        'error-ratio',
        'Share of requests answered 5xx, by edge',
        'percentunit',
        EDGE,
        `sum by (workload, destination) (${haproxyEdge(`rate(haproxy_backend_http_responses_total{${m},proxy=~"(up|svc)_.+",code="5xx"}[${range}])`)}) / sum by (workload, destination) (${haproxyEdge(`rate(${responses}[${range}])`)})`,
      ),
      latencyAverage: q('latency-average', 'Average response time of the last 1024 requests by edge', 's', EDGE, `max by (workload, destination) (${haproxyEdge(`haproxy_backend_response_time_average_seconds{${m},proxy=~"(up|svc)_.+"}`)})`),
      connectFailures: q('connect-failures', 'Failed connections (and TLS handshakes) per second by edge', 'cps', EDGE, `sum by (workload, destination) (${haproxyEdge(`rate(haproxy_backend_connection_errors_total{${m},proxy=~"(up|svc)_.+"}[${range}])`)})`),
      refused: q('refused', 'Requests refused by allowFrom per second, at the callee', 'reqps', ['workload'], `sum by (workload) (rate(haproxy_frontend_requests_denied_total{${m},proxy="inbound"}[${range}]))`),
      egressAllowed: q('egress-allowed', 'Allowed egress per second (TLS connections and HTTP requests)', 'cps', ['workload', 'proxy'], `sum by (workload, proxy) (rate(haproxy_backend_sessions_total{${m},proxy=~"egress_(tls|http)"}[${range}]))`),
      egressRefused: q('egress-refused', 'Refused egress per second', 'cps', ['workload', 'proxy'], `sum by (workload, proxy) (rate(haproxy_frontend_requests_denied_total{${m},proxy=~"egress_(tls|http)"}[${range}]))`),
      requestTotal: q('request-total', 'Requests so far by edge and response class', 'short', [...EDGE, 'code'], `sum by (workload, destination, code) (${haproxyEdge(responses)})`),
      refusedTotal: q('refused-total', 'Requests refused by allowFrom so far, at the callee', 'short', ['workload'], `sum by (workload) (haproxy_frontend_requests_denied_total{${m},proxy="inbound"})`),
      egressAllowedTotal: q('egress-allowed-total', 'Allowed egress so far', 'short', ['workload', 'proxy'], `sum by (workload, proxy) (haproxy_backend_sessions_total{${m},proxy=~"egress_(tls|http)"})`),
      egressRefusedTotal: q('egress-refused-total', 'Refused egress so far', 'short', ['workload', 'proxy'], `sum by (workload, proxy) (haproxy_frontend_requests_denied_total{${m},proxy=~"egress_(tls|http)"})`),
    };
  }
  return {
    connections: q('connections', 'Connections by state', 'short', ['workload', 'state'], `sum by (workload, state) (nginx_connections{${m}})`),
  };
}

/** The queries of a proxy that the dashboard draws (rates and ratios, not the raw totals). */
export function dashboardQueries(qs: ProxyQueries): Query[] {
  return [qs.requestRate, qs.errorRatio, qs.latencyP99, qs.latencyAverage, qs.connectFailures, qs.tlsFailures, qs.refused, qs.egressAllowed, qs.egressRefused, qs.connections].filter((x): x is Query => x !== undefined);
}
