/**
 * The Envoy target: one v3 bootstrap (static_resources) per workload, for the Envoy version the
 * integration harness pins (1.40).
 *
 *   envoy/<service>.yaml          a sidecar per service
 *   envoy/ingress-gateway.yaml    TLS termination by SNI, redirects, routing to services
 *   envoy/egress-gateway.yaml     the mesh-wide egress allow-list
 *
 * Envoy runs with its working directory at the output root: certificate and key paths in the
 * bootstraps are relative to it (see src/certs/material.ts).
 */
import { GENERATED_HEADER, type OutputFile, type Target } from '../target.js';
import { toYaml } from '../../output/yaml.js';
import { EGRESS_GATEWAY, INGRESS_GATEWAY } from '../../model/mesh.js';
import { checkEnvoy } from './check.js';
import { egressGatewayBootstrap, ingressBootstrap } from './gateways.js';
import { sidecarBootstrap } from './sidecar.js';

export const envoyTarget: Target = {
  name: 'envoy',
  description: 'Envoy v3 bootstraps: a sidecar per service, the ingress and egress gateways (envoy/*.yaml)',
  check: checkEnvoy,
  emit(mesh, certs): OutputFile[] {
    const files: OutputFile[] = mesh.services.map((svc) => ({
      path: `envoy/${svc.name}.yaml`,
      content: toYaml(sidecarBootstrap(mesh, certs, svc), GENERATED_HEADER),
    }));
    files.push({ path: `envoy/${INGRESS_GATEWAY}.yaml`, content: toYaml(ingressBootstrap(mesh, certs), GENERATED_HEADER) });
    files.push({ path: `envoy/${EGRESS_GATEWAY}.yaml`, content: toYaml(egressGatewayBootstrap(mesh), GENERATED_HEADER) });
    return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  },
};
