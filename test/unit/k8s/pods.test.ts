/**
 * The pods a platform team deploys: every container has resource requests (Envoy containers
 * limits too), the proxy image and worker count follow mesh.yaml, gateways run several replicas
 * spread over nodes and zones with a PodDisruptionBudget, and workloads carry version and
 * component labels. Settings are read from mesh.yaml and validated (a request above its limit).
 */
import { describe, expect, it } from 'vitest';
import type { Mesh } from '../../../src/model/mesh.js';
import { validate } from '../../../src/pipeline/validate.js';
import { k8sTarget } from '../../../src/targets/k8s/index.js';
import { istioTarget } from '../../../src/targets/istio/index.js';
import { emitSorted } from '../../../src/targets/target.js';
import { cpuCores, memoryBytes } from '../../../src/model/kubernetes.js';
import { type Any, docs, fakeCerts, handMeshes, kinds, loadFixture, matches, meshOf, validFixtureNames } from './support.js';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';

const all: [string, Mesh][] = [];
for (const n of validFixtureNames()) all.push([n, await loadFixture(n)]);
for (const [n, m] of Object.entries(handMeshes())) all.push([`hand:${n}`, m]);

const k8sDocs = (mesh: Mesh) => docs(emitSorted(k8sTarget, mesh, fakeCerts(mesh)), 'k8s/');
const containers = (d: Any): Any[] => [...(d.spec.template.spec.initContainers ?? []), ...d.spec.template.spec.containers];
const envoyOf = (d: Any) => containers(d).find((c) => c.name === 'envoy');
const concurrencyArg = (c: Any) => Number(c.args[c.args.indexOf('--concurrency') + 1]);

describe.each(all)('k8s pods: %s', (_name, mesh) => {
  const list = k8sDocs(mesh);
  const deployments = kinds(list, 'Deployment');

  it('gives every container requests within its limits; Envoy containers limits and a bounded worker count', () => {
    for (const d of deployments) {
      for (const c of containers(d)) {
        expect(c.resources?.requests?.cpu, `${d.metadata.name}/${c.name}`).toBeDefined();
        expect(c.resources?.requests?.memory, `${d.metadata.name}/${c.name}`).toBeDefined();
        for (const r of ['cpu', 'memory'] as const) {
          const lim = c.resources.limits?.[r];
          if (lim === undefined) continue;
          const amount = r === 'cpu' ? cpuCores : memoryBytes;
          expect(amount(String(c.resources.requests[r])) <= amount(String(lim)), `${d.metadata.name}/${c.name} ${r}`).toBe(true);
        }
      }
      const envoy = envoyOf(d);
      expect(envoy.resources).toEqual({ requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '2', memory: '1Gi' } });
      expect(concurrencyArg(envoy)).toBe(2);
      expect(envoy.image).toBe('envoyproxy/envoy:v1.40.0');
    }
  });

  it('runs each gateway as 2 replicas spread over nodes and zones, with a PodDisruptionBudget', () => {
    const pdbs = kinds(list, 'PodDisruptionBudget');
    for (const gw of ['ingress-gateway', 'egress-gateway']) {
      const d = deployments.find((x) => x.metadata.name === gw);
      expect(d.spec.replicas).toBe(2);
      const spread = d.spec.template.spec.topologySpreadConstraints;
      expect(spread.map((s: Any) => s.topologyKey)).toEqual(['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
      for (const s of spread) expect(matches(s.labelSelector.matchLabels, d.spec.template.metadata.labels)).toBe(true);
      const pdb = pdbs.filter((p) => matches(p.spec.selector.matchLabels, d.spec.template.metadata.labels));
      expect(pdb.map((p) => p.metadata.name)).toEqual([gw]);
      expect(pdb[0].spec.maxUnavailable).toBe(1);
    }
    for (const s of mesh.services) expect(pdbs.some((p) => matches(p.spec.selector.matchLabels, { 'app.kubernetes.io/name': s.name }))).toBe(false);
  });

  it('labels every workload with its component and version', () => {
    for (const d of deployments) {
      const labels = d.spec.template.metadata.labels;
      const svc = mesh.services.find((s) => s.name === d.metadata.name);
      expect(labels['app.kubernetes.io/component']).toBe(svc ? 'service' : 'gateway');
      expect(d.metadata.labels).toEqual(labels);
      const tag = svc ? svc.image.split('/').pop()!.split(':')[1] : 'v1.40.0';
      expect(labels['app.kubernetes.io/version']).toBe(tag);
      expect(d.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': d.metadata.name });
    }
  });
});

describe('k8s pods: mesh.yaml settings', () => {
  const digest = `envoyproxy/envoy@sha256:${'a'.repeat(64)}`;
  const mesh = meshOf({
    trustDomain: 'p.example',
    namespace: 'pods',
    services: {
      web: {
        port: 8080,
        image: 'registry.local:5000/web:2.0',
        upstreams: ['api'],
        kubernetes: {
          resources: { requests: { cpu: 0.25, memory: '256Mi' }, limits: { cpu: '1', memory: 536870912 } },
          securityContext: { runAsUser: 10001, runAsGroup: 10001, readOnlyRootFilesystem: true },
          proxy: { resources: { limits: { cpu: '500m' } } },
        },
      },
      api: { port: 8080, image: 'api@sha256:' + 'b'.repeat(64), allowFrom: ['web'], kubernetes: { proxy: { concurrency: 3 } } },
      tiny: { port: 8080, kubernetes: { resources: { limits: { cpu: '50m', memory: '64Mi' } } } },
    },
    kubernetes: {
      proxyImage: digest,
      proxy: { resources: { limits: { cpu: '4', memory: '2Gi' } } },
      ingressGateway: { replicas: 3, proxy: { concurrency: 6 } },
      egressGateway: { replicas: 1 },
    },
  } as Any);
  const list = k8sDocs(mesh);
  const dep = (n: string) => kinds(list, 'Deployment').find((d) => d.metadata.name === n);
  const app = (n: string) => dep(n).spec.template.spec.containers.find((c: Any) => c.name === n);

  it('uses the proxy image (a digest) for every Envoy container', () => {
    for (const d of kinds(list, 'Deployment')) expect(envoyOf(d).image).toBe(digest);
  });

  it('derives the worker count from the CPU limit unless written', () => {
    expect(concurrencyArg(envoyOf(dep('web')))).toBe(1); // 500m, rounded up
    expect(concurrencyArg(envoyOf(dep('api')))).toBe(3); // written
    expect(concurrencyArg(envoyOf(dep('tiny')))).toBe(4); // the mesh-wide limit of 4 cores
    expect(concurrencyArg(envoyOf(dep('ingress-gateway')))).toBe(6);
    expect(envoyOf(dep('web')).resources).toEqual({ requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '500m', memory: '2Gi' } });
  });

  it('applies the application resources and security context; default requests stay within a smaller limit', () => {
    expect(app('web').resources).toEqual({ requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '1', memory: '536870912' } });
    expect(app('web').securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, readOnlyRootFilesystem: true, runAsGroup: 10001, runAsNonRoot: true, runAsUser: 10001 });
    expect(app('tiny').resources).toEqual({ requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '50m', memory: '64Mi' } });
    expect(app('api').resources).toEqual({ requests: { cpu: '100m', memory: '128Mi' } });
  });

  it('sets gateway replicas; labels a digest-only image without a version', () => {
    expect(dep('ingress-gateway').spec.replicas).toBe(3);
    expect(dep('egress-gateway').spec.replicas).toBe(1);
    expect(dep('web').metadata.labels['app.kubernetes.io/version']).toBe('2.0');
    expect(dep('api').metadata.labels['app.kubernetes.io/version']).toBeUndefined();
    expect(dep('ingress-gateway').metadata.labels['app.kubernetes.io/version']).toBeUndefined();
  });

  it('carries the same settings into the istio tree (application container, sidecar annotations, gateway)', () => {
    const withIngress = meshOf({ trustDomain: 'p.example', namespace: 'pods', services: { web: { port: 8080, kubernetes: { proxy: { resources: { limits: { cpu: '3' } } } } } }, ingress: { hosts: { 'a.example': { routes: [{ pathPrefix: '/', service: 'web' }] } } }, kubernetes: { ingressGateway: { replicas: 4 } } } as Any);
    const istio = docs(emitSorted(istioTarget, withIngress, fakeCerts(withIngress)), 'istio/');
    const web = kinds(istio, 'Deployment').find((d) => d.metadata.name === 'web');
    expect(web.spec.template.metadata.annotations).toMatchObject({ 'sidecar.istio.io/proxyCPU': '100m', 'sidecar.istio.io/proxyCPULimit': '3', 'proxy.istio.io/config': '{"concurrency":3}' });
    expect(web.spec.template.spec.containers[0].resources.requests).toEqual({ cpu: '100m', memory: '128Mi' });
    const gw = kinds(istio, 'Deployment').find((d) => d.metadata.name === 'ingress-gateway');
    expect(gw.spec.replicas).toBe(4);
    expect(JSON.parse(gw.spec.template.metadata.annotations['proxy.istio.io/config'])).toEqual({ concurrency: 2 });
  });
});

