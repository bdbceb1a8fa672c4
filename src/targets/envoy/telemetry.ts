/**
 * Access logs and trace context of the Envoy bootstraps (`spec.telemetry`): one JSON line per
 * request or connection in the schema of schemas/access-log.schema.json, W3C `traceparent` started
 * at the ingress gateway, and spans exported over OTLP when `telemetry.tracing` names a collector.
 *
 * Listeners and connection managers get these pieces through the hooks below, so the rest of the
 * target does not spell them out. A value Envoy cannot take from a command operator (the outcome,
 * the refusal reason) is computed by a CEL expression over the request's attributes; values the
 * configuration knows (workload, destination) are literals where the object belongs to one
 * workload, and the node id (`xds.node.id`) where one object is shared by several bootstraps.
 *
 * References: https://www.envoyproxy.io/docs/envoy/latest/configuration/observability/access_log/usage
 * and https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/trace/v3/opentelemetry.proto
 */
import { INGRESS_GATEWAY, type Mesh } from '../../model/mesh.js';
import { isIpv4 } from '../../model/normalize.js';
import { STDERR, STDOUT, type Tracing } from '../../model/telemetry.js';
import { reuse } from '../../output/yaml.js';
import { type Obj, SharedObjects, dnsLookupFamily, dnsResolverConfig, socketAddress, typed } from './common.js';

export type Direction = 'inbound' | 'outbound' | 'ingress' | 'egress';

/** Where a log line is written from: what the configuration knows about its traffic. */
export interface LogPlace {
  direction: Direction;
  /** Omitted: the bootstrap's node id, read at run time (the object is shared by several workloads). */
  workload?: string;
  /** The mesh service the traffic is for, when the listener knows it. */
  destination?: string;
}

/** A refusal the listener itself makes, before any filter sees the connection. */
export type ListenerRefusal = 'unknown-sni' | 'domain-not-allowed';

export const OTLP_CLUSTER = 'meshc|otlp';

export const INGRESS_PLACE: LogPlace = { direction: 'ingress', workload: INGRESS_GATEWAY };

/**
 * Route metadata naming the service a route goes to, which the ingress gateway's log lines read
 * (`%METADATA(ROUTE:meshc:service)%`); undefined when access logs are off.
 */
export function routeDestination(mesh: Mesh, service: string): Obj | undefined {
  if (!mesh.telemetry.accessLog.enabled) return undefined;
  return { filter_metadata: { meshc: { service } } };
}

// ------------------------------------------------------------------------------ CEL pieces

const FAILURE = 'connection.transport_failure_reason';
/**
 * Why a TLS handshake of a mesh mTLS listener failed, in the schema's words ('' for other
 * failures). `notAllowed`: what a caller identity outside the listener's list means there.
 */
function tlsReason(notAllowed = 'not-in-allow-from'): string {
  return (
    `(${FAILURE}.contains('PEER_DID_NOT_RETURN_A_CERTIFICATE') ? 'no-client-certificate' : ` +
    `${FAILURE}.contains('SAN matcher') ? '${notAllowed}' : ` +
    `${FAILURE}.contains('CERTIFICATE_VERIFY_FAILED') ? 'untrusted-certificate' : '')`
  );
}
const TLS_REASON = tlsReason();

/** The refusal reason of an HTTP request at each kind of listener ('' where it cannot refuse). */
const HTTP_REASON: Record<Direction, string> = {
  inbound: "(response.code_details.startsWith('rbac_access_denied') ? 'not-in-allow-from' : '')",
  ingress: "(response.code_details == 'route_not_found' ? 'no-route' : '')",
  // The only direct response of the egress HTTP listener is the 403 of a name not allowed.
  egress: "(response.code_details == 'direct_response' ? 'domain-not-allowed' : '')",
  outbound: "''",
};

/** `refused` when `reason` names one, else `error` when Envoy flagged the request or connection. */
function outcome(reason: string, failed = 'response.flags != 0u'): string {
  if (failed === 'true') return reason === "''" ? 'error' : `%CEL(${reason} != '' ? 'refused' : 'error')%`;
  return `%CEL(${reason} != '' ? 'refused' : (${failed}) ? 'error' : 'ok')%`;
}

function cel(expr: string): string {
  return expr === "''" ? '' : `%CEL(${expr})%`;
}

// ------------------------------------------------------------------------------ access logs

