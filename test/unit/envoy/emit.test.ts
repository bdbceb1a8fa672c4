/**
 * The Envoy target's output, read back as objects: what each bootstrap holds and does not hold.
 * Behaviour is proven with the real Envoy in test/integration; these pin the shape.
 */
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { envoyBootstrap, envoyTarget } from '../../../src/targets/envoy/index.js';
import { inClusterMesh } from '../../../src/targets/k8s/index.js';
import { emitSorted, GENERATED_HEADER } from '../../../src/targets/target.js';
import { fakeCerts, sampleMesh } from './sample.js';

type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any

function emit(mutate?: Parameters<typeof sampleMesh>[0]) {
  const mesh = sampleMesh(mutate);
  const files = emitSorted(envoyTarget, mesh, fakeCerts(mesh));
  const byPath = new Map(files.map((f) => [f.path, f]));
  emitted = byPath;
  const boot = (name: string): Any => parse(byPath.get(`envoy/${name}.yaml`)!.content);
  return { mesh, files, boot };
}
/** The files of the last emit(): the SDS files the bootstraps name are read from it. */
let emitted = new Map<string, { content: string }>();

const listener = (b: Any, name: string): Any => b.static_resources.listeners.find((l: Any) => l.name === name);
const cluster = (b: Any, name: string): Any => b.static_resources.clusters.find((c: Any) => c.name === name);
const filter = (chain: Any, name: string): Any => chain.filters.find((f: Any) => f.name === name)?.typed_config;
const hcm = (chain: Any): Any => filter(chain, 'envoy.filters.network.http_connection_manager');
const httpFilter = (h: Any, name: string): Any => h.http_filters.find((f: Any) => f.name === name)?.typed_config;

/** The secret an SDS reference names, read from the SDS file it points at (one resource, the right name, watched through `.`). */
function sdsSecret(ref: Any): Any {
  expect(ref.sds_config.resource_api_version).toBe('V3');
  expect(ref.sds_config.path_config_source.watched_directory).toEqual({ path: '.' });
  const file = emitted.get(ref.sds_config.path_config_source.path);
  expect(file, ref.sds_config.path_config_source.path).toBeDefined();
  const resources = parse(file!.content).resources;
  expect(resources).toHaveLength(1);
  expect(resources[0]['@type']).toMatch(/tls\.v3\.Secret$/);
  expect(resources[0].name).toBe(ref.name);
  return resources[0];
}

/** The certificate a TLS context presents: the one secret it names by SDS, without the watch. */
function presented(_b: Any, tls: Any): Any {
  const refs = tls.common_tls_context.tls_certificate_sds_secret_configs;
  expect(refs).toHaveLength(1);
  expect(tls.common_tls_context.tls_certificates).toBeUndefined();
  const { watched_directory, ...cert } = sdsSecret(refs[0]).tls_certificate;
  expect(watched_directory).toEqual({ path: '.' });
  return cert;
}

/** A context's validation: the trust bundle file (by SDS) and the SAN matchers. */
function validation(tls: Any): Any {
  const combined = tls.common_tls_context.combined_validation_context;
  expect(tls.common_tls_context.validation_context).toBeUndefined();
  return {
    trusted_ca: sdsSecret(combined.validation_context_sds_secret_config).validation_context.trusted_ca,
    match_typed_subject_alt_names: combined.default_validation_context.match_typed_subject_alt_names,
  };
}

/** Every object in the tree that has a `typed_config` must carry an `@type`. */
function untyped(node: unknown, at = ''): string[] {
  if (Array.isArray(node)) return node.flatMap((n, i) => untyped(n, `${at}/${i}`));
  if (node && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    const here = 'typed_config' in o && !(o.typed_config as Record<string, unknown>)['@type'] ? [at] : [];
    return [...here, ...Object.entries(o).flatMap(([k, v]) => untyped(v, `${at}/${k}`))];
  }
  return [];
}