describe('k8s pods: validation of the settings', () => {
  const check = async (spec: Any) => {
    const dir = await mkdtemp(join(tmpdir(), 'meshc-pods-'));
    try {
      await writeFile(join(dir, 'mesh.yaml'), stringify({ apiVersion: 'meshc.dev/v1', kind: 'Mesh', metadata: { name: 'v' }, spec: { trustDomain: 'v.example', namespace: 'v', ...spec } }));
      return await validate({ file: join(dir, 'mesh.yaml') });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  it('refuses a request above its limit, at the request', async () => {
    const v = await check({ services: { a: { port: 80, kubernetes: { resources: { requests: { memory: '2Gi' }, limits: { memory: '1Gi' } } } } } });
    const f = v.diagnostics.filter((d) => d.code === 'request-over-limit');
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ severity: 'error', pointer: '/spec/services/a/kubernetes/resources/requests/memory' });
    expect(f[0].line).toBeGreaterThan(0);
  });

  it('refuses a sidecar limit below the mesh-wide request, at the limit', async () => {
    const v = await check({ kubernetes: { proxy: { resources: { requests: { cpu: '1' } } } }, services: { a: { port: 80, kubernetes: { proxy: { resources: { limits: { cpu: '500m' } } } } } } });
    const f = v.diagnostics.filter((d) => d.code === 'request-over-limit');
    expect(f.map((d) => d.pointer)).toContain('/spec/kubernetes/proxy/resources/requests/cpu');
  });

  it('refuses malformed quantities and images, root as runAsUser, a zero worker count', async () => {
    for (const bad of [
      { services: { a: { port: 80, kubernetes: { resources: { limits: { cpu: '1 core' } } } } } },
      { services: { a: { port: 80, kubernetes: { resources: { limits: { memory: '1GB' } } } } } },
      { services: { a: { port: 80, kubernetes: { securityContext: { runAsUser: 0 } } } } },
      { services: { a: { port: 80, kubernetes: { proxy: { concurrency: 0 } } } } },
      { services: { a: { port: 80 } }, kubernetes: { proxyImage: 'Envoy Latest' } },
    ]) {
      const v = await check(bad);
      expect(v.mesh, JSON.stringify(bad)).toBeUndefined();
    }
  });
});
