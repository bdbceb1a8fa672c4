/**
 * Shared by the k8s and Istio unit tests: meshes (the valid fixtures and hand-built ones), fake
 * certificate material, the generated objects read back, and validation of every object against
 * the published schemas (kubernetes-models, @kubernetes-models/istio).
 */
import { readdirSync, existsSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { ConfigMap, Namespace, Secret, Service as K8sService, ServiceAccount } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Role, RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { AuthorizationPolicy, PeerAuthentication } from '@kubernetes-models/istio/security.istio.io/v1';
import { DestinationRule, Gateway, ServiceEntry, Sidecar, VirtualService } from '@kubernetes-models/istio/networking.istio.io/v1';
import { Telemetry } from '@kubernetes-models/istio/telemetry.istio.io/v1';
import type { CertMaterial, IssuedCert } from '../../../src/certs/material.js';
import { TRUST_BUNDLE_PATH, ingressCertPath, ingressKeyPath, workloadCertPath, workloadKeyPath } from '../../../src/certs/material.js';
import { identities, type Mesh } from '../../../src/model/mesh.js';
import { normalize } from '../../../src/model/normalize.js';
import { validate } from '../../../src/pipeline/validate.js';
import type { WrittenMesh } from '../../../src/schema/written-mesh.js';
import type { OutputFile } from '../../../src/targets/target.js';
import { unknownFields } from './known-fields.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Any = any;

const FIXTURES = new URL('../../../fixtures/', import.meta.url).pathname;

/** Every fixture folder with a mesh.yaml that is meant to compile (not under fixtures/invalid). */
export function validFixtureNames(): string[] {
  return readdirSync(FIXTURES, { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name !== 'invalid' && existsSync(`${FIXTURES}${d.name}/mesh.yaml`))
    .map((d) => d.name)
    .sort();
}

export async function loadFixture(name: string): Promise<Mesh> {
  const v = await validate({ file: `${FIXTURES}${name}/mesh.yaml` });
  if (!v.mesh) throw new Error(`fixture ${name} did not validate: ${v.diagnostics.map((d) => d.message).join('; ')}`);
  return v.mesh;
}

/** A hand-written mesh, normalized like one read from a file. */
export function meshOf(spec: WrittenMesh['spec'], name = 'hand'): Mesh {
  return normalize({ apiVersion: 'meshc.dev/v1', kind: 'Mesh', metadata: { name }, spec } as WrittenMesh);
}

/** Hand-built meshes covering what the fixtures may not: no callers, no ingress, no egress, RSA-free, maglev, cookie ttl. */
export function handMeshes(): Record<string, Mesh> {
  return {
    lonely: meshOf({ trustDomain: 'l.example', namespace: 'lonely', services: { only: { port: 8080 } } }, 'lonely'),
    // Metrics: a PodMonitor asked for; and a mesh without metrics (no port, annotation, policy or Telemetry).
    observed: meshOf({ trustDomain: 'o.example', namespace: 'obs', services: { api: { port: 8080, allowFrom: ['web'] }, web: { port: 8080, upstreams: ['api'] } }, telemetry: { metrics: { podMonitor: true, port: 9102 } } }, 'observed'),
    unobserved: meshOf({ trustDomain: 'u.example', namespace: 'unobs', services: { api: { port: 8080 } }, telemetry: { metrics: { enabled: false } } }, 'unobserved'),
    maglev: meshOf(
      {
        trustDomain: 'm.example',
        namespace: 'mag',
        services: {
          'user-profile': {
            port: 8080,
            allowFrom: ['web'],
            loadBalancing: { policy: 'maglev', hashOn: { cookie: { name: 'sid', ttl: '90s', path: '/app' } } },
            timeouts: { connect: '250ms', idle: '2m' },
            connectionLimits: { maxPendingRequests: 10, maxRequests: 20 },
          },
          web: { port: 80, image: 'web:1', upstreams: ['user-profile', 'db'], egress: ['api.example.com'] },
          db: { port: 5432, protocol: 'tcp', allowFrom: ['web'], timeouts: { idle: '1h' }, outlierDetection: {} },
        },
        ingress: { hosts: { 'www.example.com': { routes: [{ pathPrefix: '/', service: 'web' }] } } },
      } as WrittenMesh['spec'],
      'maglev',
    ),
    // Permissions wider than the calls: web admits nobody but calls accounts, reports admits web
    // which never calls it, notifier admits accounts which never calls it, audit is called by
    // accounts without admitting it.
    bank: meshOf(
      {
        trustDomain: 'b.example',
        namespace: 'bank',
        services: {
          web: { port: 8080, upstreams: ['accounts'] },
          accounts: { port: 8080, allowFrom: ['web'], upstreams: ['ledger', 'audit'], egress: ['api.bank.example'] },
          ledger: { port: 5432, protocol: 'tcp', allowFrom: ['accounts'] },
          reports: { port: 8080, allowFrom: ['web'], upstreams: ['ledger'] },
          notifier: { port: 8080, allowFrom: ['accounts'], egress: ['*.mail.example'] },
          audit: { port: 8080 },
        },
        ingress: { hosts: { 'bank.example.com': { routes: [{ pathPrefix: '/', service: 'web' }] } } },
      } as WrittenMesh['spec'],
      'bank',
    ),
    // Names that could collide: `*.x` next to `wildcard.x`, a single-label host, a long name,
    // services named like the namespace policies, an endpoint name two services list.
    collide: meshOf(
      {
        trustDomain: 'c.example',
        namespace: 'coll',
        services: {
          gateway: { port: 8080, egress: ['*.y.example', 'wildcard.y.example'] },
          [`s${'x'.repeat(60)}`]: { port: 8080, allowFrom: ['gateway'], endpoints: ['shared.coll.svc.cluster.local:15443', 'own.coll.svc.cluster.local:15443'] },
          'default-deny': { port: 8080, allowFrom: ['allow-dns'], endpoints: ['shared.coll.svc.cluster.local:15443'] },
          'allow-dns': { port: 8080, upstreams: ['default-deny'] },
        },
        ingress: {
          hosts: {
            '*.x.example': { routes: [{ pathPrefix: '/', service: 'gateway' }] },
            'wildcard.x.example': { routes: [{ pathPrefix: '/', service: 'gateway' }] },
            gateway: { redirectHttp: false, routes: [{ pathPrefix: '/', service: 'gateway' }] },
          },
        },
      } as WrittenMesh['spec'],
      'collide',
    ),
  };
}

/** Every (apiVersion, kind, namespace, name) that appears more than once. */
export function duplicateObjects(list: Doc[]): string[] {
  const seen = new Map<string, number>();
  for (const d of list) {
    if (d.obj.kind === 'Kustomization') continue;
    const key = `${d.obj.apiVersion} ${d.obj.kind} ${d.obj.metadata?.namespace ?? ''}/${d.obj.metadata?.name}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  return [...seen].filter(([, n]) => n > 1).map(([k]) => k);
}

const PEM = (what: string) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(what).toString('base64')}\n-----END CERTIFICATE-----\n`;

function fakeCert(name: string, certPath: string, keyPath: string): IssuedCert {
  return {
    certPem: PEM(`cert ${name}`),
    keyPem: `-----BEGIN PRIVATE KEY-----\n${Buffer.from(`key ${name}`).toString('base64')}\n-----END PRIVATE KEY-----\n`,
    serial: '01',
    notBefore: new Date('2026-01-01T00:00:00Z'),
    notAfter: new Date('2026-04-01T00:00:00Z'),
    certPath,
    keyPath,
  };
}

export function fakeCerts(mesh: Mesh, bundle = 'ca'): CertMaterial {
  return {
    trustBundlePem: PEM(bundle),
    trustBundlePath: TRUST_BUNDLE_PATH,
    workloads: new Map(identities(mesh).map((i) => [i.name, fakeCert(i.name, workloadCertPath(i.name), workloadKeyPath(i.name))])),
    ingressHosts: new Map(mesh.ingress.hosts.map((h) => [h.host, fakeCert(h.host, ingressCertPath(h.host), ingressKeyPath(h.host))])),
  };
}

export interface Doc {
  path: string;
  obj: Any;
}

/** Every YAML document of every file under the given prefixes. */
export function docs(files: OutputFile[], ...prefixes: string[]): Doc[] {
  const out: Doc[] = [];
  for (const f of files) {
    if (!prefixes.some((p) => f.path.startsWith(p)) || !f.path.endsWith('.yaml')) continue;
    for (const d of parseAllDocuments(f.content)) {
      if (d.errors.length > 0) throw new Error(`${f.path}: ${d.errors[0].message}`);
      const obj = d.toJS();
      if (obj !== null && obj !== undefined) out.push({ path: f.path, obj });
    }
  }
  return out;
}

type Model = new (data: Any) => { validate(): void };

/**
 * The Prometheus Operator's PodMonitor has no published model in kubernetes-models: the fields
 * meshc writes are checked against the CRD's required shape by hand.
 */
class PodMonitorShape {
  constructor(private readonly data: Any) {}
  validate(): void {
    const spec = this.data.spec;
    if (!this.data.metadata?.name || !spec?.selector?.matchLabels) throw new Error('PodMonitor: metadata.name and spec.selector.matchLabels are required');
    const endpoints = spec.podMetricsEndpoints;
    if (!Array.isArray(endpoints) || endpoints.length === 0) throw new Error('PodMonitor: spec.podMetricsEndpoints is required');
    for (const e of endpoints) {
      if (typeof e.port !== 'string' || typeof e.path !== 'string') throw new Error('PodMonitor: an endpoint needs a named port and a path');
      for (const r of e.relabelings ?? []) if (!['replace', 'keep', 'drop', 'labelmap'].includes(r.action) || typeof r.targetLabel !== 'string') throw new Error('PodMonitor: bad relabeling');
    }
    const known = new Set(['port', 'path', 'honorLabels', 'relabelings']);
    for (const e of endpoints) for (const k of Object.keys(e)) if (!known.has(k)) throw new Error(`PodMonitor: unexpected endpoint field ${k}`);
  }
}

/** apiVersion/kind → the published model that validates it. */
const MODELS: Record<string, Model> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Service': K8sService,
  'apps/v1/Deployment': Deployment,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'security.istio.io/v1/PeerAuthentication': PeerAuthentication,
  'security.istio.io/v1/AuthorizationPolicy': AuthorizationPolicy,
  'networking.istio.io/v1/Sidecar': Sidecar,
  'networking.istio.io/v1/DestinationRule': DestinationRule,
  'networking.istio.io/v1/VirtualService': VirtualService,
  'networking.istio.io/v1/ServiceEntry': ServiceEntry,
  'networking.istio.io/v1/Gateway': Gateway,
  'telemetry.istio.io/v1/Telemetry': Telemetry,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitorShape,
};

export const KUSTOMIZATION = 'kustomize.config.k8s.io/v1beta1/Kustomization';

/** Validates one object; throws (with the path and the schema's message) on any error or unknown kind. */
export function validateObject(doc: Doc): void {
  const key = `${doc.obj.apiVersion}/${doc.obj.kind}`;
  if (key === KUSTOMIZATION) {
    if (!Array.isArray(doc.obj.resources) || doc.obj.resources.some((r: unknown) => typeof r !== 'string')) throw new Error(`${doc.path}: bad kustomization`);
    return;
  }
  const model = MODELS[key];
  if (!model) throw new Error(`${doc.path}: no schema model mapped for ${key}`);
  try {
    new model(doc.obj).validate();
  } catch (e) {
    throw new Error(`${doc.path}: ${key} ${doc.obj.metadata?.name}: ${(e as Error).message}`);
  }
  // The schemas accept unknown keys (Kubernetes would prune them silently): check against the
  // models' interfaces too.
  const unknown = unknownFields(doc.obj);
  if (unknown.length > 0) throw new Error(`${doc.path}: ${key} ${doc.obj.metadata?.name}: unknown fields ${unknown.join(', ')}`);
}

export function kinds(list: Doc[], kind: string): Any[] {
  return list.filter((d) => d.obj.kind === kind).map((d) => d.obj);
}

/** Does a label selector (matchLabels only, as generated) match these labels? */
export function matches(selector: Record<string, string> | undefined, labels: Record<string, string>): boolean {
  return Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);
}

/** A pod of a generated tree: a Deployment's name and its pod template's labels. */
export interface PolicyPod {
  name: string;
  labels: Record<string, string>;
}

export function policyPods(list: Doc[]): PolicyPod[] {
  return kinds(list, 'Deployment').map((d) => ({ name: d.metadata.name, labels: d.spec.template.metadata.labels }));
}

const KUBE_DNS_PEER = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } };
const ISTIOD_PEER = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'istio-system' } }, podSelector: { matchLabels: { app: 'istiod' } } };
const NOT_INTERNET = ['10.0.0.0/8', '100.64.0.0/10', '169.254.0.0/16', '172.16.0.0/12', '192.168.0.0/16'];