function common(place: LogPlace, protocol: 'http' | 'tcp' | 'tls'): Obj {
  return {
    time: '%START_TIME(%Y-%m-%dT%H:%M:%S.%3fZ)%',
    proxy: 'envoy',
    workload: place.workload ?? '%CEL(xds.node.id)%',
    direction: place.direction,
    protocol,
    // Mesh mTLS listeners have a caller certificate to read: inbound, and the egress gateway's
    // when sidecars reach it as themselves (a sidecar's own egress listeners have none: null).
    source: place.direction === 'inbound' || place.direction === 'egress' ? '%DOWNSTREAM_PEER_URI_SAN%' : null,
    sourceAddress: '%DOWNSTREAM_REMOTE_ADDRESS%',
    // The ingress gateway's routes say which service they go to (routeDestination).
    destination: place.destination ?? (place.direction === 'ingress' ? '%METADATA(ROUTE:meshc:service)%' : null),
    status: '%RESPONSE_CODE%',
    bytesReceived: '%BYTES_RECEIVED%',
    bytesSent: '%BYTES_SENT%',
    durationMs: '%DURATION%',
    upstream: '%UPSTREAM_HOST%',
  };
}

function httpFields(place: LogPlace): Obj {
  const reason = HTTP_REASON[place.direction];
  return {
    ...common(place, 'http'),
    domain: '%REQ(:AUTHORITY)%',
    method: '%REQ(:METHOD)%',
    path: '%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%',
    outcome: reason === "''" ? '%CEL(response.flags != 0u ? \'error\' : \'ok\')%' : outcome(reason),
    reason: cel(reason),
    detail: '%RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS%',
    requestId: '%REQ(X-REQUEST-ID)%',
    traceparent: '%REQ(TRACEPARENT)%',
  };
}

function connectionFields(place: LogPlace, protocol: 'tcp' | 'tls', reason: string, failed: string): Obj {
  return {
    ...common(place, protocol),
    domain: '%REQUESTED_SERVER_NAME%',
    method: null,
    path: null,
    outcome: outcome(reason, failed),
    reason: cel(reason),
    detail: '%RESPONSE_FLAGS% %DOWNSTREAM_TRANSPORT_FAILURE_REASON%',
    requestId: null,
    traceparent: null,
  };
}

/** One access log extension writing `fields` as JSON to the configured file, with an optional filter. */
function logger(path: string, fields: Obj, filter?: Obj): Obj {
  const format = { log_format: { json_format: fields } };
  const ext =
    path === STDOUT
      ? typed('envoy.access_loggers.stdout', 'envoy.extensions.access_loggers.stream.v3.StdoutAccessLog', format)
      : path === STDERR
        ? typed('envoy.access_loggers.stderr', 'envoy.extensions.access_loggers.stream.v3.StderrAccessLog', format)
        : typed('envoy.access_loggers.file', 'envoy.extensions.access_loggers.file.v3.FileAccessLog', { path, ...format });
  return filter ? { ...ext, filter } : ext;
}

/** Access logs are the same for every listener of a kind: made once per place and written once (see `reuse`). */
const logs = new SharedObjects<Obj[]>(1024);

function made(key: unknown[], make: () => Obj[]): Obj[] {
  return logs.get(JSON.stringify(key), () => reuse(make()));
}

/** The `access_log` of an HTTP connection manager, or undefined when access logs are off. */
export function httpAccessLog(mesh: Mesh, place: LogPlace): Obj[] | undefined {
  const log = mesh.telemetry.accessLog;
  if (!log.enabled) return undefined;
  return made(['http', log.path, place], () => [logger(log.path, httpFields(place))]);
}

/**
 * The `access_log` of a tcp_proxy: one line per connection. `mtls`: the listener requires a mesh
 * client certificate, so a failed handshake is a refusal with its reason (the tcp_proxy logs those
 * connections too); `egress-gateway`: the same, where an identity outside a name's list means the
 * domain is not allowed to it. Otherwise (TLS passed through) a failure is an error.
 */
export function tcpAccessLog(mesh: Mesh, place: LogPlace, protocol: 'tcp' | 'tls', mtls: boolean | 'egress-gateway'): Obj[] | undefined {
  const log = mesh.telemetry.accessLog;
  if (!log.enabled) return undefined;
  const reason = mtls ? `(has(${FAILURE}) ? ${mtls === true ? TLS_REASON : tlsReason('domain-not-allowed')} : '')` : "''";
  return made(['tcp', log.path, place, protocol, mtls], () => [logger(log.path, connectionFields(place, protocol, reason, `has(${FAILURE}) || response.flags != 0u`))]);
}

/**
 * The listener's own `access_log`, for connections no filter logs: those no filter chain matched
 * (`refusal`: what that means on this listener) and, on an HTTP listener that terminates TLS,
 * failed handshakes (the connection manager logs requests only). Envoy runs a listener's access
 * logs for every connection, so each is filtered to the connections it is for.
 */
