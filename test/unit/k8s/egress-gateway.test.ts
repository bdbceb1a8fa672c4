/**
 * The egress gateway in the k8s tree: its own identity Secret mounted, mTLS on every listener,
 * each caller admitted to its own list. Run for real in test/integration/kubelet.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { EGRESS_GATEWAY } from '../../../src/model/mesh.js';
import { k8sTarget } from '../../../src/targets/k8s/index.js';
import { emitSorted } from '../../../src/targets/target.js';
import { type Any, docs, fakeCerts, kinds, loadFixture } from './support.js';

const mesh = await loadFixture('shop');
const files = emitSorted(k8sTarget, mesh, fakeCerts(mesh));
const objects = docs(files, 'k8s/', 'secrets/k8s/');

describe('k8s: the egress gateway', () => {
  const deployment = kinds(objects, 'Deployment').find((d) => d.metadata.name === EGRESS_GATEWAY);
  const configMap = kinds(objects, 'ConfigMap').find((c) => c.metadata.name === `${EGRESS_GATEWAY}-envoy`);
  const bootstrap: Any = parse(configMap.data[`${EGRESS_GATEWAY}.yaml`]);

  it('mounts its own identity Secret and the trust bundle, which its SDS files name', () => {
    const sources = deployment.spec.template.spec.volumes[0].projected.sources;
    const secret = sources.find((s: Any) => s.secret)?.secret;
    expect(secret.name).toBe('egress-gateway-tls');
    expect(secret.items.map((i: Any) => i.path)).toEqual(['certs/egress-gateway.pem', 'secrets/egress-gateway.key']);
    expect(sources.some((s: Any) => s.configMap?.name === 'meshc-ca-bundle')).toBe(true);
    expect(kinds(objects, 'Secret').map((s) => s.metadata.name)).toContain('egress-gateway-tls');
    const identity: Any = parse(configMap.data['sds-identity-egress-gateway.yaml']);
    expect(identity.resources[0].tls_certificate.certificate_chain.filename).toBe('certs/egress-gateway.pem');
    expect(bootstrap.static_resources.secrets).toBeUndefined();
  });

  it('requires a mesh client certificate on both listeners; api.stripe.com admits payments alone', () => {
    // The metrics listener is plaintext and answers /metrics only (spec.telemetry.metrics).
    for (const l of bootstrap.static_resources.listeners.filter((x: Any) => x.name !== 'metrics')) {
      for (const c of l.filter_chains) expect(c.transport_socket.typed_config.require_client_certificate, l.name).toBe(true);
    }
    const tls = bootstrap.static_resources.listeners.find((l: Any) => l.name === 'egress-tls');
    const stripe = tls.filter_chains.find((c: Any) => c.filter_chain_match.server_names[0] === 'api.stripe.com');
    expect(stripe.transport_socket.typed_config.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names).toEqual([
      { san_type: 'URI', matcher: { exact: 'spiffe://shop.example/ns/shop/sa/payments' } },
    ]);
  });

  it('is reached by every sidecar with egress over mTLS, as that sidecar', () => {
    const cart: Any = parse(kinds(objects, 'ConfigMap').find((c) => c.metadata.name === 'cart-envoy').data['cart.yaml']);
    const gw = cart.static_resources.clusters.find((c: Any) => c.name === 'egress|gateway-tls');
    expect(gw.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address).toBe('egress-gateway.shop.svc.cluster.local');
    expect(gw.transport_socket.typed_config.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names).toEqual([
      { san_type: 'URI', matcher: { exact: 'spiffe://shop.example/ns/shop/sa/egress-gateway' } },
    ]);
    // cart's own list is the mesh-wide one: never api.stripe.com.
    const names = cart.static_resources.listeners.find((l: Any) => l.name === 'egress-tls').filter_chains.map((c: Any) => c.filter_chain_match.server_names[0]);
    expect(names).toEqual(['*.googleapis.com', 'sentry.io']);
  });
});
