/**
 * The NetworkPolicy backstop of the istio/ tree: the same edges as the k8s/ tree's policies, on the
 * ports Istio uses. The sidecar captures traffic inside the pod, so a connection reaches the callee
 * pod on the application's own port (the Service's targetPort); every pod also reaches istiod
 * (xDS and certificates, port 15012 in istio-system) and DNS. Sidecars send allowed egress straight
 * to the destination (no egress gateway here), so services with an egress list may reach the
 * internet on the egress ports and no other pod may.
 *
 *   meshc.default-deny, meshc.allow-dns   as in k8s/
 *   meshc.allow-istiod                    every pod: egress to istiod on 15012
 *   meshc.allow-metrics                   every pod: scrapes in on Istio's 15020 (merged) and 15090 (Envoy), with metrics on
 *   meshc.allow-otlp                      every pod: egress to the OTLP endpoint's port, with telemetry.tracing (as in k8s/)
 *   <service>                             ingress from each caller with an edge to it, on its port;
 *                                         egress to each upstream that admits it, on the upstream's port;
 *                                         egress to the internet on the egress ports when it has egress
 *   ingress-gateway                       ingress from anywhere on its HTTP and HTTPS ports; egress to the routed services
 */
import { INGRESS_GATEWAY, type Mesh, type Service } from '../../model/mesh.js';
import { meshEdges, namespacePolicies, NON_INTERNET_CIDRS, pods, policy, tcp } from '../k8s/network-policy.js';
import { METRICS_POLICY } from '../k8s/metrics.js';
import { otlpPolicy } from '../k8s/telemetry.js';

type Obj = Record<string, unknown>;

export const ALLOW_ISTIOD = 'meshc.allow-istiod';
/** istiod's xDS and certificate port (TLS), in Istio's default control-plane namespace. */
export const ISTIOD_PEER = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'istio-system' } }, podSelector: { matchLabels: { app: 'istiod' } } };
const ISTIOD_PORT = 15012;
/** Istio's metrics ports: the agent's merged endpoint (where its injector points `prometheus.io/port`) and Envoy's own. */
const ISTIO_METRICS_PORTS = [15020, 15090];

function internet(mesh: Mesh): Obj {
  const ports = [...new Set([mesh.egress.httpPort, mesh.egress.tlsPort])].sort((a, b) => a - b).map(tcp);
  return { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: NON_INTERNET_CIDRS } }], ports };
}

function egressToCallees(mesh: Mesh, caller: string): Obj[] {
  return (meshEdges(mesh).callees.get(caller) ?? []).map((s) => ({ to: [pods(s.name)], ports: [tcp(s.port)] }));
}

function servicePolicy(mesh: Mesh, svc: Service): Obj {
  const callers = meshEdges(mesh).callers.get(svc.name) ?? [];
  const ingress: Obj[] = callers.length > 0 ? [{ from: callers.map(pods), ports: [tcp(svc.port)] }] : [];
  const egress = egressToCallees(mesh, svc.name);
  if (svc.egress.length > 0) egress.push(internet(mesh));
  return policy(mesh, svc.name, pods(svc.name).podSelector, { policyTypes: ['Ingress', 'Egress'], ingress, egress });
}

/** Every NetworkPolicy of the istio/ tree (the ingress gateway's only when it is deployed). */
export function istioNetworkPolicies(mesh: Mesh): Obj[] {
  const out: Obj[] = [
    ...namespacePolicies(mesh),
    policy(mesh, ALLOW_ISTIOD, {}, { policyTypes: ['Egress'], egress: [{ to: [ISTIOD_PEER], ports: [tcp(ISTIOD_PORT)] }] }),
    ...(mesh.telemetry.metrics.enabled ? [policy(mesh, METRICS_POLICY, {}, { policyTypes: ['Ingress'], ingress: [{ ports: ISTIO_METRICS_PORTS.map(tcp) }] })] : []),
    ...otlpPolicy(mesh),
    ...mesh.services.map((s) => servicePolicy(mesh, s)),
  ];
  if (mesh.ingress.hosts.length > 0) {
    const gw = mesh.ingress;
    const ports = [...new Set([gw.httpPort, gw.httpsPort])].sort((a, b) => a - b).map(tcp);
    out.push(
      policy(mesh, INGRESS_GATEWAY, pods(INGRESS_GATEWAY).podSelector, {
        policyTypes: ['Ingress', 'Egress'],
        ingress: [{ ports }],
        egress: egressToCallees(mesh, INGRESS_GATEWAY),
      }),
    );
  }
  return out;
}
