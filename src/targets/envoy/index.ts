/**
 * The Envoy target: one v3 bootstrap (static_resources) per workload, for the Envoy version the
 * integration harness pins (1.40).
 *
 *   envoy/<service>.yaml          a sidecar per service
 *   envoy/ingress-gateway.yaml    TLS termination by SNI, redirects, routing to services
 *   envoy/egress-gateway.yaml     egress: each caller's own list over mTLS (viaGateway), or the union of all lists
 *   envoy/sds/...                 certificates and trust by SDS from files (see sds.ts)
 *
 * Envoy runs with its working directory at the output root: certificate and key paths in the
 * bootstraps are relative to it (see src/certs/material.ts).
 */
import { GENERATED_HEADER, wanted, type OutputFile, type Target } from '../target.js';
import { toYaml } from '../../output/yaml.js';
import { EGRESS_GATEWAY, INGRESS_GATEWAY, serviceByName, type Mesh } from '../../model/mesh.js';
import type { CertMaterial } from '../../certs/material.js';
import { capabilities } from './capabilities.js';
import { checkEnvoy } from './check.js';
import { envoyVerifier } from './verify.js';
import { egressGatewayBootstrap, ingressBootstrap } from './gateways.js';
import { sidecarBootstrap } from './sidecar.js';
import { sdsFiles } from './sds.js';

export const envoyTarget: Target = {
  name: 'envoy',
  description: 'Envoy v3 bootstraps: a sidecar per service, the ingress and egress gateways (envoy/*.yaml)',
  readme: {
    what: 'Envoy v3 bootstraps: a sidecar per service, the ingress and egress gateways',
    use: '`cd <out> && envoy -c envoy/<workload>.yaml` (check: `envoy --mode validate -c envoy/<workload>.yaml`)',
  },
  check: checkEnvoy,
  capabilities,
  verifier: envoyVerifier,
  *emit(mesh, certs, only): Iterable<OutputFile> {
    const names = [...mesh.services.map((s) => s.name).filter((n) => wanted(only, n)), INGRESS_GATEWAY, EGRESS_GATEWAY];
    for (const name of names) yield { path: `envoy/${name}.yaml`, content: envoyBootstrap(mesh, certs, name, true) };
    yield* sdsFiles(certs, names);
  },
};

/**
 * The bootstrap of one workload (a service or a gateway), as text. `runLine`: the header says how to
 * run it from the output tree (envoy/ files); the copies the Kubernetes target mounts have none.
 */
export function envoyBootstrap(mesh: Mesh, certs: CertMaterial, name: string, runLine = false): string {
  const header = (title: string) => (runLine ? `${GENERATED_HEADER}\n# Envoy: ${title}.\n# Run: cd <out> && envoy -c envoy/${name}.yaml` : GENERATED_HEADER);
  if (name === INGRESS_GATEWAY) return toYaml(ingressBootstrap(mesh, certs), header('ingress gateway'));
  if (name === EGRESS_GATEWAY) return toYaml(egressGatewayBootstrap(mesh, certs), header('egress gateway'));
  const svc = serviceByName(mesh, name);
  if (!svc) throw new Error(`envoy: no workload named ${name}`);
  return toYaml(sidecarBootstrap(mesh, certs, svc), header(`sidecar of service "${name}"`));
}
