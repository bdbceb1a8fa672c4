/**
 * The Istio target: every object valid against the published Istio (and Kubernetes) schemas, and
 * the resources consistent with the mesh: principals are exactly the callers, Sidecars import
 * exactly the upstreams and domains, traffic policy follows loadBalancing, the Gateway serves
 * every host with its credential, kustomizations list exactly the files.
 */
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { INGRESS_GATEWAY, type Mesh, type Service } from '../../../src/model/mesh.js';
import { istioTarget } from '../../../src/targets/istio/index.js';
import { percentages } from '../../../src/targets/istio/workloads.js';
import { emitSorted, GENERATED_HEADER, type OutputFile } from '../../../src/targets/target.js';
import { type Any, docs, fakeCerts, handMeshes, kinds, loadFixture, matches, meshOf, validFixtureNames, validateObject, duplicateObjects } from '../k8s/support.js';

const fixtureNames = validFixtureNames();
const all: [string, Mesh][] = [];
for (const n of fixtureNames) all.push([n, await loadFixture(n)]);
for (const [n, m] of Object.entries(handMeshes())) all.push([`hand:${n}`, m]);

const emit = (mesh: Mesh): OutputFile[] => emitSorted(istioTarget, mesh, fakeCerts(mesh));
const fqdn = (mesh: Mesh, s: string) => `${s}.${mesh.namespace}.svc.cluster.local`;
const byName = (list: Any[], name: string) => list.find((o) => o.metadata.name === name);

