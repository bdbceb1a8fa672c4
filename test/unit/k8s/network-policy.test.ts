/**
 * NetworkPolicies exactly as wide as the policy: the edges computed from the NetworkPolicy objects
 * (selectors resolved against the pods' labels), each direction on its own, EQUAL the edges the
 * mesh allows (caller lists the callee in upstreams and the callee admits it; ingress gateway to
 * routed services; services with egress to the egress gateway; DNS), for every fixture.
 */
import { describe, expect, it } from 'vitest';
import type { Mesh } from '../../../src/model/mesh.js';
import { k8sTarget } from '../../../src/targets/k8s/index.js';
import { istioTarget } from '../../../src/targets/istio/index.js';
import { emitSorted } from '../../../src/targets/target.js';
import { docs, expectedIstioPolicyEdges, expectedPolicyEdges, fakeCerts, handMeshes, kinds, loadFixture, policyEdges, policyPods, validFixtureNames } from './support.js';

const all: [string, Mesh][] = [];
for (const n of validFixtureNames()) all.push([n, await loadFixture(n)]);
for (const [n, m] of Object.entries(handMeshes())) all.push([`hand:${n}`, m]);

const sorted = (s: Set<string>) => [...s].sort();

describe.each(all)('k8s NetworkPolicies: %s', (_name, mesh) => {
  const k8s = docs(emitSorted(k8sTarget, mesh, fakeCerts(mesh)), 'k8s/');
  const pods = policyPods(k8s);
  const actual = policyEdges(kinds(k8s, 'NetworkPolicy'), pods);
  const expected = expectedPolicyEdges(mesh);
  // Scrapes reach every pod's metrics port from anywhere (Prometheus may run in any namespace).
  if (mesh.telemetry.metrics.enabled) for (const p of pods) expected.ingress.add(`*->${p.name}:TCP/${mesh.telemetry.metrics.port}`);

  it('egress of every pod: exactly its upstreams that admit it, the egress gateway when it has egress, DNS', () => {
    expect(sorted(actual.egress)).toEqual(sorted(expected.egress));
  });

  it('ingress of every pod: exactly the callers that call it and that it admits; the ingress gateway from anywhere; the metrics port from anywhere', () => {
    expect(sorted(actual.ingress)).toEqual(sorted(expected.ingress));
  });

  it('pod to pod (both ends must allow): exactly the mesh edges', () => {
    const both = [...actual.egress].filter((e) => actual.ingress.has(e) && !/->(kube-dns|internet|ip:)/.test(e));
    const want = [...expected.egress].filter((e) => !/->(kube-dns|internet|ip:)/.test(e));
    expect(both.sort()).toEqual(want.sort());
  });
});

describe.each(all)('istio NetworkPolicies (backstop): %s', (_name, mesh) => {
  const istio = docs(emitSorted(istioTarget, mesh, fakeCerts(mesh)), 'istio/');
  const pods = policyPods(istio);
  const actual = policyEdges(kinds(istio, 'NetworkPolicy'), pods);
  const expected = expectedIstioPolicyEdges(mesh);
  // Scrapes reach Istio's metrics ports (the agent's merged 15020, Envoy's 15090) from anywhere.
  if (mesh.telemetry.metrics.enabled) for (const p of pods) for (const port of [15020, 15090]) expected.ingress.add(`*->${p.name}:TCP/${port}`);

  it('egress of every pod: exactly its upstreams that admit it on their ports, the internet when it has egress, DNS, istiod', () => {
    expect(sorted(actual.egress)).toEqual(sorted(expected.egress));
  });

  it('ingress of every pod: exactly the callers that call it; the ingress gateway from anywhere; Istio\'s metrics ports from anywhere', () => {
    expect(sorted(actual.ingress)).toEqual(sorted(expected.ingress));
  });
});

describe('k8s NetworkPolicies: named cases', () => {
  const edgesOf = async (name: string) => {
    const mesh = name.startsWith('hand:') ? handMeshes()[name.slice(5)] : await loadFixture(name);
    const k8s = docs(emitSorted(k8sTarget, mesh, fakeCerts(mesh)), 'k8s/');
    return { mesh, ...policyEdges(kinds(k8s, 'NetworkPolicy'), policyPods(k8s)) };
  };
  const port = (mesh: Mesh, s: string) => mesh.services.find((x) => x.name === s)!.sidecar.inboundPort;

  it('shop: frontend may not reach checkout or reviews (they admit it, it never calls them)', async () => {
    const { mesh, egress, ingress } = await edgesOf('shop');
    for (const callee of ['checkout', 'reviews']) {
      expect(egress.has(`frontend->${callee}:TCP/${port(mesh, callee)}`), callee).toBe(false);
      expect(ingress.has(`frontend->${callee}:TCP/${port(mesh, callee)}`), callee).toBe(false);
    }
    expect(egress.has(`frontend->cart:TCP/${port(mesh, 'cart')}`)).toBe(true);
    expect(ingress.has(`ingress-gateway->reviews:TCP/${port(mesh, 'reviews')}`)).toBe(true);
  });

  it('bank: web not to reports, accounts not to notifier, nobody to audit (it admits no caller)', async () => {
    const { mesh, egress, ingress } = await edgesOf('hand:bank');
    expect(egress.has(`web->reports:TCP/${port(mesh, 'reports')}`)).toBe(false);
    expect(ingress.has(`web->reports:TCP/${port(mesh, 'reports')}`)).toBe(false);
    expect(egress.has(`accounts->notifier:TCP/${port(mesh, 'notifier')}`)).toBe(false);
    expect(egress.has(`accounts->audit:TCP/${port(mesh, 'audit')}`)).toBe(false);
    // Nothing but the metrics port, which any scraper may reach.
    expect([...ingress].filter((e) => e.includes('->audit:'))).toEqual([`*->audit:TCP/${mesh.telemetry.metrics.port}`]);
    expect(egress.has(`web->accounts:TCP/${port(mesh, 'accounts')}`)).toBe(true);
    expect(egress.has(`accounts->egress-gateway:TCP/${mesh.egressGateway.tlsPort}`)).toBe(true);
    expect(egress.has(`web->egress-gateway:TCP/${mesh.egressGateway.tlsPort}`)).toBe(false);
  });
});
