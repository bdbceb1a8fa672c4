/**
 * What the Kubernetes target reports beyond the capability matrix (it deploys Envoy sidecars, so
 * it inherits the Envoy column): addresses written for a single machine that mean something else
 * inside a pod. Warnings: the manifests are still produced.
 */
import { error, pointer, warning, type Finding } from '../../model/diagnostic.js';
import type { Mesh } from '../../model/mesh.js';
import { unsupported } from '../features.js';
import { capabilities } from './capabilities.js';
import { endpointNameClaims, endpointServiceName } from './emit.js';
import { baselineServices } from './pod-security.js';
import { accessLogFindings } from './telemetry.js';

/** A target expressing a field only approximately (README diagnostics table). */
const PARTIAL = 'partially-supported-feature';

export function checkK8s(mesh: Mesh): Finding[] {
  const out: Finding[] = [...unsupported({ name: 'k8s', capabilities }, mesh), ...serviceNameFindings('k8s', mesh), ...baselineFindings('k8s', mesh), ...accessLogFindings(mesh)];
  for (const svc of mesh.services) {
    const sc = svc.sidecar;
    const at = (...rest: (string | number)[]) => pointer('spec', 'services', svc.name, ...rest);
    if (sc.bindAddress !== '0.0.0.0') {
      out.push(
        warning(
          PARTIAL,
          at('sidecar', 'bindAddress'),
          `k8s: sidecar.bindAddress ${sc.bindAddress} is used as written inside the pod; other pods and the kubelet reach the pod on its own IP`,
          'leave sidecar.bindAddress at 0.0.0.0 for Kubernetes',
        ),
      );
    }
    svc.endpoints.forEach((e, i) => {
      if (e.isIp) {
        out.push(
          warning(
            PARTIAL,
            at('endpoints', i),
            `k8s: endpoint ${e.host}:${e.port} is an IP address; sidecars in the cluster call it as written, not the pods of ${svc.name}`,
            `leave endpoints unset (default ${svc.name}.${mesh.namespace}.svc.cluster.local:${sc.inboundPort}) for Kubernetes`,
          ),
        );
      } else if (endpointServiceName(mesh, e.host) !== undefined && e.port !== sc.inboundPort) {
        out.push(
          warning(
            PARTIAL,
            at('endpoints', i),
            `k8s: endpoint ${e.host}:${e.port} resolves (headless Service) to pod addresses, where the sidecar listens on ${sc.inboundPort}, not ${e.port}`,
            `use port ${sc.inboundPort}`,
          ),
        );
      }
    });
    const named = svc.endpoints.filter((e) => endpointServiceName(mesh, e.host) !== undefined);
    if (named.length > 1 && new Set(named.map((e) => e.weight)).size > 1) {
      out.push(
        warning(
          PARTIAL,
          at('endpoints'),
          `k8s: the endpoint names of ${svc.name} are headless Services selecting the same pods (one Deployment), so their weights do not split traffic between different pods`,
          'deploy the pods behind each name yourself, or use one endpoint',
        ),
      );
    }
  }
  for (const [key, address] of [
    ['ingress', mesh.ingress.bindAddress],
    ['egress', mesh.egressGateway.bindAddress],
  ] as const) {
    if (address !== '0.0.0.0') {
      out.push(
        warning(
          PARTIAL,
          key === 'ingress' ? pointer('spec', 'ingress', 'bindAddress') : pointer('spec', 'egress', 'gateway', 'bindAddress'),
          `k8s: the ${key} gateway binds ${address} inside its pod; its Service reaches the pod on the pod IP`,
          'leave bindAddress at 0.0.0.0 for Kubernetes',
        ),
      );
    }
  }
  for (const [name, owners] of endpointNameClaims(mesh)) {
    if (owners.length < 2) continue;
    out.push(
      warning(
        PARTIAL,
        pointer('spec', 'services', owners[0], 'endpoints'),
        `k8s: the endpoint name ${name} is listed by ${owners.join(' and ')}; one Service cannot select the pods of several services, so none is generated for it`,
        'give each service endpoint names of its own',
      ),
    );
  }
  return out;
}

/**
 * A Kubernetes Service name is a DNS-1035 label: it must start with a letter, where a mesh
 * service name (DNS-1123) may start with a digit. Both the k8s and the Istio trees create one.
 */
export function serviceNameFindings(target: 'k8s' | 'istio', mesh: Mesh): Finding[] {
  return mesh.services
    .filter((s) => !/^[a-z]/.test(s.name))
    .map((s) => ({
      ...error(
        'unsupported-feature',
        pointer('spec', 'services', s.name),
        `${target} cannot express the service name ${s.name}: a Kubernetes Service name must start with a letter`,
        `rename it, for example to s${s.name}`,
      ),
      atKey: true,
    }));
}

/**
 * An application allowed to run as root (`runAsNonRoot: false`) fails the Pod Security
 * "restricted" level: its namespace must admit baseline. The k8s/ Namespace then enforces
 * baseline; the istio/ tree leaves the namespace's level to the cluster.
 */
export function baselineFindings(target: 'k8s' | 'istio', mesh: Mesh): Finding[] {
  return baselineServices(mesh).map((s) =>
    warning(
      'pod-security-baseline',
      pointer('spec', 'services', s.name, 'kubernetes', 'securityContext', 'runAsNonRoot'),
      `${target}: ${s.name} may run its application as root, which the Pod Security "restricted" level refuses: namespace ${mesh.namespace} must allow baseline${target === 'k8s' ? ' (the generated Namespace enforces baseline)' : ''}`,
      'run the application as a non-root user (set runAsUser) and remove runAsNonRoot: false',
    ),
  );
}
