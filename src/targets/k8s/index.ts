/**
 * The Kubernetes target: kustomize-ready manifests deploying every service with an Envoy sidecar,
 * both gateways and NetworkPolicies (k8s/), and the private keys as Secrets in an overlay
 * (secrets/k8s/). See emit.ts for the layout.
 *
 * The sidecar ConfigMaps hold exactly the Envoy target's bootstraps (for the mesh as it runs in
 * the cluster, see inClusterMesh).
 */
import type { CertMaterial } from '../../certs/material.js';
import type { Mesh } from '../../model/mesh.js';
import { envoyBootstrap } from '../envoy/index.js';
import type { OutputFile, Target } from '../target.js';
import { capabilities } from './capabilities.js';
import { checkK8s } from './check.js';
import { emitK8s } from './emit.js';

/**
 * The mesh as it runs in the cluster: egress always goes through the egress gateway's Service,
 * because the NetworkPolicies let only the gateway reach the internet. The sidecar ConfigMaps hold
 * the Envoy target's bootstraps for this mesh.
 */
export function inClusterMesh(mesh: Mesh): Mesh {
  return {
    ...mesh,
    egress: { ...mesh.egress, viaGateway: true },
    egressGateway: { ...mesh.egressGateway, address: `${mesh.egressGateway.name}.${mesh.namespace}.svc.cluster.local` },
  };
}

/** Each workload's Envoy bootstrap as the cluster runs it (see inClusterMesh), by name. */
const bootstraps = (mesh: Mesh, certs: CertMaterial) => {
  const inCluster = inClusterMesh(mesh);
  return (name: string) => envoyBootstrap(inCluster, certs, name);
};

export const k8sTarget: Target = {
  name: 'k8s',
  description: 'Kubernetes manifests, kustomize-ready: Deployments with Envoy sidecars, gateways, NetworkPolicies (k8s/, keys in secrets/k8s/)',
  readme: {
    what: 'Kubernetes manifests, kustomize-ready: Deployments with Envoy sidecars, gateways, NetworkPolicies (the key Secrets are the overlay in `secrets/k8s/`)',
    use: '`kubectl apply -k <out>/secrets/k8s` (everything), or `kubectl apply -k <out>/k8s` and create the Secrets another way',
  },
  check: checkK8s,
  capabilities,
  emit(mesh, certs, only): Iterable<OutputFile> {
    return emitK8s(mesh, certs, bootstraps(mesh, certs), only);
  },
};
