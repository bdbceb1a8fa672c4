/**
 * NetworkPolicies: the namespace denies everything, then each workload's policy opens exactly its
 * mesh edges, in both directions. An edge is a call the policy allows and some sidecar makes: the
 * caller lists the callee in `upstreams` and the callee names the caller in `allowFrom` (or the
 * ingress gateway routes to it). Policies are additive, so a pod may send or receive only what some
 * policy selecting it allows, on both ends of a connection:
 *
 *   meshc.default-deny     every pod: no ingress, no egress
 *   meshc.allow-dns        every pod: egress to kube-dns (kube-system) and to `dns.resolvers`, port 53 or as written
 *   <service>              ingress from each caller with an edge to it (ingress-gateway included) on inboundPort;
 *                          egress to each upstream with an edge from it, on that upstream's inboundPort;
 *                          egress to the egress gateway when the service has an egress allow-list
 *   ingress-gateway        ingress from anywhere on its HTTP and HTTPS ports; egress to the routed services
 *   egress-gateway         ingress from services with an egress allow-list; egress to the internet
 *                          (0.0.0.0/0 minus private, shared and link-local ranges) on the egress ports only
 *
 * Kubelet probes need no rule: traffic from the node a pod runs on is always allowed
 * (https://kubernetes.io/docs/concepts/services-networking/network-policies/).
 */
import { EGRESS_GATEWAY, INGRESS_GATEWAY, serviceByName, type Mesh, type Service } from '../../model/mesh.js';
import { commonLabels, selectorLabels } from './names.js';

type Obj = Record<string, unknown>;

/**
 * Not the internet: RFC 1918, shared address space (CGNAT, used by some CNIs), link-local (cloud
 * metadata endpoints). Pod and Service ranges of a cluster fall in these in every common setup.
 */
/** Namespace-wide policies: a dot in the name, so no workload's policy (named like it) collides. */
export const DEFAULT_DENY = 'meshc.default-deny';
export const ALLOW_DNS = 'meshc.allow-dns';

export const NON_INTERNET_CIDRS = ['10.0.0.0/8', '100.64.0.0/10', '169.254.0.0/16', '172.16.0.0/12', '192.168.0.0/16'];

export function policy(mesh: Mesh, name: string, podSelector: Obj, spec: Obj): Obj {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace: mesh.namespace, labels: commonLabels(mesh) },
    spec: { podSelector, ...spec },
  };
}

export const tcp = (port: number) => ({ protocol: 'TCP', port });
export const pods = (name: string) => ({ podSelector: { matchLabels: selectorLabels(name) } });

export function namespacePolicies(mesh: Mesh): Obj[] {
  const dnsPorts = [
    { protocol: 'UDP', port: 53 },
    { protocol: 'TCP', port: 53 },
  ];
  const egress: Obj[] = [
    {
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
      ports: dnsPorts,
    },
  ];
  // Resolvers written as IP addresses (a ClusterIP is translated to kube-dns pods before the
  // policy applies; an address outside the cluster needs its own rule).
  for (const r of mesh.dns.resolvers.filter((x) => /^\d+\.\d+\.\d+\.\d+$/.test(x.host))) {
    egress.push({ to: [{ ipBlock: { cidr: `${r.host}/32` } }], ports: [{ protocol: 'UDP', port: r.port }, { protocol: 'TCP', port: r.port }] });
  }
  return [
    policy(mesh, DEFAULT_DENY, {}, { policyTypes: ['Ingress', 'Egress'] }),
    policy(mesh, ALLOW_DNS, {}, { policyTypes: ['Egress'], egress }),
  ];
}

interface EdgeIndex {
  /** caller → the services it calls and that admit it, sorted by name. */
  callees: Map<string, Service[]>;
  /** callee → the identities that call it and that it admits, sorted. */
  callers: Map<string, string[]>;
}

const edgeIndex = new WeakMap<Mesh, EdgeIndex>();

/**
 * The mesh edges: caller → callee where the callee admits the caller (`callers`) and the caller
 * calls it (an upstream, or a route of the ingress gateway). A service that admits a caller which
 * never calls it opens nothing, and an upstream that does not admit its caller opens nothing.
 */
export function meshEdges(mesh: Mesh): EdgeIndex {
  let index = edgeIndex.get(mesh);
  if (!index) {
    index = { callees: new Map(), callers: new Map() };
    for (const callee of mesh.services) {
      for (const caller of callee.callers) {
        const calls = caller === INGRESS_GATEWAY || serviceByName(mesh, caller)?.upstreams.some((u) => u.service === callee.name) === true;
        if (!calls) continue;
        index.callees.set(caller, [...(index.callees.get(caller) ?? []), callee]);
        index.callers.set(callee.name, [...(index.callers.get(callee.name) ?? []), caller]);
      }
    }
    edgeIndex.set(mesh, index);
  }
  return index;
}

function egressToCallees(mesh: Mesh, caller: string): Obj[] {
  return (meshEdges(mesh).callees.get(caller) ?? []).map((s) => ({ to: [pods(s.name)], ports: [tcp(s.sidecar.inboundPort)] }));
}

export function servicePolicy(mesh: Mesh, svc: Service): Obj {
  const callers = meshEdges(mesh).callers.get(svc.name) ?? [];
  const ingress: Obj[] = callers.length > 0 ? [{ from: callers.map(pods), ports: [tcp(svc.sidecar.inboundPort)] }] : [];
  const egress = egressToCallees(mesh, svc.name);
  if (svc.egress.length > 0) egress.push({ to: [pods(EGRESS_GATEWAY)], ports: egressGatewayPorts(mesh) });
  return policy(mesh, svc.name, pods(svc.name).podSelector, { policyTypes: ['Ingress', 'Egress'], ingress, egress });
}

function egressGatewayPorts(mesh: Mesh): Obj[] {
  const gw = mesh.egressGateway;
  return [...new Set([gw.httpPort, gw.tlsPort])].sort((a, b) => a - b).map(tcp);
}

export function ingressGatewayPolicy(mesh: Mesh): Obj {
  const gw = mesh.ingress;
  const ports = [...new Set([gw.httpPort, gw.httpsPort])].sort((a, b) => a - b).map(tcp);
  return policy(mesh, INGRESS_GATEWAY, pods(INGRESS_GATEWAY).podSelector, {
    policyTypes: ['Ingress', 'Egress'],
    ingress: [{ ports }],
    egress: egressToCallees(mesh, INGRESS_GATEWAY),
  });
}

export function egressGatewayPolicy(mesh: Mesh): Obj {
  const users = mesh.services.filter((s) => s.egress.length > 0);
  const ingress = users.length > 0 ? [{ from: users.map((s) => pods(s.name)), ports: egressGatewayPorts(mesh) }] : [];
  const internetPorts = [...new Set([mesh.egress.httpPort, mesh.egress.tlsPort])].sort((a, b) => a - b).map(tcp);
  const egress = mesh.egressGateway.allow.length > 0 ? [{ to: [{ ipBlock: { cidr: '0.0.0.0/0', except: NON_INTERNET_CIDRS } }], ports: internetPorts }] : [];
  return policy(mesh, EGRESS_GATEWAY, pods(EGRESS_GATEWAY).podSelector, { policyTypes: ['Ingress', 'Egress'], ingress, egress });
}
