/**
 * What Istio cannot express for this mesh: the Istio column of the capability matrix
 * (src/targets/capabilities.ts), for example a least-request choice count other than 2
 * (DestinationRule has no such field; Envoy's default of two is what Istio configures) or
 * wildcard egress, which Istio admits only with `resolution: NONE`.
 */
import type { Finding } from '../../model/diagnostic.js';
import type { Mesh } from '../../model/mesh.js';
import { unsupported } from '../features.js';
import { capabilities } from './capabilities.js';
import { baselineFindings, serviceNameFindings } from '../k8s/check.js';

export function checkIstio(mesh: Mesh): Finding[] {
  return [...unsupported({ name: 'istio', capabilities }, mesh), ...serviceNameFindings('istio', mesh), ...baselineFindings('istio', mesh)];
}