describe('envoy target: files', () => {
  it('writes a sidecar per service and both gateways, sorted, each with the generated header', () => {
    const { mesh, files } = emit();
    const workloads = [...mesh.services.map((s) => s.name), 'egress-gateway', 'ingress-gateway'];
    expect(files.map((f) => f.path)).toEqual(
      [
        ...workloads.map((n) => `envoy/${n}.yaml`),
        ...workloads.map((n) => `envoy/sds/identity/${n}.yaml`),
        'envoy/sds/ingress/_wildcard.admin.example.com.yaml',
        'envoy/sds/ingress/shop.example.com.yaml',
        'envoy/sds/trust-bundle.yaml',
      ].sort(),
    );
    for (const f of files) expect(f.content.startsWith(`# ${GENERATED_HEADER}\n`)).toBe(true);
  });

  it('is deterministic', () => {
    expect(emit().files).toEqual(emit().files);
  });

  it('gives every extension a typed_config with @type, and contains no absolute path', () => {
    const { files } = emit();
    for (const f of files) {
      expect(untyped(parse(f.content)), f.path).toEqual([]);
      expect(f.content).not.toMatch(/filename: \//);
    }
  });
});

describe('envoy target: sidecar', () => {
  it('puts admin on the local address and names the node', () => {
    const b = emit().boot('catalog');
    expect(b.admin.address.socket_address).toEqual({ address: '127.0.0.1', port_value: 15000 });
    expect(b.node).toEqual({ id: 'catalog', cluster: 'catalog' });
  });

  it('requires a mesh client certificate inbound and allows only callers (HTTP RBAC)', () => {
    const b = emit().boot('catalog');
    const chain = listener(b, 'inbound').filter_chains[0];
    const tls = chain.transport_socket.typed_config;
    expect(tls.require_client_certificate).toBe(true);
    expect(validation(tls).trusted_ca.filename).toBe('certs/ca-bundle.pem');
    expect(presented(b, tls)).toEqual({ certificate_chain: { filename: 'certs/catalog.pem' }, private_key: { filename: 'secrets/catalog.key' } });
    const rbac = httpFilter(hcm(chain), 'envoy.filters.http.rbac');
    expect(rbac.rules.action).toBe('ALLOW');
    // catalog is routed from the ingress gateway, so the gateway is a caller too.
    expect(rbac.rules.policies['allow-from'].principals.map((p: Any) => p.authenticated.principal_name.exact)).toEqual([
      'spiffe://shop.example/ns/shop/sa/frontend',
      'spiffe://shop.example/ns/shop/sa/ingress-gateway',
    ]);
    expect(hcm(chain).route_config.virtual_hosts[0].routes[0].route.cluster).toBe('inbound|app');
    expect(cluster(b, 'inbound|app').load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address).toEqual({ address: '127.0.0.1', port_value: 8080 });
  });

  it('refuses everything when a service has no callers', () => {
    const b = emit().boot('lonely');
    const rbac = httpFilter(hcm(listener(b, 'inbound').filter_chains[0]), 'envoy.filters.http.rbac');
    expect(rbac.rules).toEqual({ action: 'ALLOW', policies: {} });
  });

  it('checks tcp callers at the handshake, and lets no identity through without callers', () => {
    const ledger = listener(emit().boot('ledger'), 'inbound').filter_chains[0];
    expect(validation(ledger.transport_socket.typed_config).match_typed_subject_alt_names).toEqual([
      { san_type: 'URI', matcher: { exact: 'spiffe://shop.example/ns/shop/sa/frontend' } },
    ]);
    expect(filter(ledger, 'envoy.filters.network.rbac').rules.policies['allow-from']).toBeDefined();
    expect(filter(ledger, 'envoy.filters.network.tcp_proxy').cluster).toBe('inbound|app');
    const vault = listener(emit().boot('vault'), 'inbound').filter_chains[0];
    expect(filter(vault, 'envoy.filters.network.rbac').rules).toEqual({ action: 'ALLOW', policies: {} });
    const sans = validation(vault.transport_socket.typed_config).match_typed_subject_alt_names;
    expect(sans).toHaveLength(1);
    expect(sans[0].matcher.exact).not.toMatch(/sa\/[a-z]/);
  });

  it('serves only the health path on the plaintext probe port', () => {
    const lonely = emit().boot('lonely');
    const probe = listener(lonely, 'probe');
    expect(probe.address.socket_address.port_value).toBe(15021);
    expect(probe.filter_chains[0].transport_socket).toBeUndefined();
    const routes = hcm(probe.filter_chains[0]).route_config.virtual_hosts[0].routes;
    expect(routes[0]).toEqual({ match: { path: '/ready' }, route: { cluster: 'inbound|app' } });
    expect(routes[1].direct_response.status).toBe(404);
  });

  it('holds only its own upstreams: one outbound listener and cluster per edge', () => {
    const { boot } = emit();
    const fe = boot('frontend');
    expect(fe.static_resources.listeners.map((l: Any) => l.name).sort()).toEqual(
      ['egress-http', 'egress-tls', 'inbound', 'metrics', 'outbound|cart', 'outbound|catalog', 'outbound|ledger', 'probe'],
    );
    expect(fe.static_resources.clusters.map((c: Any) => c.name).filter((n: string) => n.startsWith('outbound|')).sort()).toEqual([
      'outbound|cart',
      'outbound|catalog',
      'outbound|ledger',
    ]);
    expect(listener(fe, 'outbound|cart').address.socket_address.port_value).toBe(21001);
    const lonely = boot('lonely');
    expect(lonely.static_resources.clusters.map((c: Any) => c.name).filter((n: string) => n.startsWith('outbound|'))).toEqual([]);
  });

  it('originates mTLS to the upstream and verifies its SPIFFE identity', () => {
    const b = emit().boot('frontend');
    const c = cluster(b, 'outbound|catalog');
    const tls = c.transport_socket.typed_config;
    expect(tls['@type']).toMatch(/UpstreamTlsContext$/);
    expect(tls.sni).toBe('catalog.shop.svc.cluster.local');
    expect(presented(b, tls).certificate_chain.filename).toBe('certs/frontend.pem');
    expect(validation(tls).match_typed_subject_alt_names).toEqual([
      { san_type: 'URI', matcher: { exact: 'spiffe://shop.example/ns/shop/sa/catalog' } },
    ]);
  });

  it('carries endpoints, weights, least request, outlier detection, limits, retries and timeouts', () => {
    const fe = emit().boot('frontend');
    const c = cluster(fe, 'outbound|catalog');
    expect(c.type).toBe('STATIC');
    expect(c.connect_timeout).toBe('1s');
    expect(c.load_assignment.endpoints[0].lb_endpoints.map((e: Any) => [e.endpoint.address.socket_address.address, e.load_balancing_weight])).toEqual([
      ['127.0.0.11', 1],
      ['127.0.0.12', 3],
    ]);
    const lb = c.load_balancing_policy.policies[0].typed_extension_config.typed_config;
    expect(lb).toEqual({ '@type': 'type.googleapis.com/envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest', choice_count: 3 });
    expect(c.outlier_detection).toEqual({ consecutive_5xx: 3, interval: '1s', base_ejection_time: '30s', max_ejection_percent: 50 });
    expect(c.circuit_breakers.thresholds).toEqual([{ priority: 'DEFAULT', max_connections: 100, max_pending_requests: 10, max_requests: 200 }]);
    const route = hcm(listener(fe, 'outbound|catalog').filter_chains[0]).route_config.virtual_hosts[0].routes[0].route;
    expect(route).toEqual({
      cluster: 'outbound|catalog',
      timeout: '3s',
      idle_timeout: '60s',
      retry_policy: { retry_on: '5xx,connect-failure', num_retries: 2, per_try_timeout: '0.25s' },
    });
  });

  it('resolves DNS endpoints with STRICT_DNS and speaks HTTP/2 to grpc services; ring hash on a header', () => {
    const fe = emit().boot('frontend');
    const c = cluster(fe, 'outbound|cart');
    expect(c.type).toBe('STRICT_DNS');
    expect(c.dns_lookup_family).toBe('V4_ONLY');
    expect(c.typed_dns_resolver_config.typed_config.resolvers).toEqual([{ socket_address: { address: '127.0.0.53', port_value: 5353 } }]);
    expect(c.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'].explicit_http_config).toEqual({ http2_protocol_options: {} });
    expect(c.load_balancing_policy.policies[0].typed_extension_config.name).toBe('envoy.load_balancing_policies.ring_hash');
    const route = hcm(listener(fe, 'outbound|cart').filter_chains[0]).route_config.virtual_hosts[0].routes[0].route;
    expect(route.hash_policy).toEqual([{ header: { header_name: 'x-user-id' } }]);
  });

  it('hashes tcp on the source address in tcp_proxy, with maglev', () => {
    const fe = emit().boot('frontend');
    const tcp = filter(listener(fe, 'outbound|ledger').filter_chains[0], 'envoy.filters.network.tcp_proxy');
    expect(tcp.hash_policy).toEqual([{ source_ip: {} }]);
    expect(cluster(fe, 'outbound|ledger').load_balancing_policy.policies[0].typed_extension_config.name).toBe('envoy.load_balancing_policies.maglev');
    expect(cluster(fe, 'outbound|ledger').typed_extension_protocol_options).toBeUndefined();
  });

  it('hashes on a cookie with its ttl at the ingress gateway', () => {
    const gw = emit().boot('ingress-gateway');
    const chain = listener(gw, 'ingress-https').filter_chains.find((c: Any) => c.filter_chain_match.server_names[0] === 'shop.example.com');
    const web = hcm(chain).route_config.virtual_hosts[0].routes.find((r: Any) => r.route.cluster === 'outbound|web');
    expect(web.route.hash_policy).toEqual([{ cookie: { name: 'sid', ttl: '3600s', path: '/' } }]);
  });

  it('sets the bootstrap DNS resolver from spec.dns.resolvers, and none without', () => {
    expect(emit().boot('lonely').typed_dns_resolver_config.name).toBe('envoy.network.dns_resolver.cares');
    const bare = emit((w) => void delete w.spec.dns).boot('lonely');
    expect(bare.typed_dns_resolver_config).toBeUndefined();
  });
});

describe('envoy target: metrics', () => {
  it('serves /metrics on the metrics port of each workload from its admin stats, labelled with the mesh and the workload', () => {
    const { boot, mesh } = emit();
    const fe = mesh.services.find((x) => x.name === 'frontend')!.sidecar;
    for (const [name, bind, admin] of [
      ['frontend', fe.bindAddress, `${fe.localAddress}:${fe.adminPort}`],
      ['ingress-gateway', mesh.ingress.bindAddress, `127.0.0.1:${mesh.ingress.adminPort}`],
      ['egress-gateway', mesh.egressGateway.bindAddress, `127.0.0.1:${mesh.egressGateway.adminPort}`],
    ]) {
      const b = boot(name);
      const m = listener(b, 'metrics');
      expect(m.address.socket_address, name).toEqual({ address: bind, port_value: 15090 });
      const route = hcm(m.filter_chains[0]).route_config.virtual_hosts[0].routes[0];
      expect(route).toEqual({ match: { path: '/metrics' }, route: { cluster: 'meshc|admin', prefix_rewrite: '/stats/prometheus' } });
      const ep = cluster(b, 'meshc|admin').load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
      expect(`${ep.address}:${ep.port_value}`).toBe(admin);
      expect(b.stats_config.use_all_default_tags).toBe(false);
      expect(b.stats_config.stats_tags.slice(0, 2)).toEqual([{ tag_name: 'mesh', fixed_value: 'shop' }, { tag_name: 'workload', fixed_value: name }]);
      expect(b.stats_config.stats_matcher.inclusion_list.patterns.length).toBeGreaterThan(0);
    }
  });

  it('names each egress domain in the stats of its filter chain, and the listeners the refusal stats come from', () => {
    const fe = emit().boot('frontend');
    const tls = listener(fe, 'egress-tls');
    expect(tls.stat_prefix).toBe('egress_tls');
    expect(tls.filter_chains.map((c: Any) => [c.filter_chain_match.server_names[0], filter(c, 'envoy.filters.network.tcp_proxy').stat_prefix])).toContainEqual(['api.segment.io', 'egress_tls|api.segment.io']);
    expect(listener(fe, 'inbound').stat_prefix).toBe('inbound');
  });

  it('has no metrics listener, admin cluster or stats config when metrics are off', () => {
    const { boot } = emit((w) => void (w.spec.telemetry = { metrics: { enabled: false } }));
    for (const name of ['frontend', 'ingress-gateway', 'egress-gateway']) {
      const b = boot(name);
      expect(listener(b, 'metrics'), name).toBeUndefined();
      expect(cluster(b, 'meshc|admin'), name).toBeUndefined();
      expect(b.stats_config, name).toBeUndefined();
    }
  });
});

describe('envoy target: egress', () => {
  it('passes allowed names through by SNI, one chain each, with no default chain', () => {
    const fe = emit().boot('frontend');
    const l = listener(fe, 'egress-tls');
    expect(l.address.socket_address).toEqual({ address: '127.0.0.1', port_value: 15081 });
    expect(l.listener_filters[0].name).toBe('envoy.filters.listener.tls_inspector');
    expect(l.filter_chains.map((c: Any) => c.filter_chain_match.server_names)).toEqual([['*.googleapis.com'], ['api.segment.io']]);
    expect(l.default_filter_chain).toBeUndefined();
    const exact = l.filter_chains[1];
    expect(filter(exact, 'envoy.filters.network.tcp_proxy').cluster).toBe('egress|api.segment.io');
    expect(exact.transport_socket).toBeUndefined();
    const c = cluster(fe, 'egress|api.segment.io');
    expect(c.type).toBe('LOGICAL_DNS');
    expect(c.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address).toEqual({ address: 'api.segment.io', port_value: 443 });
  });

  it('sends wildcards through the SNI dynamic forward proxy with the same DNS cache as its cluster', () => {
    const fe = emit().boot('frontend');
    const wild = listener(fe, 'egress-tls').filter_chains[0];
    const sni = filter(wild, 'envoy.filters.network.sni_dynamic_forward_proxy');
    expect(sni.port_value).toBe(443);
    const dfp = cluster(fe, 'egress|dynamic-forward-proxy');
    expect(dfp.lb_policy).toBe('CLUSTER_PROVIDED');
    expect(dfp.cluster_type.typed_config.dns_cache_config).toEqual(sni.dns_cache_config);
    const http = hcm(listener(fe, 'egress-http').filter_chains[0]);
    expect(httpFilter(http, 'envoy.filters.http.dynamic_forward_proxy').dns_cache_config).toEqual(sni.dns_cache_config);
  });

  it('routes allowed Hosts and CONNECT authorities, and answers 403 to everything else', () => {
    const fe = emit().boot('frontend');
    const http = hcm(listener(fe, 'egress-http').filter_chains[0]);
    expect(http.upgrade_configs).toEqual([{ upgrade_type: 'CONNECT' }]);
    const vhosts = http.route_config.virtual_hosts;
    expect(vhosts.map((v: Any) => v.domains)).toEqual([
      ['*.googleapis.com'],
      ['*.googleapis.com:8080'],
      ['*.googleapis.com:443'],
      ['api.segment.io'],
      ['api.segment.io:8080'],
      ['api.segment.io:443'],
      ['*'],
    ]);
    const connect = vhosts[5].routes[0];
    expect(connect.match).toEqual({ connect_matcher: {} });
    expect(connect.route.upgrade_configs[0].upgrade_type).toBe('CONNECT');
    const denied = vhosts[6];
    expect(denied.routes.every((r: Any) => r.direct_response.status === 403)).toBe(true);
  });

  it('forwards plain HTTP to spec.egress.httpPort via a host:port rewrite when it is not 80', () => {
    const fe = emit().boot('frontend');
    const http = hcm(listener(fe, 'egress-http').filter_chains[0]);
    const mutation = httpFilter(http, 'envoy.filters.http.header_mutation');
    expect(mutation.mutations.request_mutations[0].append.header.value).toBe('%REQ(:AUTHORITY)%:8080');
    const route = http.route_config.virtual_hosts[3].routes[0];
    expect(route.typed_per_filter_config['envoy.filters.http.dynamic_forward_proxy'].host_rewrite_header).toBe('x-meshc-egress-authority');
    // `Host: name:8080` already names the port: no rewrite, and the added header is dropped.
    const withPort = http.route_config.virtual_hosts[4].routes[0];
    expect(withPort.typed_per_filter_config).toBeUndefined();
    expect(withPort.request_headers_to_remove).toEqual(['x-meshc-egress-authority']);
    const port80 = emit((w) => void (w.spec.egress!.httpPort = 80)).boot('frontend');
    expect(httpFilter(hcm(listener(port80, 'egress-http').filter_chains[0]), 'envoy.filters.http.header_mutation')).toBeUndefined();
  });

  it('has no egress listeners for a service with an empty list', () => {
    const lonely = emit((w) => void delete w.spec.egress!.allow).boot('lonely');
    expect(lonely.static_resources.listeners.map((l: Any) => l.name).sort()).toEqual(['inbound', 'metrics', 'probe']);
  });

  it('does not leak another service’s egress', () => {
    const lonely = emit().boot('lonely');
    expect(listener(lonely, 'egress-tls').filter_chains.map((c: Any) => c.filter_chain_match.server_names[0])).toEqual(['*.googleapis.com']);
  });

  it('egress gateway: the union of every list on its own address and ports', () => {
    const gw = emit((w) => void (w.spec.egress!.gateway = { bindAddress: '127.0.0.9', tlsPort: 9443, httpPort: 9080, adminPort: 9000 })).boot('egress-gateway');
    const tls = listener(gw, 'egress-tls');
    expect(tls.address.socket_address).toEqual({ address: '127.0.0.9', port_value: 9443 });
    expect(tls.filter_chains.map((c: Any) => c.filter_chain_match.server_names[0])).toEqual(['*.googleapis.com', 'api.segment.io']);
    expect(listener(gw, 'egress-http').address.socket_address.port_value).toBe(9080);
    expect(gw.admin.address.socket_address).toEqual({ address: '127.0.0.1', port_value: 9000 });
  });
});

describe('envoy target: ingress gateway', () => {
  it('redirects with an explicit port, routes X-Forwarded-Proto https when trusted, serves non-redirect hosts', () => {
    const gw = emit().boot('ingress-gateway');
    const http = hcm(listener(gw, 'ingress-http').filter_chains[0]);
    expect(http.use_remote_address).toBe(false);
    expect(http.xff_num_trusted_hops).toBe(1);
    const shop = http.route_config.virtual_hosts.find((v: Any) => v.name === 'shop.example.com');
    expect(shop.domains).toEqual(['shop.example.com', 'shop.example.com:8080']);
    const last = shop.routes[shop.routes.length - 1];
    expect(last.redirect).toEqual({ https_redirect: true, host_redirect: 'shop.example.com', port_redirect: 8443, response_code: 'MOVED_PERMANENTLY' });
    expect(shop.routes[0].match.headers).toEqual([{ name: 'x-forwarded-proto', string_match: { exact: 'https' } }]);
    const admin = http.route_config.virtual_hosts.find((v: Any) => v.name === '*.admin.example.com');
    expect(admin.routes.map((r: Any) => r.route?.cluster)).toEqual(['outbound|catalog']);
  });

  it('at the edge (no trusted proxy) uses the remote address and never routes by X-Forwarded-Proto', () => {
    const gw = emit((w) => void (w.spec.ingress!.trustForwardedProto = false)).boot('ingress-gateway');
    const http = hcm(listener(gw, 'ingress-http').filter_chains[0]);
    expect(http.use_remote_address).toBe(true);
    const shop = http.route_config.virtual_hosts.find((v: Any) => v.name === 'shop.example.com');
    expect(shop.routes).toHaveLength(1);
    expect(shop.routes[0].redirect).toBeDefined();
  });

  it('terminates TLS with one chain per host (its own certificate), no default chain', () => {
    const gw = emit().boot('ingress-gateway');
    const https = listener(gw, 'ingress-https');
    expect(https.address.socket_address.port_value).toBe(8443);
    expect(https.listener_filters[0].name).toBe('envoy.filters.listener.tls_inspector');
    expect(https.default_filter_chain).toBeUndefined();
    expect(https.filter_chains.map((c: Any) => [c.filter_chain_match.server_names[0], presented(gw, c.transport_socket.typed_config).certificate_chain.filename])).toEqual([
      ['*.admin.example.com', 'certs/ingress/_wildcard.admin.example.com.pem'],
      ['shop.example.com', 'certs/ingress/shop.example.com.pem'],
    ]);
  });

  it('gives every caller of a service the same cluster to it, its own identity apart', () => {
    const { boot } = emit();
    const [frontend, gateway] = [boot('frontend'), boot('ingress-gateway')];
    // The cluster differs only in the identity its caller presents (by SDS).
    const { transport_socket: a, ...fromFrontend } = cluster(frontend, 'outbound|catalog');
    const { transport_socket: b, ...fromGateway } = cluster(gateway, 'outbound|catalog');
    expect(fromFrontend).toEqual(fromGateway);
    const withoutIdentity = (t: Any) => ({ ...t.typed_config, common_tls_context: { ...t.typed_config.common_tls_context, tls_certificate_sds_secret_configs: undefined } });
    expect(withoutIdentity(a)).toEqual(withoutIdentity(b));
    expect(presented(frontend, cluster(frontend, 'outbound|catalog').transport_socket.typed_config).certificate_chain.filename).toBe('certs/frontend.pem');
    expect(presented(gateway, cluster(gateway, 'outbound|catalog').transport_socket.typed_config).certificate_chain.filename).toBe('certs/ingress-gateway.pem');
  });

  it('routes by path prefix, longest first, to service clusters over mTLS as the gateway', () => {
    const gw = emit().boot('ingress-gateway');
    const chain = listener(gw, 'ingress-https').filter_chains[1];
    const routes = hcm(chain).route_config.virtual_hosts[0].routes;
    expect(routes.map((r: Any) => [r.match.prefix, r.route.cluster, r.route.timeout])).toEqual([
      ['/api/catalog', 'outbound|catalog', '2s'],
      ['/', 'outbound|web', undefined],
    ]);
    const c = cluster(gw, 'outbound|catalog');
    expect(presented(gw, c.transport_socket.typed_config).certificate_chain.filename).toBe('certs/ingress-gateway.pem');
    expect(validation(c.transport_socket.typed_config).match_typed_subject_alt_names[0].matcher.exact).toBe('spiffe://shop.example/ns/shop/sa/catalog');
    expect(gw.static_resources.clusters.map((x: Any) => x.name)).toEqual(['outbound|catalog', 'outbound|web', 'meshc|admin']);
  });

  it('omits port_redirect when HTTPS is on 443', () => {
    const gw = emit((w) => void (w.spec.ingress!.httpsPort = 443)).boot('ingress-gateway');
    const shop = hcm(listener(gw, 'ingress-http').filter_chains[0]).route_config.virtual_hosts.find((v: Any) => v.name === 'shop.example.com');
    expect(shop.routes[shop.routes.length - 1].redirect.port_redirect).toBeUndefined();
  });
});

describe('envoy target: check', () => {
  it('finds nothing for the sample mesh', () => {
    const mesh = sampleMesh();
    expect(envoyTarget.check(mesh).filter((f) => f.severity === 'error')).toEqual([]);
  });

  it('refuses header hashing on a tcp service, naming envoy and the field', () => {
    const mesh = sampleMesh((w) => void (w.spec.services.ledger.loadBalancing = { policy: 'ring_hash', hashOn: { header: 'x-id' } }));
    const errors = envoyTarget.check(mesh).filter((f) => f.severity === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0].pointer).toBe('/spec/services/ledger/loadBalancing/hashOn');
    expect(errors[0].message).toMatch(/^envoy: /);
  });

  it('warns about request timeouts and non-connect retries on tcp services', () => {
    const mesh = sampleMesh((w) => {
      w.spec.services.ledger.timeouts = { request: '1s' };
      w.spec.services.ledger.retries = { attempts: 2 };
    });
    const pointers = envoyTarget.check(mesh).filter((f) => f.severity === 'warning').map((f) => f.pointer);
    expect(pointers).toEqual(['/spec/services/ledger/retries/retryOn', '/spec/services/ledger/timeouts/request']);
  });

  it('refuses partial wildcards', () => {
    const mesh = sampleMesh((w) => void (w.spec.services.frontend.egress = ['*w.example.com']));
    const errors = envoyTarget.check(mesh).filter((f) => f.severity === 'error');
    expect(errors.map((e) => e.pointer)).toEqual(['/spec/services/frontend/egress']);
  });
});

describe('envoy target: shared parts', () => {
  it("a service's in-cluster bootstrap, made right after its Envoy-target one (shared parts), equals one made from scratch", () => {
    for (const meshWide of [true, false]) {
      const mesh = sampleMesh(meshWide ? undefined : (w) => void (w.spec.egress!.allow = []));
      const certs = fakeCerts(mesh);
      const inCluster = inClusterMesh(mesh);
      const fresh = structuredClone(mesh);
      const freshCerts = fakeCerts(fresh);
      for (const svc of mesh.services) {
        const plain = envoyBootstrap(mesh, certs, svc.name);
        const paired = envoyBootstrap(inCluster, certs, svc.name);
        if (svc.egress.length > 0) expect(paired).not.toBe(plain); // egress goes through the gateway in the cluster
        expect(paired).toBe(envoyBootstrap(inClusterMesh(fresh), freshCerts, svc.name));
        expect(plain).toBe(envoyBootstrap(fresh, freshCerts, svc.name));
      }
    }
  });
});