describe.each(all)('istio target: %s', (_name, mesh) => {
  const files = emit(mesh);
  const byPath = new Map(files.map((f) => [f.path, f]));
  const istio = docs(files, 'istio/');
  const secretDocs = docs(files, 'secrets/istio/');

  it('names every object uniquely (per kind and namespace)', () => {
    expect(duplicateObjects([...istio, ...secretDocs])).toEqual([]);
  });

  it('validates every object against the published schemas', () => {
    expect(istio.length).toBeGreaterThan(0);
    for (const d of [...istio, ...secretDocs]) validateObject(d);
  }, 120_000);

  it('deploys the ingress gateway (when there are hosts) as Istio\'s gateway chart does: account, Role and RoleBinding for its credentials, sysctl, security context, resources, replicas, PDB', () => {
    const gw = byName(kinds(istio, 'Deployment'), INGRESS_GATEWAY);
    if (mesh.ingress.hosts.length === 0) {
      expect(gw).toBeUndefined();
      expect(kinds(istio, 'Role')).toEqual([]);
      return;
    }
    const pod = gw.spec.template;
    expect(pod.metadata.annotations['inject.istio.io/templates']).toBe('gateway');
    expect(pod.spec.serviceAccountName).toBe(INGRESS_GATEWAY);
    expect(byName(kinds(istio, 'ServiceAccount'), INGRESS_GATEWAY)).toBeDefined();
    const role = byName(kinds(istio, 'Role'), INGRESS_GATEWAY);
    expect(role.rules).toEqual([{ apiGroups: [''], resources: ['secrets'], verbs: ['get', 'watch', 'list'] }]);
    const binding = byName(kinds(istio, 'RoleBinding'), INGRESS_GATEWAY);
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: INGRESS_GATEWAY });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: INGRESS_GATEWAY, namespace: mesh.namespace }]);
    // Every credential the Gateway names lives in the namespace the Role covers.
    const secrets = new Set(kinds(secretDocs, 'Secret').map((x) => x.metadata.name));
    for (const server of byName(kinds(istio, 'Gateway'), INGRESS_GATEWAY).spec.servers) if (server.tls?.credentialName) expect(secrets.has(server.tls.credentialName)).toBe(true);
    const low = mesh.ingress.httpPort < 1024 || mesh.ingress.httpsPort < 1024;
    expect(pod.spec.securityContext.sysctls).toEqual(low ? [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }] : undefined);
    const c = pod.spec.containers[0];
    expect(c).toMatchObject({ name: 'istio-proxy', image: 'auto', securityContext: { runAsUser: 1337, runAsGroup: 1337, runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } });
    expect(c.resources).toEqual({ requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '2', memory: '1Gi' } });
    expect(gw.spec.replicas).toBe(2);
    expect(kinds(istio, 'PodDisruptionBudget').map((p) => [p.metadata.name, p.spec.selector.matchLabels])).toEqual([[INGRESS_GATEWAY, gw.spec.selector.matchLabels]]);
    expect(matches(gw.spec.selector.matchLabels, pod.metadata.labels)).toBe(true);
  });

  it('gives every upstream a Service of its name (callers resolve it through cluster DNS), or warns that only Istio DNS proxying resolves it', () => {
    const services = new Set(kinds(istio, 'Service').map((s) => s.metadata.name));
    const warned = new Set(istioTarget.check(mesh).filter((f) => f.code === 'partially-supported-feature' && f.message.includes('DNS proxying')).map((f) => f.pointer.split('/')[3]));
    for (const svc of mesh.services) {
      const hasEntry = kinds(istio, 'ServiceEntry').some((e) => e.spec.location === 'MESH_INTERNAL' && e.spec.hosts.includes(fqdn(mesh, svc.name)));
      expect(services.has(svc.name) || (hasEntry && warned.has(svc.name)), svc.name).toBe(true);
      expect(services.has(svc.name) && hasEntry, `${svc.name}: a Service and a ServiceEntry for one host`).toBe(false);
    }
  });

  it('writes only under istio/ and secrets/istio/ with the generated header; keys only in 0600 Secrets', () => {
    for (const f of files) {
      expect(f.path.startsWith('istio/') || f.path.startsWith('secrets/istio/'), f.path).toBe(true);
      expect(f.content.startsWith(`# ${GENERATED_HEADER}\n`), f.path).toBe(true);
      if (f.path.startsWith('istio/')) expect(f.content).not.toContain('PRIVATE KEY');
    }
    for (const d of secretDocs.filter((x) => x.obj.kind === 'Secret')) expect(byPath.get(d.path)!.mode).toBe(0o600);
    for (const d of istio) if (d.obj.metadata && d.obj.kind !== 'Namespace') expect(d.obj.metadata.namespace, d.path).toBe(mesh.namespace);
  });

  it('deploys every service (application only, injected) with a ServiceAccount; Services select their pods on container ports', () => {
    const deployments = kinds(istio, 'Deployment');
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual([...mesh.services.map((s) => s.name), ...(mesh.ingress.hosts.length > 0 ? [INGRESS_GATEWAY] : [])].sort());
    const accounts = new Set(kinds(istio, 'ServiceAccount').map((a) => a.metadata.name));
    for (const d of deployments) {
      expect(accounts.has(d.spec.template.spec.serviceAccountName)).toBe(true);
      expect(d.spec.template.metadata.labels['sidecar.istio.io/inject']).toBe('true');
      expect(matches(d.spec.selector.matchLabels, d.spec.template.metadata.labels)).toBe(true);
    }
    expect(kinds(istio, 'Namespace')[0].metadata.labels['istio-injection']).toBe('enabled');
    for (const s of kinds(istio, 'Service')) {
      const pods = deployments.filter((d) => matches(s.spec.selector, d.spec.template.metadata.labels));
      expect(pods, s.metadata.name).toHaveLength(1);
      const ports = pods[0].spec.template.spec.containers.flatMap((c: Any) => (c.ports ?? []).map((p: Any) => p.containerPort));
      if (pods[0].metadata.name !== INGRESS_GATEWAY) for (const p of s.spec.ports) expect(ports).toContain(p.targetPort);
    }
    for (const svc of mesh.services) {
      const app = byName(deployments, svc.name).spec.template.spec.containers[0];
      const probe = app.readinessProbe.httpGet ?? app.readinessProbe.tcpSocket;
      expect(probe.port).toBe(svc.port);
      const env = Object.fromEntries(app.env.map((e: Any) => [e.name, e.value]));
      for (const up of svc.upstreams) {
        const target = mesh.services.find((x) => x.name === up.service)!;
        expect(env[`${up.service.toUpperCase().replace(/-/g, '_')}_ADDR`]).toBe(`${fqdn(mesh, target.name)}:${target.port}`);
      }
    }
  });

  it('routes only to hosts and ports something declares (a Service, or a ServiceEntry for written endpoints)', () => {
    const declared = new Set<string>();
    for (const s of kinds(istio, 'Service')) for (const p of s.spec.ports) declared.add(`${fqdn(mesh, s.metadata.name)}:${p.port}`);
    for (const e of kinds(istio, 'ServiceEntry')) for (const h of e.spec.hosts) for (const p of e.spec.ports) declared.add(`${h}:${p.number}`);
    for (const vs of kinds(istio, 'VirtualService'))
      for (const r of vs.spec.http) for (const d of r.route ?? []) expect(declared, `${d.destination.host}:${d.destination.port.number}`).toContain(`${d.destination.host}:${d.destination.port.number}`);
    for (const dr of kinds(istio, 'DestinationRule')) expect([...declared].some((x) => x.startsWith(`${dr.spec.host}:`)), dr.spec.host).toBe(true);
  });

  it('enforces STRICT mTLS for the namespace', () => {
    const pa = kinds(istio, 'PeerAuthentication');
    expect(pa).toHaveLength(1);
    expect(pa[0].spec).toEqual({ mtls: { mode: 'STRICT' } });
  });

  it('allows exactly the callers\' principals on each service (no callers: an ALLOW policy without rules)', () => {
    const policies = kinds(istio, 'AuthorizationPolicy');
    expect(policies.map((p) => p.metadata.name).sort()).toEqual(mesh.services.map((s) => s.name).sort());
    for (const svc of mesh.services) {
      const p = byName(policies, svc.name);
      expect(p.spec.action).toBe('ALLOW');
      expect(p.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': svc.name });
      const principals = (p.spec.rules ?? []).flatMap((r: Any) => r.from.flatMap((f: Any) => f.source.principals));
      expect(principals.sort()).toEqual(svc.callers.map((c) => `cluster.local/ns/${mesh.namespace}/sa/${c}`).sort());
      if (svc.callers.length === 0) expect(p.spec.rules).toBeUndefined();
    }
  });

  it('scopes each Sidecar to its upstreams and egress domains, REGISTRY_ONLY', () => {
    for (const svc of mesh.services) {
      const sc = byName(kinds(istio, 'Sidecar'), svc.name);
      expect(sc.spec.outboundTrafficPolicy).toEqual({ mode: 'REGISTRY_ONLY' });
      expect(sc.spec.workloadSelector.labels).toEqual({ 'app.kubernetes.io/name': svc.name });
      // An upstream's host, and the hosts its routes split calls over (weighted endpoints).
      const routed = (u: string): string[] => {
        const vs = kinds(istio, 'VirtualService').find((v) => v.metadata.name === u);
        return [...(vs?.spec.http ?? []), ...(vs?.spec.tcp ?? [])].flatMap((r: Any) => r.route.map((d: Any) => d.destination.host));
      };
      const want = [...new Set([...svc.upstreams.flatMap((u) => [fqdn(mesh, u.service), ...routed(u.service)])])].map((h) => `./${h}`).concat(svc.egress.map((d) => `./${d}`));
      expect([...sc.spec.egress[0].hosts].sort()).toEqual(want.length > 0 ? want.sort() : ['~/*']);
    }
  });

  it('declares a ServiceEntry per external domain: DNS for exact names, NONE for wildcards', () => {
    const entries = kinds(istio, 'ServiceEntry').filter((e) => e.spec.location === 'MESH_EXTERNAL');
    expect(entries.flatMap((e) => e.spec.hosts).sort()).toEqual([...mesh.egressGateway.allow].sort());
    for (const e of entries) {
      expect(e.spec.resolution).toBe(e.spec.hosts[0].startsWith('*.') ? 'NONE' : 'DNS');
      expect(e.spec.ports).toEqual([
        { number: mesh.egress.tlsPort, name: 'tls', protocol: 'TLS' },
        { number: mesh.egress.httpPort, name: 'http', protocol: 'HTTP' },
      ]);
    }
    // Every domain a Sidecar imports is declared.
    for (const sc of kinds(istio, 'Sidecar'))
      for (const h of sc.spec.egress[0].hosts.filter((x: string) => !x.endsWith('.svc.cluster.local') && x !== '~/*'))
        expect(entries.flatMap((e) => e.spec.hosts)).toContain(h.slice(2));
  });

  it('has a DestinationRule per service: ISTIO_MUTUAL, the load balancer, outlier detection, connection pool', () => {
    for (const svc of mesh.services) {
      const dr = byName(kinds(istio, 'DestinationRule'), svc.name);
      expect(dr.spec.host).toBe(fqdn(mesh, svc.name));
      const tp = dr.spec.trafficPolicy;
      expect(tp.tls).toEqual({ mode: 'ISTIO_MUTUAL' });
      expect(tp.loadBalancer).toEqual(expectedLb(svc));
      expect(tp.connectionPool.tcp.connectTimeout).toBe(`${svc.timeouts.connectMs / 1000}s`);
      expect(tp.connectionPool.tcp.maxConnections).toBe(svc.connectionLimits?.maxConnections);
      if (svc.protocol !== 'tcp') {
        expect(tp.connectionPool.http?.http2MaxRequests).toBe(svc.connectionLimits?.maxRequests);
        expect(tp.connectionPool.http?.http1MaxPendingRequests).toBe(svc.connectionLimits?.maxPendingRequests);
      }
      if (svc.outlierDetection) expect(tp.outlierDetection.consecutive5xxErrors).toBe(svc.outlierDetection.consecutive5xx);
      else expect(tp.outlierDetection).toBeUndefined();
    }
  });

  it('routes each ingress host through the Gateway with its credential, redirecting HTTP where asked', () => {
    if (mesh.ingress.hosts.length === 0) {
      expect(kinds(istio, 'Gateway')).toEqual([]);
      return;
    }
    const [gw] = kinds(istio, 'Gateway');
    expect(gw.spec.selector).toEqual({ istio: 'ingressgateway' });
    const pods = kinds(istio, 'Deployment').filter((d) => matches(gw.spec.selector, d.spec.template.metadata.labels));
    expect(pods.map((d) => d.spec.template.spec.serviceAccountName)).toEqual([INGRESS_GATEWAY]);
    expect(kinds(istio, 'ServiceAccount').map((s) => s.metadata.name)).toContain(INGRESS_GATEWAY);
    const credentials = new Set(kinds(secretDocs, 'Secret').map((s) => s.metadata.name));
    const names = new Set<string>();
    for (const host of mesh.ingress.hosts) {
      const https = gw.spec.servers.filter((s: Any) => s.port.protocol === 'HTTPS' && s.hosts.includes(host.host));
      expect(https).toHaveLength(1);
      expect(https[0].tls.mode).toBe('SIMPLE');
      expect(credentials.has(https[0].tls.credentialName), https[0].tls.credentialName).toBe(true);
      const http = gw.spec.servers.filter((s: Any) => s.port.protocol === 'HTTP' && s.hosts.includes(host.host));
      expect(http).toHaveLength(1);
      const vs = kinds(istio, 'VirtualService').find((v) => v.spec.gateways?.includes(gw.metadata.name) && v.spec.hosts.includes(host.host));
      const redirectRule = vs.spec.http.find((r: Any) => r.redirect);
      if (host.redirectHttp && mesh.ingress.httpsPort === 443) expect(http[0].tls?.httpsRedirect).toBe(true);
      else if (host.redirectHttp) expect(redirectRule.redirect).toEqual({ scheme: 'https', port: mesh.ingress.httpsPort, redirectCode: 301 });
      else {
        expect(http[0].tls).toBeUndefined();
        expect(redirectRule).toBeUndefined();
      }
      const routes = vs.spec.http.filter((r: Any) => r.route);
      expect(routes.map((r: Any) => [r.match[0].uri.prefix, r.route[0].destination.host])).toEqual(host.routes.map((r) => [r.pathPrefix, fqdn(mesh, r.service)]));
      const prefixes = routes.map((r: Any) => r.match[0].uri.prefix.length);
      expect(prefixes).toEqual([...prefixes].sort((a, b) => b - a));
      for (const s of gw.spec.servers) names.add(s.port.name);
    }
    expect(names.size).toBe(gw.spec.servers.length);
  });

  it('sets retries explicitly on every HTTP service (attempts 0 turns off Istio\'s default retries)', () => {
    for (const svc of mesh.services) {
      const vs = byName(kinds(istio, 'VirtualService'), svc.name);
      if (svc.protocol === 'tcp') {
        expect(vs).toBeUndefined();
        continue;
      }
      expect(vs.spec.http[0].retries.attempts).toBe(svc.retries.attempts);
      if (svc.retries.attempts > 0) expect(vs.spec.http[0].retries.retryOn.split(',').sort()).toEqual([...svc.retries.retryOn].sort());
    }
  });

  it('lists exactly the emitted files in both kustomizations, and is deterministic', () => {
    const k = parse(byPath.get('istio/kustomization.yaml')!.content);
    expect(k.resources).toEqual(files.filter((f) => f.path.startsWith('istio/') && f.path !== 'istio/kustomization.yaml').map((f) => f.path.slice(6)).sort());
    const overlay = parse(byPath.get('secrets/istio/kustomization.yaml')!.content);
    expect(overlay.resources).toEqual([
      '../../istio',
      ...files.filter((f) => f.path.startsWith('secrets/istio/') && !f.path.endsWith('kustomization.yaml')).map((f) => f.path.slice(14)).sort(),
    ]);
    expect(emit(mesh).map((f) => [f.path, f.content, f.mode])).toEqual(files.map((f) => [f.path, f.content, f.mode]));
  });
});

