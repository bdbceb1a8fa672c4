/**
 * Egress through the gateway per identity (`egress.viaGateway`): the shape of the sidecar's hop
 * and the gateway's checks. Behaviour is proven with the real Envoy in test/integration (egress
 * scenario through the gateway) and through the Kubernetes layout (test/integration/kubelet).
 */
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { envoyTarget } from '../../../src/targets/envoy/index.js';
import { covers, egressPrincipals } from '../../../src/targets/envoy/egress-identity.js';
import { emitSorted } from '../../../src/targets/target.js';
import { fakeCerts, sampleMesh } from './sample.js';

type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any

function emit(viaGateway: boolean, mutate?: Parameters<typeof sampleMesh>[0]) {
  const mesh = sampleMesh((w) => {
    w.spec.egress = { ...w.spec.egress, viaGateway };
    w.spec.services.web.egress = ['api.stripe.com', '*.x.example'];
    w.spec.services.lonely.egress = ['a.x.example'];
    mutate?.(w);
  });
  const files = emitSorted(envoyTarget, mesh, fakeCerts(mesh));
  const boot = (name: string): Any => parse(files.find((f) => f.path === `envoy/${name}.yaml`)!.content);
  return { mesh, boot };
}
const listener = (b: Any, name: string): Any => b.static_resources.listeners.find((l: Any) => l.name === name);
const cluster = (b: Any, name: string): Any => b.static_resources.clusters.find((c: Any) => c.name === name);
const chainFor = (l: Any, name: string): Any => l.filter_chains.find((c: Any) => c.filter_chain_match.server_names[0] === name);
const spiffe = (name: string) => `spiffe://shop.example/ns/shop/sa/${name}`;

describe('egress per identity: which identities each name admits', () => {
  it('covers: exact names, subdomains of a wildcard at any depth, never the apex', () => {
    expect(covers('api.x', 'api.x')).toBe(true);
    expect(covers('*.x', 'a.b.x')).toBe(true);
    expect(covers('*.x', '*.a.x')).toBe(true);
    expect(covers('*.x', 'x')).toBe(false);
    expect(covers('*.a.x', 'b.x')).toBe(false);
    expect(covers('api.x', '*.x')).toBe(false);
  });

  it('a name admits the services whose own list (or the mesh-wide one) covers it, and no one else', () => {
    const { mesh } = emit(true);
    const p = egressPrincipals(mesh);
    const all = mesh.services.map((s) => s.spiffeId);
    expect(p.get('*.googleapis.com')).toEqual(all); // mesh-wide
    expect(p.get('api.segment.io')).toEqual([spiffe('frontend')]);
    expect(p.get('api.stripe.com')).toEqual([spiffe('web')]);
    // The more specific chain wins in Envoy, so it admits the wildcard's services too.
    expect(p.get('a.x.example')).toEqual([spiffe('lonely'), spiffe('web')]);
    expect(p.get('*.x.example')).toEqual([spiffe('web')]);
  });
});

