/**
 * The Kubernetes target: kustomize-ready manifests deploying every service with an Envoy sidecar,
 * both gateways and NetworkPolicies (k8s/), and the private keys as Secrets in an overlay
 * (secrets/k8s/). See emit.ts for the layout.
 *
 * The sidecar ConfigMaps hold exactly the Envoy target's bootstraps: this target runs the Envoy
 * target's `emit` and picks `envoy/<workload>.yaml`.
 */
import type { CertMaterial } from '../../certs/material.js';
import type { Mesh } from '../../model/mesh.js';
import { envoyTarget } from '../envoy/index.js';
import type { OutputFile, Target } from '../target.js';
import { istioTarget } from '../istio/index.js';
import { checkK8s } from './check.js';
import { emitK8s } from './emit.js';

/**
 * The Envoy bootstraps by path, as they run in the cluster: egress always goes through the
 * egress gateway's Service, because the NetworkPolicies let only the gateway reach the internet.
 * `emitEnvoy` is replaceable for tests only.
 */
export function envoyBootstraps(mesh: Mesh, certs: CertMaterial, emitEnvoy: Target['emit'] = (m, c) => envoyTarget.emit(m, c)): Map<string, string> {
  const inCluster: Mesh = {
    ...mesh,
    egress: { ...mesh.egress, viaGateway: true },
    egressGateway: { ...mesh.egressGateway, address: `${mesh.egressGateway.name}.${mesh.namespace}.svc.cluster.local` },
  };
  return new Map(emitEnvoy(inCluster, certs).map((f) => [f.path, f.content]));
}

export const k8sTarget: Target = {
  name: 'k8s',
  description: 'Kubernetes manifests, kustomize-ready: Deployments with Envoy sidecars, gateways, NetworkPolicies (k8s/, keys in secrets/k8s/)',
  check: checkK8s,
  emit(mesh, certs): OutputFile[] {
    return emitK8s(mesh, certs, envoyBootstraps(mesh, certs));
  },
};

/**
 * Both Kubernetes-facing trees (k8s/, istio/ and their secrets/ overlays) for one mesh, sorted by
 * path: what the golden test for the shop fixture (test/golden/k8s-istio/) compares. Pure and
 * deterministic: the same mesh and certificate material give the same bytes.
 */
export function emitK8sAndIstio(mesh: Mesh, certs: CertMaterial): OutputFile[] {
  return [...k8sTarget.emit(mesh, certs), ...istioTarget.emit(mesh, certs)].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
