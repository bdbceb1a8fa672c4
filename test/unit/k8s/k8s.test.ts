/**
 * The Kubernetes target: every object valid against the published schemas, and the manifests
 * consistent with each other and with the mesh (references, selectors, ports, NetworkPolicy
 * edges, kustomizations), for every valid fixture and the hand-built meshes.
 */
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { EGRESS_GATEWAY, INGRESS_GATEWAY, type Mesh } from '../../../src/model/mesh.js';
import { k8sTarget, inClusterMesh } from '../../../src/targets/k8s/index.js';
import { istioTarget } from '../../../src/targets/istio/index.js';
import { emitK8s } from '../../../src/targets/k8s/emit.js';
import { commonLabels, CONFIG_HASH_ANNOTATION, ENVOY_IMAGE, NAME_LABEL, renderK8sEnv } from '../../../src/targets/k8s/names.js';
import { envoyTarget } from '../../../src/targets/envoy/index.js';
import { emitSorted, GENERATED_HEADER, type OutputFile } from '../../../src/targets/target.js';
import { type Any, type Doc, docs, fakeCerts, handMeshes, kinds, loadFixture, matches, validFixtureNames, validateObject, duplicateObjects, meshOf } from './support.js';

const fixtureNames = validFixtureNames();

async function meshes(): Promise<[string, Mesh][]> {
  const out: [string, Mesh][] = [];
  for (const n of fixtureNames) out.push([n, await loadFixture(n)]);
  for (const [n, m] of Object.entries(handMeshes())) out.push([`hand:${n}`, m]);
  return out;
}

const all = await meshes();

function emit(mesh: Mesh): OutputFile[] {
  return emitSorted(k8sTarget, mesh, fakeCerts(mesh));
}