describe('egress per identity: the gateway', () => {
  it('requires a mesh client certificate on every TLS chain, with exactly the identities allowed that name, checked again by RBAC', () => {
    const { boot } = emit(true);
    const gw = boot('egress-gateway');
    const tls = listener(gw, 'egress-tls');
    // Its own identity, by SDS (rotated without a restart).
    for (const c of tls.filter_chains) expect(c.transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs[0].sds_config.path_config_source.path).toBe('envoy/sds/identity/egress-gateway.yaml');
    expect(tls.filter_chains.every((c: Any) => c.transport_socket?.typed_config.require_client_certificate === true)).toBe(true);
    const stripe = chainFor(tls, 'api.stripe.com');
    const sans = stripe.transport_socket.typed_config.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names;
    expect(sans).toEqual([{ san_type: 'URI', matcher: { exact: spiffe('web') } }]);
    const rbac = stripe.filters[0];
    expect(rbac.name).toBe('envoy.filters.network.rbac');
    const policy: Any = Object.values(rbac.typed_config.rules.policies)[0];
    expect(policy.principals).toEqual([{ authenticated: { principal_name: { exact: spiffe('web') } } }]);
    expect(policy.permissions).toEqual([{ requested_server_name: { exact: 'api.stripe.com', ignore_case: true } }]);
    const wild: Any = Object.values(chainFor(tls, '*.x.example').filters[0].typed_config.rules.policies)[0];
    expect(wild.permissions).toEqual([{ requested_server_name: { suffix: '.x.example', ignore_case: true } }]);
    // The destination is dialled only after the caller's first bytes passed the checks.
    const proxy = stripe.filters.at(-1);
    expect(proxy.name).toBe('envoy.filters.network.tcp_proxy');
    expect(proxy.typed_config.upstream_connect_mode).toBe('ON_DOWNSTREAM_DATA');
  });

  it('requires a mesh client certificate on the HTTP port, denies by default and admits each Host to its own identities', () => {
    const { boot } = emit(true);
    const http = listener(boot('egress-gateway'), 'egress-http').filter_chains[0];
    expect(http.transport_socket.typed_config.require_client_certificate).toBe(true);
    const hcm = http.filters[0].typed_config;
    expect(hcm.http_filters[0].name).toBe('envoy.filters.http.rbac');
    expect(hcm.http_filters[0].typed_config.rules).toEqual({ action: 'ALLOW', policies: {} }); // no policy: nothing passes without a per-host one
    const vh = hcm.route_config.virtual_hosts.find((v: Any) => v.name === 'http|api.stripe.com');
    const perRoute = vh.typed_per_filter_config['envoy.filters.http.rbac'].rbac.rules.policies;
    expect(Object.values(perRoute).flatMap((p: Any) => p.principals)).toEqual([{ authenticated: { principal_name: { exact: spiffe('web') } } }]);
  });

  it('writes a name many services may reach as one anchored regex of their names, and raises Envoy’s regex size limit to fit', () => {
    const { mesh, boot } = emit(true);
    const gw = boot('egress-gateway');
    const chain = chainFor(listener(gw, 'egress-tls'), '*.googleapis.com');
    const [san] = chain.transport_socket.typed_config.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names;
    const names = mesh.services.map((s) => s.name).join('|');
    expect(san).toEqual({ san_type: 'URI', matcher: { safe_regex: { regex: `^spiffe://shop\\.example/ns/shop/sa/(?:${names})$` } } });
    const re = new RegExp(san.matcher.safe_regex.regex);
    expect(re.test(spiffe('web'))).toBe(true);
    expect(re.test(spiffe('egress-gateway'))).toBe(false);
    expect(re.test(spiffe('web') + 'x')).toBe(false);
    expect(re.test('spiffe://shopXexample/ns/shop/sa/web')).toBe(false);
    const rbac: Any = Object.values(chain.filters[0].typed_config.rules.policies)[0];
    expect(rbac.principals).toEqual([{ authenticated: { principal_name: san.matcher } }]);
    const limit = gw.layered_runtime.layers[0].static_layer['re2.max_program_size.error_level'];
    expect(limit).toBeGreaterThan(san.matcher.safe_regex.regex.length);
  });

  it('without viaGateway stays the plain forward proxy for the union of every list', () => {
    const { boot } = emit(false);
    const gw = boot('egress-gateway');
    expect(gw.static_resources.secrets).toBeUndefined();
    expect(listener(gw, 'egress-tls').filter_chains.some((c: Any) => c.transport_socket)).toBe(false);
  });
});

describe('egress per identity: the sidecar', () => {
  it('keeps its own list and reaches the gateway over mTLS as itself, verifying the gateway’s identity, with the destination as SNI', () => {
    const { boot } = emit(true);
    const web = boot('web');
    const tls = listener(web, 'egress-tls');
    expect(tls.filter_chains.map((c: Any) => c.filter_chain_match.server_names[0])).toEqual(['*.googleapis.com', '*.x.example', 'api.stripe.com']);
    const chain = chainFor(tls, 'api.stripe.com');
    expect(chain.filters[0].typed_config.on_new_connection[0]).toMatchObject({
      object_key: 'envoy.network.upstream_server_name',
      format_string: { text_format_source: { inline_string: '%REQUESTED_SERVER_NAME%' } },
    });
    for (const name of ['egress|gateway-tls', 'egress|gateway-http']) {
      const c = cluster(web, name);
      const ctx = c.transport_socket.typed_config.common_tls_context;
      expect(ctx.tls_certificate_sds_secret_configs.map((r: Any) => [r.name, r.sds_config.path_config_source.path])).toEqual([['mesh-identity', 'envoy/sds/identity/web.yaml']]);
      expect(ctx.combined_validation_context.default_validation_context.match_typed_subject_alt_names).toEqual([{ san_type: 'URI', matcher: { exact: spiffe('egress-gateway') } }]);
      expect(ctx.combined_validation_context.validation_context_sds_secret_config.sds_config.path_config_source.path).toBe('envoy/sds/trust-bundle.yaml');
    }
    expect(web.static_resources.secrets).toBeUndefined();
  });
});