/**
 * The entities a NetworkPolicy peer admits: pod names (selectors resolved against the pods'
 * labels, same namespace), `kube-dns`, `ip:<a.b.c.d>`, `internet` (0.0.0.0/0 without the private,
 * shared and link-local ranges) or `*` (no peer list: anywhere). Any other peer shape throws, so
 * a new kind of peer cannot widen a policy unnoticed.
 */
function peerEntities(peers: Any[] | undefined, pods: PolicyPod[]): string[] {
  if (peers === undefined) return ['*'];
  return peers.flatMap((p): string[] => {
    if (JSON.stringify(p) === JSON.stringify(KUBE_DNS_PEER)) return ['kube-dns'];
    if (JSON.stringify(p) === JSON.stringify(ISTIOD_PEER)) return ['istiod'];
    if (p.ipBlock) {
      if (p.ipBlock.cidr === '0.0.0.0/0' && JSON.stringify([...p.ipBlock.except].sort()) === JSON.stringify(NOT_INTERNET)) return ['internet'];
      const m = /^(\d+\.\d+\.\d+\.\d+)\/32$/.exec(p.ipBlock.cidr);
      if (m && !p.ipBlock.except) return [`ip:${m[1]}`];
    }
    if (p.podSelector && !p.namespaceSelector && !p.ipBlock && Object.keys(p.podSelector).every((k) => k === 'matchLabels')) {
      return pods.filter((pod) => matches(p.podSelector.matchLabels, pod.labels)).map((pod) => pod.name);
    }
    throw new Error(`unexpected NetworkPolicy peer ${JSON.stringify(p)}`);
  });
}

