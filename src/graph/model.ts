/**
 * The mesh as a graph, for `meshc graph`: one model, several renderers (mermaid, dot, json, html).
 *
 * Nodes: every service, every ingress host (served by the ingress gateway), every egress domain
 * (reached through the egress gateway), and one `every service` node from which the mesh-wide
 * egress domains hang, so they are drawn once rather than once per service.
 *
 * Edges, sorted (kind, from, to):
 *  - `call`: a service lists another in `upstreams`; labelled with the callee's load-balancing
 *    policy; `allowed` is false when the callee's `allowFrom` does not name the caller (the call
 *    will be refused at run time);
 *  - `allow`: the callee allows the caller but the caller does not call it (permission only);
 *  - `route`: an ingress route, host → service, labelled with the path prefix;
 *  - `egress`: a service's own egress domain, or `every service` → a mesh-wide domain.
 */
import { formatLoadBalancing } from '../output/summarize.js';
import { cmp, type Mesh } from '../model/mesh.js';
import type { EdgeMetrics } from './metrics.js';

export type NodeKind = 'service' | 'ingress-host' | 'egress-domain' | 'every-service';
export type EdgeKind = 'call' | 'allow' | 'route' | 'egress';

export interface GraphNode {
  /** Unique and stable: `service:cart`, `host:shop.example.com`, `domain:api.stripe.com`, `every-service`. */
  id: string;
  kind: NodeKind;
  label: string;
  /** Services: load-balancing policy and protocol, e.g. `ring_hash(header x-user-id) · http`. */
  detail?: string;
  /** `ingress-gateway` for hosts, `egress-gateway` for domains. */
  group?: 'ingress-gateway' | 'egress-gateway';
  /** Domains: true when on the mesh-wide allow-list. */
  meshWide?: boolean;
}

export interface GraphEdge {
  from: string;
  to: string;
  kind: EdgeKind;
  label?: string;
  /** Calls only: whether the callee's allowFrom names the caller. */
  allowed?: boolean;
  /** With `graph --metrics`: the edge's traffic, from Prometheus (calls, routes, egress). */
  metrics?: EdgeMetrics;
}

export interface Graph {
  mesh: string;
  nodes: GraphNode[];
  edges: GraphEdge[];
}

export const serviceId = (name: string) => `service:${name}`;
export const hostId = (host: string) => `host:${host}`;
export const domainId = (domain: string) => `domain:${domain}`;
export const EVERY_SERVICE = 'every-service';

const KIND_ORDER: Record<NodeKind, number> = { 'ingress-host': 0, service: 1, 'every-service': 2, 'egress-domain': 3 };
const EDGE_ORDER: Record<EdgeKind, number> = { route: 0, call: 1, allow: 2, egress: 3 };

/** Builds the graph of a normalized mesh. Pure and deterministic. */
export function meshGraph(mesh: Mesh): Graph {
  const nodes: GraphNode[] = [];
  const edges: GraphEdge[] = [];
  const byName = new Map(mesh.services.map((s) => [s.name, s]));

  for (const s of mesh.services) nodes.push({ id: serviceId(s.name), kind: 'service', label: s.name, detail: `${formatLoadBalancing(s.loadBalancing)} · ${s.protocol}` });
  for (const h of mesh.ingress.hosts) nodes.push({ id: hostId(h.host), kind: 'ingress-host', label: h.host, group: 'ingress-gateway' });
  const meshWide = new Set(mesh.egress.allow);
  const domains = new Set<string>([...mesh.egress.allow, ...mesh.services.flatMap((s) => s.ownEgress)]);
  for (const d of domains) nodes.push({ id: domainId(d), kind: 'egress-domain', label: d, group: 'egress-gateway', ...(meshWide.has(d) ? { meshWide: true } : {}) });
  if (meshWide.size) nodes.push({ id: EVERY_SERVICE, kind: 'every-service', label: 'every service' });

  for (const s of mesh.services) {
    for (const u of s.upstreams) {
      const callee = byName.get(u.service);
      const allowed = callee ? callee.allowFrom.includes(s.name) : false;
      edges.push({ from: serviceId(s.name), to: serviceId(u.service), kind: 'call', label: callee ? formatLoadBalancing(callee.loadBalancing) : 'unknown service', allowed });
    }
    for (const caller of s.allowFrom) {
      const c = byName.get(caller);
      if (c && !c.upstreams.some((u) => u.service === s.name)) edges.push({ from: serviceId(caller), to: serviceId(s.name), kind: 'allow', label: 'allowed, not called' });
    }
    for (const d of s.ownEgress) edges.push({ from: serviceId(s.name), to: domainId(d), kind: 'egress' });
  }
  for (const d of meshWide) edges.push({ from: EVERY_SERVICE, to: domainId(d), kind: 'egress', label: 'mesh-wide' });
  for (const h of mesh.ingress.hosts) for (const r of h.routes) edges.push({ from: hostId(h.host), to: serviceId(r.service), kind: 'route', label: r.pathPrefix });

  nodes.sort((a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || cmp(a.label, b.label));
  edges.sort((a, b) => EDGE_ORDER[a.kind] - EDGE_ORDER[b.kind] || cmp(a.from, b.from) || cmp(a.to, b.to) || cmp(a.label ?? '', b.label ?? ''));
  return { mesh: mesh.name, nodes, edges };
}

/**
 * Call depth of every service: 0 when no service calls it (it is reached from ingress or not at
 * all), else one more than its deepest caller. Calls that close a cycle are ignored, so every
 * service gets a finite depth; services are visited in name order, so the result is deterministic.
 */
export function callDepths(graph: Graph): Map<string, number> {
  const services = graph.nodes.filter((n) => n.kind === 'service').map((n) => n.id);
  const callers = new Map<string, string[]>(services.map((id) => [id, []]));
  for (const e of graph.edges) if (e.kind === 'call' && callers.has(e.to) && callers.has(e.from) && e.from !== e.to) callers.get(e.to)!.push(e.from);
  for (const list of callers.values()) list.sort(cmp);
  const depth = new Map<string, number>();
  const onStack = new Set<string>();
  const visit = (id: string): number => {
    const known = depth.get(id);
    if (known !== undefined) return known;
    onStack.add(id);
    let d = 0;
    for (const c of callers.get(id) ?? []) if (!onStack.has(c)) d = Math.max(d, visit(c) + 1);
    onStack.delete(id);
    depth.set(id, d);
    return d;
  };
  for (const id of [...services].sort(cmp)) visit(id);
  return depth;
}
