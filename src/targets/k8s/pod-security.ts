/**
 * Pod Security Admission for the k8s/ tree: every pod meshc writes passes the Pod Security
 * Standards restricted profile, unless a service opts its application out (`securityContext.
 * runAsNonRoot: false`); its namespace then enforces baseline, and `check` warns.
 * https://kubernetes.io/docs/concepts/security/pod-security-standards/
 */
import type { Mesh, Service } from '../../model/mesh.js';
import { commonLabels } from './names.js';

export type PodSecurityLevel = 'restricted' | 'baseline';

/** Services whose application may run as root: each needs a namespace that admits baseline. */
export function baselineServices(mesh: Mesh): Service[] {
  return mesh.services.filter((s) => !s.kubernetes.securityContext.runAsNonRoot);
}

export function podSecurityLevel(mesh: Mesh): PodSecurityLevel {
  return baselineServices(mesh).length > 0 ? 'baseline' : 'restricted';
}

/** The Namespace's labels: it enforces the level its pods pass, and warns and audits against restricted. */
export function namespaceLabels(mesh: Mesh): Record<string, string> {
  const labels = commonLabels(mesh);
  labels['pod-security.kubernetes.io/enforce'] = podSecurityLevel(mesh);
  labels['pod-security.kubernetes.io/audit'] = 'restricted';
  labels['pod-security.kubernetes.io/warn'] = 'restricted';
  return labels;
}