function rulePorts(ports: Any[] | undefined): string[] {
  if (!ports || ports.length === 0) return ['any'];
  return ports.map((p) => {
    if (p.endPort !== undefined || typeof p.port !== 'number') throw new Error(`unexpected NetworkPolicy port ${JSON.stringify(p)}`);
    return `${p.protocol ?? 'TCP'}/${p.port}`;
  });
}

/**
 * The edges NetworkPolicies open, each direction on its own: `egress` holds `pod->entity:PROTO/port`
 * for every egress rule of every policy selecting the pod, `ingress` holds `entity->pod:PROTO/port`.
 * A pod no policy isolates in a direction opens `pod->*:any` (or `*->pod:any`) there.
 */
export function policyEdges(policies: Any[], pods: PolicyPod[]): { egress: Set<string>; ingress: Set<string> } {
  const egress = new Set<string>();
  const ingress = new Set<string>();
  for (const pod of pods) {
    for (const [type, out, rules] of [
      ['Egress', egress, (p: Any) => p.spec.egress],
      ['Ingress', ingress, (p: Any) => p.spec.ingress],
    ] as const) {
      const selecting = policies.filter((p) => {
        const sel = p.spec.podSelector;
        if (Object.keys(sel).some((k) => k !== 'matchLabels')) throw new Error(`unexpected podSelector ${JSON.stringify(sel)}`);
        return (p.spec.policyTypes ?? ['Ingress']).includes(type) && matches(sel.matchLabels, pod.labels);
      });
      if (selecting.length === 0) out.add(type === 'Egress' ? `${pod.name}->*:any` : `*->${pod.name}:any`);
      for (const p of selecting) {
        for (const r of rules(p) ?? []) {
          for (const e of peerEntities(type === 'Egress' ? r.to : r.from, pods)) {
            for (const port of rulePorts(r.ports)) out.add(type === 'Egress' ? `${pod.name}->${e}:${port}` : `${e}->${pod.name}:${port}`);
          }
        }
      }
    }
  }
  return { egress, ingress };
}

