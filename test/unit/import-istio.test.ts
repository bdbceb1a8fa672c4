import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importIstio } from '../../src/import/istio/index.js';
import { normalize } from '../../src/model/normalize.js';
import { scratchDirs } from '../support/build.js';

const scratch = scratchDirs('meshc-import-unit-');

/** Imports one file of YAML documents; returns the result and `code@line` of every diagnostic. */
async function importText(text: string) {
  const dir = await scratch();
  const file = join(dir, 'in.yaml');
  await writeFile(file, text);
  const r = await importIstio([file]);
  const codes = r.diagnostics.map((d) => `${d.code}@${d.line}`);
  /** `code@line` where line is the first line of the input containing `needle`. */
  const at = (code: string, needle: string) => `${code}@${text.split('\n').findIndex((l) => l.includes(needle)) + 1}`;
  return { ...r, codes, at, mesh: r.mesh ? normalize(r.mesh) : undefined };
}

const deployment = (name: string, extra = '') => `
apiVersion: apps/v1
kind: Deployment
metadata: { name: ${name}, namespace: prod }
spec:
  replicas: 2
  selector: { matchLabels: { app: ${name} } }
  template:
    metadata: { labels: { app: ${name} } }
    spec:
      serviceAccountName: ${name}-sa
      containers: [{ name: ${name}, image: "acme/${name}:1", ports: [{ containerPort: 8080 }] }]${extra}
---
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: prod }
spec: { selector: { app: ${name} }, ports: [{ name: http-web, port: 80, targetPort: 8080 }] }
---`;

