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
import { AuthorizationPolicy, PeerAuthentication } from '@kubernetes-models/istio/security.istio.io/v1';
import { DestinationRule, Gateway, ServiceEntry, Sidecar, VirtualService } from '@kubernetes-models/istio/networking.istio.io/v1';
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

/** apiVersion/kind → the published model that validates it. */
const MODELS: Record<string, Model> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/ServiceAccount': ServiceAccount,
  'v1/Service': K8sService,
  'apps/v1/Deployment': Deployment,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'security.istio.io/v1/PeerAuthentication': PeerAuthentication,
  'security.istio.io/v1/AuthorizationPolicy': AuthorizationPolicy,
  'networking.istio.io/v1/Sidecar': Sidecar,
  'networking.istio.io/v1/DestinationRule': DestinationRule,
  'networking.istio.io/v1/VirtualService': VirtualService,
  'networking.istio.io/v1/ServiceEntry': ServiceEntry,
  'networking.istio.io/v1/Gateway': Gateway,
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