/**
 * The edges the mesh policy allows, from the model alone (not from the targets' code): a caller
 * reaches a callee that lists it in allowFrom and that it lists in upstreams, the ingress gateway
 * the routed services, services with egress the egress gateway, the egress gateway the internet,
 * every pod DNS; the ingress gateway is reachable from anywhere.
 */
export function expectedPolicyEdges(mesh: Mesh): { egress: Set<string>; ingress: Set<string> } {
  return expectedEdges(mesh, 'k8s');
}

/**
 * The same for the istio/ tree: Istio's sidecar delivers to the application's own port, every pod
 * reaches istiod, services with egress reach the internet directly (there is no egress gateway),
 * and the ingress gateway exists only with ingress hosts.
 */
export function expectedIstioPolicyEdges(mesh: Mesh): { egress: Set<string>; ingress: Set<string> } {
  return expectedEdges(mesh, 'istio');
}

function expectedEdges(mesh: Mesh, tree: 'k8s' | 'istio'): { egress: Set<string>; ingress: Set<string> } {
  const opts = { egressGateway: tree === 'k8s' };
  const inbound = (s: Mesh['services'][number]) => (tree === 'k8s' ? s.sidecar.inboundPort : s.port);
  const ingressGateway = tree === 'k8s' || mesh.ingress.hosts.length > 0;
  const egress = new Set<string>();
  const ingress = new Set<string>();
  const edge = (from: string, to: string, port: number) => {
    egress.add(`${from}->${to}:TCP/${port}`);
    ingress.add(`${from}->${to}:TCP/${port}`);
  };
  const byName = new Map(mesh.services.map((s) => [s.name, s]));
  for (const s of mesh.services) {
    for (const u of s.upstreams) {
      const callee = byName.get(u.service);
      if (callee?.allowFrom.includes(s.name)) edge(s.name, callee.name, inbound(callee));
    }
  }
  for (const h of mesh.ingress.hosts) for (const r of h.routes) edge('ingress-gateway', r.service, inbound(byName.get(r.service)!));
  if (ingressGateway) for (const p of [mesh.ingress.httpPort, mesh.ingress.httpsPort]) ingress.add(`*->ingress-gateway:TCP/${p}`);
  if (!opts.egressGateway) for (const s of mesh.services) if (s.egress.length > 0) for (const p of [mesh.egress.httpPort, mesh.egress.tlsPort]) egress.add(`${s.name}->internet:TCP/${p}`);
  if (opts.egressGateway !== false) {
    for (const s of mesh.services) if (s.egress.length > 0) for (const p of [mesh.egressGateway.httpPort, mesh.egressGateway.tlsPort]) edge(s.name, 'egress-gateway', p);
    if (mesh.egressGateway.allow.length > 0) for (const p of [mesh.egress.httpPort, mesh.egress.tlsPort]) egress.add(`egress-gateway->internet:TCP/${p}`);
  }
  const names = [...mesh.services.map((s) => s.name), ...(ingressGateway ? ['ingress-gateway'] : []), ...(opts.egressGateway !== false ? ['egress-gateway'] : [])];
  for (const n of names) {
    if (tree === 'istio') egress.add(`${n}->istiod:TCP/15012`);
    for (const proto of ['UDP', 'TCP']) {
      egress.add(`${n}->kube-dns:${proto}/53`);
      for (const r of mesh.dns.resolvers) if (/^\d+\.\d+\.\d+\.\d+$/.test(r.host)) egress.add(`${n}->ip:${r.host}:${proto}/${r.port}`);
    }
  }
  return { egress, ingress };
}