/** The Envoy target's bootstraps for the mesh as it runs in the cluster, by path. */
/** The Envoy target's file without the two header lines that say how to run it from the output tree (mounted copies have none). */
const withoutRunLine = (s: string) => s.replace(/^# Envoy: [^\n]*\n# Run: [^\n]*\n/m, '');

function envoyBootstraps(mesh: Mesh, certs: ReturnType<typeof fakeCerts>): Map<string, string> {
  return new Map(emitSorted(envoyTarget, inClusterMesh(mesh), certs).map((f) => [f.path, withoutRunLine(f.content)]));
}

interface Pod {
  name: string;
  labels: Record<string, string>;
  ports: Set<number>;
  deployment: Any;
}

function podsOf(list: Doc[]): Pod[] {
  return kinds(list, 'Deployment').map((d) => {
    const spec = d.spec.template.spec;
    const containers = [...(spec.initContainers ?? []), ...spec.containers];
    return {
      name: d.metadata.name,
      labels: d.spec.template.metadata.labels,
      ports: new Set<number>(containers.flatMap((c: Any) => (c.ports ?? []).map((p: Any) => p.containerPort))),
      deployment: d,
    };
  });
}

describe.each(all)('k8s target: %s', (_name, mesh) => {
  const files = emit(mesh);
  const byPath = new Map(files.map((f) => [f.path, f]));
  const k8s = docs(files, 'k8s/');
  const secretDocs = docs(files, 'secrets/k8s/');
  const everything = [...k8s, ...secretDocs];
  const pods = podsOf(k8s);
  const podByName = new Map(pods.map((p) => [p.name, p]));

  it('names every object uniquely (per kind and namespace)', () => {
    expect(duplicateObjects(everything)).toEqual([]);
  });

  it('validates every object against the published Kubernetes schemas', () => {
    expect(everything.length).toBeGreaterThan(0);
    for (const d of everything) validateObject(d);
  }, 120_000);

  it('writes only under k8s/ and secrets/k8s/, each file with the generated header; keys only in 0600 files under secrets/', () => {
    for (const f of files) {
      expect(f.path.startsWith('k8s/') || f.path.startsWith('secrets/k8s/'), f.path).toBe(true);
      expect(f.content.startsWith(`# ${GENERATED_HEADER}\n`), f.path).toBe(true);
      if (f.path.startsWith('k8s/')) {
        expect(f.content).not.toContain('PRIVATE KEY');
        expect(f.mode ?? 0o644).toBe(0o644);
      }
    }
    for (const d of secretDocs.filter((x) => x.obj.kind === 'Secret')) {
      expect(byPath.get(d.path)!.mode).toBe(0o600);
      expect(Buffer.from(d.obj.data['tls.key'], 'base64').toString()).toContain('PRIVATE KEY');
    }
    expect(k8s.filter((d) => d.obj.kind === 'Secret')).toEqual([]);
  });

  it('has one namespace, and every namespaced object in it', () => {
    expect(kinds(k8s, 'Namespace').map((n) => n.metadata.name)).toEqual([mesh.namespace]);
    for (const d of everything) if (d.obj.metadata && d.obj.kind !== 'Namespace') expect(d.obj.metadata.namespace, d.path).toBe(mesh.namespace);
  });

  it('deploys every service and both gateways with a ServiceAccount, Envoy pinned to the harness version', () => {
    const names = [...mesh.services.map((s) => s.name), INGRESS_GATEWAY, EGRESS_GATEWAY].sort();
    expect(pods.map((p) => p.name).sort()).toEqual(names);
    expect(kinds(k8s, 'ServiceAccount').map((s) => s.metadata.name).sort()).toEqual(names);
    for (const p of pods) {
      const spec = p.deployment.spec.template.spec;
      const envoy = [...(spec.initContainers ?? []), ...spec.containers].filter((c: Any) => c.name === 'envoy');
      expect(envoy).toHaveLength(1);
      expect(envoy[0].image).toBe(ENVOY_IMAGE);
      expect(envoy[0].workingDir).toBe('/etc/meshc');
      expect(envoy[0].args.slice(0, 2)).toEqual(['-c', `/etc/meshc/envoy/${p.name}.yaml`]);
    }
    for (const s of mesh.services) expect(podByName.get(s.name)!.deployment.spec.replicas).toBe(s.replicas);
  });

  it('references only ConfigMaps, Secrets and ServiceAccounts that exist, with the keys it mounts', () => {
    const configMaps = new Map(kinds(k8s, 'ConfigMap').map((c) => [c.metadata.name, c]));
    const secrets = new Map(kinds(secretDocs, 'Secret').map((s) => [s.metadata.name, s]));
    const accounts = new Set(kinds(k8s, 'ServiceAccount').map((s) => s.metadata.name));
    for (const p of pods) {
      const spec = p.deployment.spec.template.spec;
      expect(accounts.has(spec.serviceAccountName), spec.serviceAccountName).toBe(true);
      for (const v of spec.volumes) {
        for (const src of v.projected?.sources ?? []) {
          const ref = src.configMap ? configMaps.get(src.configMap.name) : secrets.get(src.secret.name);
          expect(ref, JSON.stringify(src)).toBeDefined();
          for (const item of (src.configMap ?? src.secret).items) expect(Object.keys(ref.data), item.key).toContain(item.key);
        }
        if (v.configMap) expect(configMaps.has(v.configMap.name)).toBe(true);
        if (v.secret) expect(secrets.has(v.secret.secretName)).toBe(true);
      }
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        for (const m of c.volumeMounts ?? []) expect(spec.volumes.map((v: Any) => v.name)).toContain(m.name);
        for (const e of c.env ?? []) expect(e.valueFrom).toBeUndefined();
      }
    }
  });

  it('mounts each bootstrap exactly as the Envoy target emits it, with the certificate files it names', () => {
    const envoy = envoyBootstraps(mesh, fakeCerts(mesh));
    for (const p of pods) {
      const cm = kinds(k8s, 'ConfigMap').find((c) => c.metadata.name === `${p.name}-envoy`);
      expect(cm.data[`${p.name}.yaml`]).toBe(envoy.get(`envoy/${p.name}.yaml`));
      const mounted = p.deployment.spec.template.spec.volumes[0].projected.sources.flatMap((s: Any) => (s.configMap ?? s.secret).items.map((i: Any) => i.path));
      const bootstrap = parse(envoy.get(`envoy/${p.name}.yaml`)!);
      const named = new Set<string>();
      JSON.stringify(bootstrap, (_k, v) => {
        if (typeof v === 'string' && /^(certs|secrets)\//.test(v)) named.add(v);
        return v;
      });
      for (const n of named) expect(mounted, `${p.name} needs ${n}`).toContain(n);
    }
  });

  it('selects Deployment pods with every Service and targets only container ports', () => {
    for (const s of kinds(k8s, 'Service')) {
      const pod = pods.find((p) => matches(s.spec.selector, p.labels));
      expect(pod, s.metadata.name).toBeDefined();
      for (const port of s.spec.ports) expect([...pod!.ports], `${s.metadata.name}:${port.targetPort}`).toContain(port.targetPort);
    }
    for (const svc of mesh.services) {
      const s = kinds(k8s, 'Service').find((x) => x.metadata.name === svc.name);
      expect(s.spec.clusterIP).toBe('None');
      expect(s.spec.ports.map((p: Any) => p.port)).toEqual([svc.sidecar.inboundPort]);
    }
    const ingress = kinds(k8s, 'Service').find((x) => x.metadata.name === INGRESS_GATEWAY);
    expect(ingress.spec.type).toBe('LoadBalancer');
    expect(ingress.spec.ports.map((p: Any) => [p.port, p.targetPort])).toEqual([
      [80, mesh.ingress.httpPort],
      [mesh.ingress.httpsPort, mesh.ingress.httpsPort],
    ]);
    expect(kinds(k8s, 'Service').find((x) => x.metadata.name === EGRESS_GATEWAY).spec.type).toBe('ClusterIP');
  });

  it('probes only container ports; services are probed on the sidecar probe port with their health path', () => {
    for (const p of pods) {
      const spec = p.deployment.spec.template.spec;
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe].filter(Boolean)) {
          const port = probe.httpGet?.port ?? probe.tcpSocket?.port;
          expect([...p.ports], `${p.name}/${c.name}`).toContain(port);
        }
      }
    }
    for (const svc of mesh.services) {
      const app = podByName.get(svc.name)!.deployment.spec.template.spec.containers.find((c: Any) => c.name === svc.name);
      const probe = app.readinessProbe;
      if (svc.protocol === 'tcp') expect(probe.tcpSocket.port).toBe(svc.sidecar.probePort);
      else expect(probe.httpGet).toEqual({ path: svc.healthPath, port: svc.sidecar.probePort, scheme: 'HTTP' });
      expect(app.livenessProbe.httpGet ?? app.livenessProbe.tcpSocket).toEqual(probe.httpGet ?? probe.tcpSocket);
    }
  });

  it('points each application at its upstreams and the egress path through documented variables', () => {
    for (const svc of mesh.services) {
      const app = podByName.get(svc.name)!.deployment.spec.template.spec.containers.find((c: Any) => c.name === svc.name);
      const env = Object.fromEntries(app.env.map((e: Any) => [e.name, e.value]));
      for (const up of svc.upstreams) {
        const key = up.service.toUpperCase().replace(/-/g, '_');
        expect(env[`${key}_ADDR`]).toBe(`127.0.0.1:${up.localPort}`);
        const tcp = mesh.services.find((s) => s.name === up.service)!.protocol === 'tcp';
        expect(env[`${key}_URL`]).toBe(tcp ? undefined : `http://127.0.0.1:${up.localPort}`);
      }
      expect(env.HTTP_PROXY).toBe(`http://127.0.0.1:${svc.sidecar.egressHttpPort}`);
      expect(env.HTTPS_PROXY).toBe(`http://127.0.0.1:${svc.sidecar.egressHttpPort}`);
      expect(env.NO_PROXY).toContain('127.0.0.1');
      expect(env.MESHC_EGRESS_TLS).toBe(`127.0.0.1:${svc.sidecar.egressTlsPort}`);
      expect(app.env.map((e: Any) => e.name)).toEqual([...app.env.map((e: Any) => e.name)].sort());
      expect(byPath.get(`k8s/${svc.name}.yaml`)!.content).toContain('<UPSTREAM>_URL');
    }
  });

  it('lets only DNS out of the namespace, and the internet only from the egress gateway', () => {
    const policies = kinds(k8s, 'NetworkPolicy');
    for (const p of policies) {
      for (const r of p.spec.egress ?? []) {
        expect(r.to?.length, `${p.metadata.name}: egress rule without destinations`).toBeGreaterThan(0);
        for (const peer of r.to) {
          if (peer.ipBlock?.cidr === '0.0.0.0/0') {
            expect(p.spec.podSelector.matchLabels).toEqual({ [NAME_LABEL]: EGRESS_GATEWAY });
            expect(peer.ipBlock.except).toContain('10.0.0.0/8');
            expect(r.ports.map((x: Any) => x.port).sort()).toEqual([...new Set([mesh.egress.httpPort, mesh.egress.tlsPort])].sort());
          }
          if (peer.namespaceSelector) {
            expect(p.metadata.name).toBe('meshc.allow-dns');
            expect(peer).toEqual({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } });
          }
        }
      }
    }
    const dns = policies.find((p) => p.metadata.name === 'meshc.allow-dns');
    expect(dns.spec.egress[0].ports).toEqual([
      { protocol: 'UDP', port: 53 },
      { protocol: 'TCP', port: 53 },
    ]);
  });

  it('lists exactly the emitted files in both kustomizations', () => {
    const k = parse(byPath.get('k8s/kustomization.yaml')!.content);
    const k8sFiles = files.filter((f) => f.path.startsWith('k8s/') && f.path !== 'k8s/kustomization.yaml').map((f) => f.path.slice(4));
    expect(k.resources).toEqual(k8sFiles.sort());
    const overlay = parse(byPath.get('secrets/k8s/kustomization.yaml')!.content);
    const secretFiles = files.filter((f) => f.path.startsWith('secrets/k8s/') && f.path !== 'secrets/k8s/kustomization.yaml').map((f) => f.path.slice(12));
    expect(overlay.resources).toEqual(['../../k8s', ...secretFiles.sort()]);
    expect(byPath.get('secrets/k8s/kustomization.yaml')!.content).toContain('kubectl apply -k out/secrets/k8s');
  });

  it('is deterministic, and a certificate rotation changes the Secrets and the bundle but rolls no pod', () => {
    const again = emit(mesh);
    expect(again.map((f) => [f.path, f.content, f.mode])).toEqual(files.map((f) => [f.path, f.content, f.mode]));
    const hashes = (fs: OutputFile[]) => Object.fromEntries(podsOf(docs(fs, 'k8s/')).map((p) => [p.name, p.deployment.spec.template.metadata.annotations[CONFIG_HASH_ANNOTATION]]));
    const before = hashes(files);
    for (const h of Object.values(before)) expect(h).toMatch(/^[0-9a-f]{64}$/);
    const fresh = fakeCerts(mesh, 'new-ca');
    const rotated = emitSorted(k8sTarget, mesh, { ...fresh, workloads: new Map([...fresh.workloads].map(([n, c]) => [n, { ...c, certPem: `${c.certPem}renewed\n` }])) });
    // The new material reaches the pods through their volumes (the kubelet's ..data swap, watched by Envoy).
    const content = (fs: OutputFile[], p: string) => fs.find((f) => f.path === p)?.content;
    expect(content(rotated, 'k8s/ca-bundle.yaml')).not.toBe(content(files, 'k8s/ca-bundle.yaml'));
    const secret = `secrets/k8s/${mesh.services[0].name}-tls.yaml`;
    expect(content(files, secret)).toBeDefined();
    expect(content(rotated, secret)).not.toBe(content(files, secret));
    expect(hashes(rotated)).toEqual(before);
  });

  it('mounts the SDS files and the certificates they name in one volume, without subPath', () => {
    for (const pod of podsOf(docs(files, 'k8s/'))) {
      const spec = pod.deployment.spec.template.spec;
      const containers = [...(spec.initContainers ?? []), ...spec.containers];
      for (const c of containers) for (const m of c.volumeMounts ?? []) expect(m.subPath, `${pod.name} ${c.name}`).toBeUndefined();
      const sources = spec.volumes[0].projected.sources as { configMap?: { items: { path: string }[] }; secret?: { items: { path: string }[] } }[];
      const mounted = new Set(sources.flatMap((x) => (x.configMap ?? x.secret)!.items.map((i) => i.path)));
      const cm = kinds(docs(files, 'k8s/'), 'ConfigMap').find((c) => c.metadata.name === `${pod.name}-envoy`)!;
      const texts = Object.values(cm.data as Record<string, string>);
      const named = texts.flatMap((t) => [...t.matchAll(/(?:filename|path): "?((?:envoy|certs|secrets)\/[^"\s,}]+)/g)].map((m) => m[1]));
      for (const p of named) expect(mounted.has(p), `${pod.name}: ${p}`).toBe(true);
      if (mesh.services.some((x) => x.name === pod.name)) expect(mounted.has(`envoy/sds/identity/${pod.name}.yaml`), pod.name).toBe(true);
    }
  });
});