describe('import istio: mapping', () => {
  it('Sidecar egress hosts, AuthorizationPolicy principals and namespaces, DENY as the absence of an allow', async () => {
    const r = await importText(`${deployment('web')}${deployment('api')}${deployment('db')}
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: web, namespace: prod }
spec:
  workloadSelector: { labels: { app: web } }
  egress: [{ hosts: ["./api.prod.svc.cluster.local", "istio-system/*", "./*.stripe.com"] }]
  outboundTrafficPolicy: { mode: REGISTRY_ONLY }
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: { name: default, namespace: prod }
spec:
  egress: [{ hosts: ["./*"] }]
  outboundTrafficPolicy: { mode: REGISTRY_ONLY }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: api, namespace: prod }
spec:
  selector: { matchLabels: { app: api } }
  rules: [{ from: [{ source: { principals: ["spiffe-td/ns/prod/sa/web-sa"] } }] }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: db, namespace: prod }
spec:
  selector: { matchLabels: { app: db } }
  rules: [{ from: [{ source: { namespaces: ["prod"] } }] }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: db-no-web, namespace: prod }
spec:
  selector: { matchLabels: { app: db } }
  action: DENY
  rules: [{ from: [{ source: { principals: ["cluster.local/ns/prod/sa/web-sa"] } }] }]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: web, namespace: prod }
spec:
  selector: { matchLabels: { app: web } }
  rules: [{ from: [{ source: { principals: ["cluster.local/ns/other/sa/x"] } }] }]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: stripe, namespace: prod }
spec:
  hosts: ["*.stripe.com"]
  ports: [{ number: 443, name: tls, protocol: TLS }]
  resolution: NONE
`);
    const svc = Object.fromEntries(r.mesh!.services.map((s) => [s.name, s]));
    expect(svc.web.upstreams.map((u) => u.service)).toEqual(['api']);
    // Every service's Sidecar imports *.stripe.com (web's by name, the namespace default by `./*`): mesh-wide.
    expect(r.mesh!.egress.allow).toEqual(['*.stripe.com']);
    // The namespace default Sidecar imports every service: api's and db's upstreams come from who allows them.
    expect(svc.api.upstreams.map((u) => u.service)).toEqual(['db']);
    expect(svc.api.allowFrom).toEqual(['web']);
    expect(svc.db.allowFrom).toEqual(['api']); // the namespace, less web (DENY)
    // Allowing a namespace and denying one of its workloads is no disagreement.
    expect(r.codes.filter((c) => c.startsWith('import-authz-conflict'))).toEqual([]);
    expect(svc.web.allowFrom).toEqual([]);
    expect(r.codes).toContain(r.at('import-unknown-principal', 'ns/other/sa/x'));
    expect(r.codes.filter((c) => c.startsWith('import-allow-any-egress'))).toEqual([]);
    expect(svc.web.port).toBe(8080);
    expect(svc.web.replicas).toBe(2);
  });

  it('DestinationRule and VirtualService: load balancing, pool, outlier detection, retries and timeout', async () => {
    const r = await importText(`${deployment('cart')}
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: { name: cart, namespace: prod }
spec:
  host: cart.prod.svc.cluster.local
  trafficPolicy:
    loadBalancer:
      consistentHash:
        maglev: { tableSize: 65537 }
        httpCookie: { name: sid, ttl: 0.5s, path: /shop }
    connectionPool:
      tcp: { maxConnections: 100, connectTimeout: 250ms }
      http: { http1MaxPendingRequests: 10, http2MaxRequests: 1000, idleTimeout: 90s, maxRetries: 3 }
    outlierDetection: { consecutive5xxErrors: 7, interval: 5s, baseEjectionTime: 1m, maxEjectionPercent: 40 }
---
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata: { name: cart, namespace: prod }
spec:
  hosts: [cart]
  http:
  - timeout: 12s
    retries: { attempts: 3, perTryTimeout: 2s, retryOn: "5xx,reset,refused-stream" }
    route: [{ destination: { host: cart } }]
`);
    const cart = r.mesh!.services[0];
    expect(cart.loadBalancing).toEqual({ policy: 'maglev', choiceCount: 2, hashOn: { kind: 'cookie', name: 'sid', path: '/shop', ttlSeconds: 1 } });
    expect(r.codes).toContain(r.at('import-unsupported-field', 'maxRetries'));
    expect(cart.connectionLimits).toEqual({ maxConnections: 100, maxPendingRequests: 10, maxRequests: 1000 });
    expect(cart.timeouts).toEqual({ connectMs: 250, idleMs: 90_000, requestMs: 12_000 });
    expect(cart.outlierDetection).toEqual({ consecutive5xx: 7, intervalMs: 5000, baseEjectionTimeMs: 60_000, maxEjectionPercent: 40 });
    expect(cart.retries).toEqual({ attempts: 3, perTryTimeoutMs: 2000, retryOn: ['5xx', 'reset'] });
    expect(r.codes).toContain(r.at('import-unsupported-field', 'refused-stream'));
  });

  it('PeerAuthentication PERMISSIVE and per-port modes, RequestAuthentication and EnvoyFilter are reported', async () => {
    const r = await importText(`${deployment('web')}
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: prod }
spec:
  mtls: { mode: PERMISSIVE }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: web, namespace: prod }
spec:
  selector: { matchLabels: { app: web } }
  mtls: { mode: STRICT }
  portLevelMtls: { "9090": { mode: DISABLE } }
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: jwt, namespace: prod }
spec:
  jwtRules: [{ issuer: "https://issuer.example" }]
---
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: { name: lua, namespace: prod }
spec: {}
---
apiVersion: v1
kind: ConfigMap
metadata: { name: x, namespace: prod }
`);
    expect(r.codes).toEqual(expect.arrayContaining([r.at('import-mtls-mode', 'PERMISSIVE'), r.at('import-mtls-per-port', '"9090"'), r.at('import-jwt', 'jwtRules'), r.at('import-unsupported-kind', 'kind: EnvoyFilter'), r.at('import-ignored-kind', 'kind: ConfigMap')]));
    expect(r.exitCode).toBe(1);
  });

  it('ingress: TLS hosts with their credentials, the Gateway redirect, weighted routes and rewrites reported', async () => {
    const r = await importText(`${deployment('web')}${deployment('api')}
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: { name: public, namespace: prod }
spec:
  selector: { istio: ingressgateway }
  servers:
  - port: { number: 443, name: https, protocol: HTTPS }
    hosts: ["prod/shop.example.com", "*.apps.example.com"]
    tls: { mode: SIMPLE, credentialName: shop-cert }
  - port: { number: 80, name: http, protocol: HTTP }
    hosts: [shop.example.com]
    tls: { httpsRedirect: true }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: shop, namespace: prod }
spec:
  hosts: [shop.example.com, "*.apps.example.com"]
  gateways: [public]
  http:
  - match: [{ uri: { prefix: /api } }]
    rewrite: { uri: / }
    timeout: 30s
    route:
    - { destination: { host: api }, weight: 80 }
    - { destination: { host: web }, weight: 20 }
  - route: [{ destination: { host: web.prod.svc.cluster.local } }]
`);
    const hosts = Object.fromEntries(r.mesh!.ingress.hosts.map((h) => [h.host, h]));
    expect(hosts['shop.example.com'].routes).toEqual([{ pathPrefix: '/api', service: 'api', timeoutMs: 30_000 }, { pathPrefix: '/', service: 'web' }]);
    expect(hosts['shop.example.com'].redirectHttp).toBe(true);
    expect(hosts['shop.example.com'].tls).toEqual({ kind: 'generated' });
    expect(hosts['*.apps.example.com'].routes).toHaveLength(2);
    expect(r.codes).toEqual(expect.arrayContaining([r.at('import-header-rewrite', 'rewrite:'), r.at('import-traffic-split', '- { destination: { host: api }'), r.at('import-ingress-credential', 'credentialName')]));
    expect(r.codes.filter((c) => c.startsWith('import-ingress-credential'))).toHaveLength(1);
    // A route is the ingress gateway's permission.
    expect(r.mesh!.services.find((s) => s.name === 'api')!.callers).toContain('ingress-gateway');
  });

  it('other namespaces, a DaemonSet, a StatefulSet, a List, and an AuthorizationPolicy `when`', async () => {
    const r = await importText(`apiVersion: v1
kind: List
items:
- apiVersion: apps/v1
  kind: StatefulSet
  metadata: { name: cache, namespace: prod }
  spec:
    replicas: 3
    selector: { matchLabels: { app: cache } }
    template:
      metadata: { labels: { app: cache } }
      spec: { containers: [{ name: redis, image: redis:7, ports: [{ name: tcp-redis, containerPort: 6379 }] }] }
- apiVersion: apps/v1
  kind: DaemonSet
  metadata: { name: agent, namespace: prod }
  spec: {}
---
${deployment('web')}
apiVersion: apps/v1
kind: Deployment
metadata: { name: elsewhere, namespace: other }
spec:
  template: { metadata: { labels: { app: x } }, spec: { containers: [{ name: x, image: x }] } }
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: cache, namespace: prod }
spec:
  selector: { matchLabels: { app: cache } }
  rules: [{ from: [{ source: { principals: ["cluster.local/ns/prod/sa/web-sa"] } }], when: [{ key: "request.headers[x]", values: ["1"] }] }]
`);
    const cache = r.mesh!.services.find((s) => s.name === 'cache')!;
    expect([cache.protocol, cache.port, cache.replicas, cache.allowFrom]).toEqual(['tcp', 6379, 3, ['web']]);
    expect(r.codes).toEqual(expect.arrayContaining([r.at('import-unsupported-kind', 'kind: DaemonSet'), r.at('import-other-namespace', 'namespace: other'), r.at('import-authz-condition', 'when:')]));
    expect(r.mesh!.services.map((s) => s.name)).toEqual(['cache', 'web']);
  });

  it('two VirtualServices for one service: the first is imported, the second reported', async () => {
    const r = await importText(`${deployment('web')}
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: a, namespace: prod }
spec: { hosts: [web], http: [{ timeout: 1s, route: [{ destination: { host: web } }] }] }
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: b, namespace: prod }
spec: { hosts: [web.prod], http: [{ timeout: 9s, route: [{ destination: { host: web } }] }] }
`);
    expect(r.mesh!.services[0].timeouts.requestMs).toBe(1000);
    expect(r.codes).toContain(r.at('import-conflict', 'hosts: [web.prod]'));
    expect(r.diagnostics.find((d) => d.code === 'import-conflict')!.severity).toBe('error');
  });

  it('an input with nothing to import still prints a valid mesh, exit 0', async () => {
    const r = await importText('apiVersion: v1\nkind: ConfigMap\nmetadata: { name: x }\n');
    expect(r.exitCode).toBe(0);
    expect(r.mesh!.services).toEqual([]);
  });
});