function expectedLb(svc: Service): Any {
  const lb = svc.loadBalancing;
  if (lb.policy === 'round_robin') return { simple: 'ROUND_ROBIN' };
  if (lb.policy === 'least_request') return { simple: 'LEAST_REQUEST' };
  if (lb.policy === 'random') return { simple: 'RANDOM' };
  const alg = lb.policy === 'ring_hash' ? { ringHash: { minimumRingSize: 1024 } } : { maglev: { tableSize: 65537 } };
  const k = lb.hashOn!;
  if (k.kind === 'header') return { consistentHash: { ...alg, httpHeaderName: k.name } };
  if (k.kind === 'sourceIp') return { consistentHash: { ...alg, useSourceIp: true } };
  return { consistentHash: { ...alg, httpCookie: { name: k.name, path: k.path, ...(k.ttlSeconds !== undefined ? { ttl: `${k.ttlSeconds}s` } : {}) } } };
}

describe('istio target: check', () => {
  it('reports a least-request choice count other than 2 as an error naming istio and the field', () => {
    const mesh = meshOf({ trustDomain: 'x.example', namespace: 'x', services: { a: { port: 80, loadBalancing: { policy: 'least_request', choiceCount: 3 } } } });
    const findings = istioTarget.check(mesh);
    const f = findings.find((x) => x.pointer === '/spec/services/a/loadBalancing/choiceCount');
    expect(f?.severity).toBe('error');
    expect(f?.message).toContain('istio');
    expect(f?.hint).toContain('choiceCount: 2');
  });

  it('warns (does not fail) on wildcard egress, expressed with resolution NONE', () => {
    const mesh = meshOf({ trustDomain: 'x.example', namespace: 'x', services: { a: { port: 80, egress: ['*.example.com'] } } });
    const findings = istioTarget.check(mesh);
    expect(findings.some((f) => f.pointer === '/spec/services/a/egress/0' && f.severity === 'warning')).toBe(true);
    expect(findings.every((f) => f.severity === 'warning' || f.code === 'target-ignores-setting')).toBe(true);
  });

  it('says that trustDomain and pki are not used in istio/ (a note, at trustDomain)', () => {
    const mesh = meshOf({ trustDomain: 'x.example', namespace: 'x', services: { a: { port: 80 } } });
    const notes = istioTarget.check(mesh).filter((f) => f.code === 'target-ignores-setting');
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatchObject({ severity: 'note', pointer: '/spec/trustDomain' });
    expect(notes[0].message).toContain('x.example');
    expect(notes[0].message).toContain('pki');
    expect(notes[0].hint).toContain('meshConfig.trustDomain: x.example');
  });

  it('expresses maglev with a generated cookie (ttl) and the tcp idle timeout', () => {
    const mesh = handMeshes().maglev;
    const list = docs(emit(mesh), 'istio/');
    const dr = byName(kinds(list, 'DestinationRule'), 'user-profile');
    expect(dr.spec.trafficPolicy.loadBalancer.consistentHash).toEqual({ maglev: { tableSize: 65537 }, httpCookie: { name: 'sid', path: '/app', ttl: '90s' } });
    expect(dr.spec.trafficPolicy.connectionPool).toEqual({ tcp: { connectTimeout: '0.25s' }, http: { http1MaxPendingRequests: 10, http2MaxRequests: 20, idleTimeout: '120s' } });
    expect(byName(kinds(list, 'DestinationRule'), 'db').spec.trafficPolicy.connectionPool.tcp.idleTimeout).toBe('3600s');
  });

  it('shop: search (weighted endpoints search-a 3, search-b 1) gets a Service of its name and a 75/25 split over the endpoint Services', async () => {
    const mesh = await loadFixture('shop');
    const istio = docs(emit(mesh), 'istio/');
    expect(kinds(istio, 'Service').map((s) => s.metadata.name)).toEqual(expect.arrayContaining(['search', 'search-a', 'search-b']));
    expect(kinds(istio, 'ServiceEntry').filter((e) => e.spec.hosts.includes(fqdn(mesh, 'search')))).toEqual([]);
    const vs = byName(kinds(istio, 'VirtualService'), 'search');
    expect(vs.spec.http[0].route).toEqual([
      { destination: { host: fqdn(mesh, 'search-a'), port: { number: 8080 } }, weight: 75 },
      { destination: { host: fqdn(mesh, 'search-b'), port: { number: 8080 } }, weight: 25 },
    ]);
    for (const h of ['search-a', 'search-b']) expect(byName(kinds(istio, 'DestinationRule'), h).spec.trafficPolicy.tls).toEqual({ mode: 'ISTIO_MUTUAL' });
    const frontend = byName(kinds(istio, 'Deployment'), 'frontend').spec.template.spec.containers[0];
    expect(frontend.env.find((e: Any) => e.name === 'SEARCH_ADDR').value).toBe(`${fqdn(mesh, 'search')}:8080`);
    expect(istioTarget.check(mesh).filter((f) => f.message.includes('DNS proxying'))).toEqual([]);
  });

  it('splits weights into integer percentages summing to 100', () => {
    expect(percentages([3, 1])).toEqual([75, 25]);
    expect(percentages([1, 1, 1])).toEqual([34, 33, 33]);
    expect(percentages([1])).toEqual([100]);
  });
});