describe('k8s target: details', () => {
  it('uses the bootstrap the Envoy target emits (no copy of its logic), with egress through the gateway Service', () => {
    const [, mesh] = all[0];
    const certs = fakeCerts(mesh);
    const inCluster = { ...mesh, egress: { ...mesh.egress, viaGateway: true }, egressGateway: { ...mesh.egressGateway, address: `egress-gateway.${mesh.namespace}.svc.cluster.local` } };
    expect(inClusterMesh(mesh)).toEqual(inCluster);
    const fromEnvoy = new Map(emitSorted(envoyTarget, inCluster, certs).map((f) => [f.path, withoutRunLine(f.content)]));
    const configMaps = kinds(docs(emitSorted(k8sTarget, mesh, certs), 'k8s/'), 'ConfigMap').filter((c) => c.metadata.name.endsWith('-envoy'));
    expect(configMaps.length).toBe(mesh.services.length + 2);
    for (const c of configMaps) {
      const name = c.metadata.name.slice(0, -'-envoy'.length);
      expect(c.data[`${name}.yaml`], name).toBe(fromEnvoy.get(`envoy/${name}.yaml`));
    }
    // The ConfigMaps carry whatever bootstrap they are given: the k8s target has no Envoy logic of its own.
    const stubbed = kinds(docs([...emitK8s(mesh, certs, (name) => `stub ${name}`)], 'k8s/'), 'ConfigMap').filter((c) => c.metadata.name.endsWith('-envoy'));
    for (const c of stubbed) expect(Object.values(c.data)).toEqual([`stub ${c.metadata.name.slice(0, -'-envoy'.length)}`]);
  });

  it('reports addresses written for one machine as warnings (k8s), not errors', async () => {
    expect(fixtureNames).toContain('edge-cases');
    const mesh = await loadFixture('edge-cases');
    const findings = k8sTarget.check(mesh);
    expect(findings.every((f) => f.severity === 'warning')).toBe(true);
    expect(findings.some((f) => f.pointer === '/spec/services/b/endpoints/0' && f.message.startsWith('k8s:'))).toBe(true);
  });

  it('sends sidecar egress through the egress gateway Service, the only pod the NetworkPolicies let out', () => {
    const { maglev } = handMeshes();
    const certs = fakeCerts(maglev);
    const web = parse(envoyBootstraps(maglev, certs).get('envoy/web.yaml')!) as { static_resources: { clusters: { name: string; load_assignment?: { endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { address: string; port_value: number } } } }[] }[] } }[] } };
    const clusters = web.static_resources.clusters.filter((c) => c.name.startsWith('egress|'));
    expect(clusters.map((c) => c.name).sort()).toEqual(['egress|gateway-http', 'egress|gateway-tls']);
    for (const c of clusters) expect(c.load_assignment!.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address).toBe(`egress-gateway.${maglev.namespace}.svc.cluster.local`);
    expect(k8sTarget.check(maglev).some((x) => x.message.includes('egress'))).toBe(false);
  });

  it('emits both Kubernetes-facing trees deterministically, with no timestamps', async () => {
    const [, mesh] = all.find(([n]) => n === 'shop') ?? all[0];
    const both = (certs: ReturnType<typeof fakeCerts>) => [...emitSorted(k8sTarget, mesh, certs), ...emitSorted(istioTarget, mesh, certs)];
    const files = both(fakeCerts(mesh));
    expect(both(fakeCerts(mesh))).toEqual(files);
    expect(files.some((f) => /\d{4}-\d{2}-\d{2}T/.test(f.content))).toBe(false);
  });

  it('rolls a pod when its bootstrap changes, and only that pod', () => {
    const [, mesh] = all.find(([n]) => n === 'shop') ?? all[0];
    const certs = fakeCerts(mesh);
    const envoy = envoyBootstraps(mesh, certs);
    const name = mesh.services[0].name;
    const changed = new Map(envoy);
    changed.set(`envoy/${name}.yaml`, `${envoy.get(`envoy/${name}.yaml`)}# changed\n`);
    const hash = (m: Map<string, string>) =>
      Object.fromEntries(kinds(docs([...emitK8s(mesh, certs, (n) => m.get(`envoy/${n}.yaml`)!)], 'k8s/'), 'Deployment').map((d) => [d.metadata.name, d.spec.template.metadata.annotations[CONFIG_HASH_ANNOTATION]]));
    const before = hash(envoy);
    const after = hash(changed);
    for (const n of Object.keys(before)) expect(after[n] !== before[n], n).toBe(n === name);
  });

  it('renders the README table of application variables', () => {
    const table = renderK8sEnv();
    for (const name of ['<UPSTREAM>_ADDR', '<UPSTREAM>_URL', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'MESHC_EGRESS_TLS']) expect(table).toContain(`\`${name}\``);
  });

  it('generates no Service for an endpoint name two services list, and says so', () => {
    const mesh = handMeshes().collide;
    const names = kinds(docs(emit(mesh), 'k8s/'), 'Service').map((s) => s.metadata.name);
    expect(names).toContain('own');
    expect(names).not.toContain('shared');
    expect(k8sTarget.check(mesh).some((f) => f.message.includes('endpoint name shared'))).toBe(true);
  });

  it('reports a service name Kubernetes cannot use for a Service (leading digit) as an error', () => {
    const mesh = meshOf({ trustDomain: 'x.example', namespace: 'x', services: { '1api': { port: 80 } } });
    const [f] = k8sTarget.check(mesh).filter((x) => x.severity === 'error');
    expect(f).toMatchObject({ code: 'unsupported-feature', pointer: '/spec/services/1api', atKey: true });
    expect(f.message).toContain('k8s');
  });

  it('emits a headless Service for each endpoint name in the namespace (shop: search-a, search-b)', async () => {
    expect(fixtureNames).toContain('shop');
    const mesh = await loadFixture('shop');
    const services = kinds(docs(emit(mesh), 'k8s/search.yaml'), 'Service').map((s) => s.metadata.name);
    expect(services).toEqual(['search', 'search-a', 'search-b']);
  });
});

