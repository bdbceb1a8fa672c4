/**
 * What Istio cannot express for this mesh: the Istio column of the capability matrix
 * (src/targets/capabilities.ts), for example a least-request choice count other than 2
 * (DestinationRule has no such field; Envoy's default of two is what Istio configures) or
 * wildcard egress, which Istio admits only with `resolution: NONE`.
 */
import { pointer, warning, type Finding } from '../../model/diagnostic.js';
import { hasWrittenEndpoints, weightedEndpointServices } from './workloads.js';
import type { Mesh } from '../../model/mesh.js';
import { unsupported } from '../features.js';
import { capabilities } from './capabilities.js';
import { baselineFindings, serviceNameFindings } from '../k8s/check.js';

export function checkIstio(mesh: Mesh): Finding[] {
  return [...unsupported({ name: 'istio', capabilities }, mesh), ...serviceNameFindings('istio', mesh), ...baselineFindings('istio', mesh), ...serviceEntryHosts(mesh), identityNote(mesh)];
}

/** A service whose host is a ServiceEntry (no Service of its name): cluster DNS does not know it. */
function serviceEntryHosts(mesh: Mesh): Finding[] {
  return mesh.services
    .filter((s) => hasWrittenEndpoints(mesh, s) && weightedEndpointServices(mesh, s) === undefined)
    .map((s) =>
      warning(
        'partially-supported-feature',
        pointer('spec', 'services', s.name, 'endpoints'),
        `istio: the endpoints of ${s.name} are not all Services of namespace ${mesh.namespace}, so its host is a ServiceEntry: callers resolve ${s.name}.${mesh.namespace}.svc.cluster.local only with Istio's DNS proxying (ISTIO_META_DNS_CAPTURE)`,
        `list endpoints as <name>.${mesh.namespace}.svc.cluster.local:<port> (each gets a Service), or enable DNS proxying`,
      ),
    );
}

/**
 * Under Istio, istiod's CA issues the workload certificates in the trust domain Istio was installed
 * with: the mesh's trustDomain and pki settings apply to the other targets only. The principals
 * are written as `cluster.local/...`, which Istio reads as its own trust domain, whatever it is.
 */
function identityNote(mesh: Mesh): Finding {
  return {
    code: 'target-ignores-setting',
    severity: 'note',
    pointer: pointer('spec', 'trustDomain'),
    message: `istio: trustDomain ${mesh.trustDomain} and pki are not used in istio/: istiod issues the certificates, in the trust domain Istio was installed with; AuthorizationPolicies name principals as cluster.local/ns/${mesh.namespace}/sa/<service>, which Istio matches in its own trust domain`,
    hint: `to keep SPIFFE IDs spiffe://${mesh.trustDomain}/..., install Istio with meshConfig.trustDomain: ${mesh.trustDomain}`,
  };
}
