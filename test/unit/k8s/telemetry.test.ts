/**
 * spec.telemetry carried into the manifests: an access log file gets a writable folder in every
 * Envoy container (their root filesystem is read-only), and `tracing` a way out of the
 * namespace's default-deny to the OTLP endpoint, in the k8s/ tree and in the istio/ backstop.
 */
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { Mesh } from '../../../src/model/mesh.js';
import { istioTarget } from '../../../src/targets/istio/index.js';
import { k8sTarget } from '../../../src/targets/k8s/index.js';
import { emitSorted } from '../../../src/targets/target.js';
import type { WrittenMesh } from '../../../src/schema/written-mesh.js';
import { RESTRICTED, violations } from './pod-security.js';
import { type Any, docs, fakeCerts, kinds, meshOf, validateObject } from './support.js';

function mesh(telemetry: NonNullable<WrittenMesh['spec']['telemetry']>): Mesh {
  return meshOf(
    {
      trustDomain: 't.example',
      namespace: 'tel',
      services: { web: { port: 8080, upstreams: ['api'], egress: ['api.example.com'] }, api: { port: 8080, allowFrom: ['web'] } },
      ingress: { hosts: { 'shop.example': { routes: [{ pathPrefix: '/', service: 'web' }] } } },
      telemetry,
    },
    'tel',
  );
}
const k8s = (m: Mesh) => docs(emitSorted(k8sTarget, m, fakeCerts(m)), 'k8s/');
const istio = (m: Mesh) => docs(emitSorted(istioTarget, m, fakeCerts(m)), 'istio/');
const containersOf = (d: Any): Any[] => [...(d.spec.template.spec.initContainers ?? []), ...d.spec.template.spec.containers];

describe('k8s: access log settings in the manifests', () => {
  it('a file path: every Envoy container (sidecars and both gateways) mounts an emptyDir at its folder, the bootstrap writes there, and the pods stay restricted', () => {
    const m = mesh({ accessLog: { path: '/var/log/meshc/access.log' } });
    const out = k8s(m);
    const deployments = kinds(out, 'Deployment');
    expect(deployments.map((d: Any) => d.metadata.name).sort()).toEqual(['api', 'egress-gateway', 'ingress-gateway', 'web']);
    for (const d of deployments) {
      const spec = d.spec.template.spec;
      expect(spec.volumes.filter((v: Any) => v.name === 'access-log'), d.metadata.name).toEqual([{ name: 'access-log', emptyDir: {} }]);
      for (const c of containersOf(d)) {
        const mounts = (c.volumeMounts ?? []).filter((v: Any) => v.name === 'access-log');
        expect(mounts, `${d.metadata.name}/${c.name}`).toEqual(c.name === 'envoy' ? [{ name: 'access-log', mountPath: '/var/log/meshc' }] : []);
        if (c.name === 'envoy') expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
      }
      expect(violations(RESTRICTED, d.spec.template), d.metadata.name).toEqual([]);
    }
    let bootstraps = 0;
    for (const cm of kinds(out, 'ConfigMap')) {
      for (const [key, text] of Object.entries(cm.data as Record<string, string>)) {
        if (!String(text).includes('static_resources')) continue;
        bootstraps++;
        expect(JSON.stringify(parse(String(text))), `${cm.metadata.name}/${key}`).toContain('"path":"/var/log/meshc/access.log"');
      }
    }
    expect(bootstraps).toBe(4);
    for (const d of out) validateObject(d);
  });

  it('a file at the root (no folder to mount) is warned about at the field; a file in a folder is not', () => {
    const root = k8sTarget.check(mesh({ accessLog: { path: '/access.log' } })).filter((f) => f.message.includes('cannot write'));
    expect(root).toHaveLength(1);
    expect(root[0]).toMatchObject({ severity: 'warning', pointer: '/spec/telemetry/accessLog/path' });
    expect(k8sTarget.check(mesh({ accessLog: { path: '/var/log/meshc/access.log' } })).filter((f) => f.message.includes('access'))).toEqual([]);
    expect(kinds(k8s(mesh({ accessLog: { path: '/access.log' } })), 'Deployment').flatMap((d: Any) => d.spec.template.spec.volumes.map((v: Any) => v.name))).not.toContain('access-log');
  });

  it('standard output (the default) or logs off: no volume', () => {
    for (const m of [mesh({}), mesh({ accessLog: { enabled: false, path: '/var/log/meshc/access.log' } }), mesh({ accessLog: { path: '/dev/stderr' } })]) {
      for (const d of kinds(k8s(m), 'Deployment')) expect(d.spec.template.spec.volumes.map((v: Any) => v.name)).not.toContain('access-log');
    }
  });
});

describe('k8s and istio: the OTLP endpoint through the default-deny', () => {
  const otlp = (out: Any[]) => kinds(out, 'NetworkPolicy').filter((p: Any) => p.metadata.name === 'meshc.allow-otlp');

  it('no tracing: no policy', () => {
    expect(otlp(k8s(mesh({})))).toEqual([]);
    expect(otlp(istio(mesh({})))).toEqual([]);
  });

  it('a Service of another namespace: every mesh pod may reach that namespace on the endpoint port, and nothing else is opened', () => {
    const m = mesh({ tracing: { endpoint: 'otel-collector.observability.svc.cluster.local:4317' } });
    for (const out of [k8s(m), istio(m)]) {
      const [p] = otlp(out);
      expect(otlp(out)).toHaveLength(1);
      expect(p.spec).toEqual({
        podSelector: { matchLabels: expect.objectContaining({ 'app.kubernetes.io/part-of': 'tel' }) },
        policyTypes: ['Egress'],
        egress: [{ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'observability' } } }], ports: [{ protocol: 'TCP', port: 4317 }] }],
      });
      validateObject(out.find((d: Any) => d.obj.kind === 'NetworkPolicy' && d.obj.metadata.name === 'meshc.allow-otlp'));
    }
  });

  it('an IP address: that address only; a name outside the cluster: any address, on that port only', () => {
    expect(otlp(k8s(mesh({ tracing: { endpoint: '10.1.2.3:4318', protocol: 'http' } })))[0].spec.egress).toEqual([{ to: [{ ipBlock: { cidr: '10.1.2.3/32' } }], ports: [{ protocol: 'TCP', port: 4318 }] }]);
    expect(otlp(k8s(mesh({ tracing: { endpoint: 'otlp.vendor.example:443' } })))[0].spec.egress).toEqual([{ to: [{ ipBlock: { cidr: '0.0.0.0/0' } }], ports: [{ protocol: 'TCP', port: 443 }] }]);
  });
});