export function listenerAccessLog(mesh: Mesh, place: LogPlace, opts: { refusal?: ListenerRefusal; handshakes?: 'mtls' | 'tls' }): Obj[] | undefined {
  const log = mesh.telemetry.accessLog;
  if (!log.enabled) return undefined;
  return made(['listener', log.path, place, opts.refusal ?? null, opts.handshakes ?? null], () => {
    const out: Obj[] = [];
    if (opts.refusal) {
      const fields = { ...connectionFields(place, 'tls', "''", 'true'), outcome: 'refused', reason: opts.refusal };
      out.push(logger(log.path, fields, { response_flag_filter: { flags: ['NR'] } }));
    }
    if (opts.handshakes) {
      const reason = opts.handshakes === 'mtls' ? TLS_REASON : "''";
      const filter = typed('envoy.access_loggers.extension_filters.cel', 'envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter', { expression: `has(${FAILURE})` });
      const fields = connectionFields(place, 'tls', reason, 'true');
      // A certificate the mesh CA did not issue names nobody: its URI is whatever its maker wrote.
      if (opts.handshakes === 'mtls') fields.source = `%CEL(${FAILURE}.contains('CERTIFICATE_VERIFY_FAILED') || !has(connection.uri_san_peer_certificate) ? '' : connection.uri_san_peer_certificate)%`;
      out.push(logger(log.path, fields, { extension_filter: filter }));
    }
    return out;
  });
}

// ------------------------------------------------------------------------------ traces

/**
 * The HCM `tracing` block: spans exported over OTLP as `workload`, or undefined without
 * `telemetry.tracing`. A request without a sampling decision is sampled at `samplingPercent`.
 */
export function httpTracing(mesh: Mesh, workload: string): Obj | undefined {
  const t = mesh.telemetry.tracing;
  if (!t) return undefined;
  return tracings.get(JSON.stringify([workload, t]), () => reuse(makeTracing(t, workload)));
}
const tracings = new SharedObjects<Obj>(1024);

function makeTracing(t: Tracing, workload: string): Obj {
  const exporter =
    t.protocol === 'grpc'
      ? // The authority would be the cluster name, whose `|` strict HTTP/2 servers refuse.
        { grpc_service: { envoy_grpc: { cluster_name: OTLP_CLUSTER, authority: `${t.endpoint.host}:${t.endpoint.port}` }, timeout: '1s' } }
      : { http_service: { http_uri: { uri: `http://${t.endpoint.host}:${t.endpoint.port}/v1/traces`, cluster: OTLP_CLUSTER, timeout: '1s' } } };
  return {
    random_sampling: { value: t.samplingPercent },
    provider: typed('envoy.tracers.opentelemetry', 'envoy.config.trace.v3.OpenTelemetryConfig', { service_name: workload, ...exporter }),
  };
}

/** The cluster of the OTLP collector, or nothing without `telemetry.tracing`. */
export function tracingClusters(mesh: Mesh): Obj[] {
  const t = mesh.telemetry.tracing;
  if (!t) return [];
  const ip = isIpv4(t.endpoint.host);
  return [
    {
      name: OTLP_CLUSTER,
      type: ip ? 'STATIC' : 'STRICT_DNS',
      ...(ip ? {} : { dns_lookup_family: dnsLookupFamily(mesh.dns), typed_dns_resolver_config: dnsResolverConfig(mesh.dns) }),
      connect_timeout: '1s',
      load_assignment: { cluster_name: OTLP_CLUSTER, endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(t.endpoint.host, t.endpoint.port) } }] }] },
      typed_extension_protocol_options:
        t.protocol === 'grpc'
          ? {
              'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
                '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
                explicit_http_config: { http2_protocol_options: {} },
              },
            }
          : undefined,
    },
  ];
}

/**
 * Without `telemetry.tracing` Envoy has no tracer to start a trace, so the ingress gateway gives a
 * request that arrives without `traceparent` a new one (random trace and parent ids, sampled) in a
 * small Lua filter; every later hop passes it on unchanged. With tracing, the tracer does it.
 */
export function traceStartFilters(mesh: Mesh): Obj[] {
  if (mesh.telemetry.tracing) return [];
  return [TRACE_START];
}

const TRACE_START_LUA = `-- Starts a W3C trace context for a request that has none.
local seeded = false
local function hex(n)
  local t = {}
  for i = 1, n do t[i] = string.format("%x", math.random(0, 15)) end
  return table.concat(t)
end
function envoy_on_request(handle)
  local headers = handle:headers()
  if headers:get("traceparent") ~= nil then return end
  if not seeded then
    -- Per worker: the time, and a table address that differs between processes.
    math.randomseed(os.time() + math.floor(os.clock() * 1000000) + (tonumber(tostring({}):match("0x(%x+)") or "0", 16) % 1000003))
    seeded = true
  end
  headers:add("traceparent", "00-" .. hex(32) .. "-" .. hex(16) .. "-01")
end
`;

const TRACE_START: Obj = reuse(
  typed('envoy.filters.http.lua', 'envoy.extensions.filters.http.lua.v3.Lua', { default_source_code: { inline_string: TRACE_START_LUA } }),
);