describe('istio target: telemetry', () => {
  const objects = (mesh: Mesh) => docs(emitSorted(istioTarget, mesh, fakeCerts(mesh)), 'istio/').map((d) => d.obj);
  const telemetryOf = (mesh: Mesh) => objects(mesh).filter((o: Any) => o.kind === 'Telemetry');

  it('writes one namespace-wide Telemetry named meshc with Istio\'s Prometheus metrics and envoy access logs, listed in the kustomization', () => {
    const hand = handMeshes();
    const list = objects(hand.observed);
    const telemetry = list.filter((o: Any) => o.kind === 'Telemetry');
    expect(telemetry).toHaveLength(1);
    expect(telemetry[0].metadata).toMatchObject({ name: 'meshc', namespace: 'obs' });
    expect(telemetry[0].spec).toEqual({ metrics: [{ providers: [{ name: 'prometheus' }] }], accessLogging: [{ providers: [{ name: 'envoy' }] }] });
    expect(telemetry[0].spec.selector).toBeUndefined();
    expect(list.find((o: Any) => o.kind === 'Kustomization').resources).toContain('telemetry.yaml');
  });

  it('the same resource carries tracing (the meshc-otel provider, the sampling rate) with telemetry.tracing, and leaves out what is turned off', () => {
    const traced = meshOf({ trustDomain: 't.example', namespace: 'traced', services: { api: { port: 8080 } }, telemetry: { metrics: { enabled: false }, tracing: { endpoint: 'otel-collector.observability:4317', samplingPercent: 25 } } }, 'traced');
    const [t] = telemetryOf(traced);
    expect(telemetryOf(traced)).toHaveLength(1);
    expect(t.metadata.name).toBe('meshc');
    expect(t.spec).toEqual({ accessLogging: [{ providers: [{ name: 'envoy' }] }], tracing: [{ providers: [{ name: 'meshc-otel' }], randomSamplingPercentage: 25 }] });
    validateObject(docs(emitSorted(istioTarget, traced, fakeCerts(traced)), 'istio/').find((d) => d.obj.kind === 'Telemetry')!);
    expect(telemetryOf(handMeshes().unobserved)[0].spec).toEqual({ accessLogging: [{ providers: [{ name: 'envoy' }] }] });
    const silent = meshOf({ trustDomain: 's.example', namespace: 'silent', services: { api: { port: 8080 } }, telemetry: { metrics: { enabled: false }, accessLog: { enabled: false } } }, 'silent');
    expect(telemetryOf(silent)).toEqual([]);
    expect(objects(silent).find((o: Any) => o.kind === 'Kustomization').resources).not.toContain('telemetry.yaml');
  });
});