describe('import istio: malformed objects', () => {
  it('never throws: every field of the samples replaced by a value of another type gives diagnostics, not a crash', async () => {
    const { parseAllDocuments } = await import('yaml');
    const { readFile } = await import('node:fs/promises');
    const root = new URL('../../fixtures/istio-import/', import.meta.url).pathname;
    const inputs = ['bookinfo/input/bookinfo-gateway.yaml', 'egress/input/egress-gateway.yaml', 'secure-ingress/input/httpbin.yaml', 'secure-ingress/input/secure-ingress.yaml'];
    const docs = (await Promise.all(inputs.map((f) => readFile(join(root, f), 'utf8')))).flatMap((t) => parseAllDocuments(t).map((d) => d.toJS() as unknown));
    const paths: (string | number)[][] = [];
    const walk = (v: unknown, p: (string | number)[]) => {
      paths.push(p);
      if (Array.isArray(v)) v.forEach((x, i) => walk(x, [...p, i]));
      else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, [...p, k]);
    };
    docs.forEach((d, i) => walk(d, [i]));
    const { stringify } = await import('yaml');
    let runs = 0;
    for (const p of paths) {
      if (p.length < 2) continue;
      for (const replacement of ['x', null]) {
        const copy = structuredClone(docs) as unknown[];
        let node = copy as unknown as Record<string | number, unknown>;
        for (const k of p.slice(0, -1)) node = node[k] as Record<string | number, unknown>;
        node[p[p.length - 1]] = replacement;
        const r = await importText(copy.map((d) => stringify(d)).join('---\n'));
        expect([0, 1, 2]).toContain(r.exitCode);
        runs++;
      }
    }
    expect(runs).toBeGreaterThan(200);
  }, 60_000);
});