describe('k8s target: metrics', () => {
  const hand = handMeshes();
  const objects = (mesh: Mesh) => docs(emit(mesh), 'k8s/').map((d) => d.obj);

  it('gives every Envoy a metrics port, its pod the scrape annotations, and lets scrapes in on that port', () => {
    const list = objects(hand.observed);
    const deployments = list.filter((o: Any) => o.kind === 'Deployment');
    expect(deployments.map((d: Any) => d.metadata.name).sort()).toEqual(['api', 'egress-gateway', 'ingress-gateway', 'web']);
    for (const d of deployments) {
      const t = d.spec.template;
      expect(t.metadata.annotations, d.metadata.name).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': '9102', 'prometheus.io/path': '/metrics' });
      const envoy = [...(t.spec.initContainers ?? []), ...t.spec.containers].find((c: Any) => c.name === 'envoy');
      expect(envoy.ports, d.metadata.name).toContainEqual({ name: 'metrics', containerPort: 9102, protocol: 'TCP' });
    }
    const policy = list.find((o: Any) => o.kind === 'NetworkPolicy' && o.metadata.name === 'meshc.allow-metrics');
    expect(policy.spec).toEqual({ podSelector: { matchLabels: commonLabels(hand.observed) }, policyTypes: ['Ingress'], ingress: [{ ports: [{ protocol: 'TCP', port: 9102 }] }] });
    const monitor = list.find((o: Any) => o.kind === 'PodMonitor');
    expect(monitor.spec.selector.matchLabels).toEqual(commonLabels(hand.observed));
    expect(monitor.spec.podMetricsEndpoints[0]).toMatchObject({ port: 'metrics', path: '/metrics', honorLabels: true });
    expect(monitor.spec.podMetricsEndpoints[0].relabelings.map((r: Any) => r.targetLabel)).toEqual(['mesh', 'workload']);
  });

  it('writes no PodMonitor unless asked, and nothing for metrics when they are off', () => {
    const lonely = objects(hand.lonely);
    expect(lonely.filter((o: Any) => o.kind === 'PodMonitor')).toEqual([]);
    expect(lonely.some((o: Any) => o.metadata?.name === 'meshc.allow-metrics')).toBe(true);
    const off = objects(hand.unobserved);
    expect(off.filter((o: Any) => o.kind === 'PodMonitor' || o.metadata?.name === 'meshc.allow-metrics')).toEqual([]);
    for (const d of off.filter((o: Any) => o.kind === 'Deployment')) {
      expect(Object.keys(d.spec.template.metadata.annotations).filter((k) => k.startsWith('prometheus.io/'))).toEqual([]);
      for (const c of [...(d.spec.template.spec.initContainers ?? []), ...d.spec.template.spec.containers]) expect((c.ports ?? []).map((p: Any) => p.name)).not.toContain('metrics');
    }
  });
});
