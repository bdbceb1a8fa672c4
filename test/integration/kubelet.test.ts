/**
 * The k8s/ tree run as a cluster would run it (test/harness/kubelet.ts): every Deployment's proxy
 * containers with the real Envoy, from their ConfigMap and Secret volumes laid out as the kubelet
 * does, each pod on its own loopback address, cluster DNS answered by the harness DNS. Then real
 * traffic through that layout: mTLS allowed and refused, ingress redirect and routing through the
 * ingress gateway Deployment, egress allowed and refused, and the egress gateway bypass refused.
 *
 * The test mesh is a small shop. Only what a test machine needs differs from a production mesh:
 * `dns.resolvers` names the harness DNS (in a cluster, kube-dns), the ingress listens on 8080/8443
 * (no privileged ports), and the fake external sites listen on free ports (`egress.tlsPort`/`httpPort`).
 */
import { Resolver } from 'node:dns/promises';
import path from 'node:path';
import { readlink, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { build } from '../../src/pipeline/build.js';
import {
  checkProbes,
  createTestCa,
  freePort,
  httpGet,
  loopbackAddress,
  proxyOrSkip,
  readObjects,
  requireBinary,
  runDeployments,
  startDns,
  startHttpBackend,
  startTlsBackend,
  tempDir,
  tlsThroughGateway,
  type Backend,
  type Cluster,
  type DnsServer,
  type TestCa,
} from '../harness/index.js';

const envoy = proxyOrSkip('envoy');
type Any = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const NS = 'shop';
const SITES = ['api.stripe.com', 'maps.googleapis.com', 'evil.test'];

describe.skipIf(!envoy.path)('k8s tree run by a kubelet-style runner with the real Envoy', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let dns: DnsServer;
  let cluster: Cluster;
  let ca: TestCa;
  let out: string;
  const backends: Backend[] = [];
  const egress = { tlsPort: 0, httpPort: 0 };

  beforeAll(async () => {
    dir = await tempDir('kubelet');
    dns = await startDns({ host: loopbackAddress(), records: {} });
    const probe = loopbackAddress();
    egress.tlsPort = await freePort(probe);
    egress.httpPort = await freePort(probe);
    const mesh = {
      apiVersion: 'meshc.dev/v1',
      kind: 'Mesh',
      metadata: { name: 'shop' },
      spec: {
        trustDomain: 'shop.example',
        namespace: NS,
        dns: { resolvers: [`${dns.host}:${dns.port}`], ipFamily: 'v4' },
        services: {
          frontend: { port: 8080, image: 'ghcr.io/acme/frontend:1', upstreams: ['cart'] },
          cart: { port: 8080, image: 'ghcr.io/acme/cart:1', allowFrom: ['frontend'], upstreams: ['payments'] },
          payments: { port: 9090, image: 'ghcr.io/acme/payments:1', allowFrom: ['cart'], egress: ['api.stripe.com'] },
        },
        egress: { allow: ['*.googleapis.com'], tlsPort: egress.tlsPort, httpPort: egress.httpPort },
        ingress: {
          httpPort: 8080,
          httpsPort: 8443,
          hosts: { 'shop.example.com': { tls: 'generated', redirectHttp: true, routes: [{ pathPrefix: '/api/cart', service: 'cart' }, { pathPrefix: '/', service: 'frontend' }] } },
        },
      },
    };
    const file = path.join(dir.path, 'mesh.yaml');
    out = path.join(dir.path, 'out');
    await writeFile(file, stringify(mesh));
    const res = await build({ file, out, state: path.join(dir.path, '.meshc'), targets: ['k8s'] });
    expect(res.ok, JSON.stringify(res.diagnostics)).toBe(true);

    ca = await createTestCa('fake internet CA');
    for (const name of SITES) {
      const ip = loopbackAddress();
      dns.setRecord(name, ip);
      const leaf = await ca.issue({ cn: name, sans: [name] });
      backends.push(await startTlsBackend({ name, host: ip, port: egress.tlsPort, cert: leaf.cert, key: leaf.key }));
      backends.push(await startHttpBackend({ name, host: ip, port: egress.httpPort }));
    }

    const objects = await readObjects(path.join(out, 'k8s'), path.join(out, 'secrets/k8s'));
    cluster = await runDeployments({ objects, root: path.join(dir.path, 'pods'), dns, envoyBin: requireBinary('envoy') });
    // The application containers: a backend per pod on the port its Deployment declares.
    for (const svc of ['frontend', 'cart', 'payments']) {
      const pod = cluster.pod(svc);
      const app = pod.containers.find((c) => c.name === svc)!;
      backends.push(await startHttpBackend({ name: svc, host: pod.ip, port: app.spec.ports[0].containerPort, healthPath: '/healthz' }));
    }
  }, 240_000);

  afterAll(async () => {
    await cluster?.stop();
    for (const b of backends) await b.close();
    await dns?.close();
    await dir?.cleanup();
  });

  const env = (deployment: string, name: string): string => {
    const pod = cluster.pod(deployment);
    const value = pod.containers.find((c) => c.name === deployment)?.env[name];
    if (!value) throw new Error(`${deployment} has no ${name}`);
    return value;
  };
  const pem = async (identity: string) => {
    const s = cluster.objects.get('Secret', `${identity}-tls`);
    return { cert: Buffer.from(s.data['tls.crt'], 'base64').toString(), key: Buffer.from(s.data['tls.key'], 'base64').toString() };
  };
  const bundle = () => String(Object.values(cluster.objects.get('ConfigMap', 'meshc-ca-bundle').data)[0]);
  /** A Service's address and port as cluster DNS and the Service object give them. */
  const service = async (name: string, portName: string) => {
    const s = cluster.objects.get('Service', name);
    const port = s.spec.ports.find((p: Any) => p.name === portName);
    const resolver = new Resolver();
    resolver.setServers([`${dns.host}:${dns.port}`]);
    const [ip] = await resolver.resolve4(`${name}.${NS}.svc.cluster.local`);
    return { ip, port: port.targetPort ?? port.port };
  };

  it('runs every Deployment, and each container’s probes pass as the kubelet runs them', async () => {
    expect([...new Set(cluster.pods.map((p) => p.deployment))].sort()).toEqual(['cart', 'egress-gateway', 'frontend', 'ingress-gateway', 'payments']);
    // Each replica is a pod of its own: the gateways run two by default.
    for (const gw of ['ingress-gateway', 'egress-gateway']) expect(cluster.pods.filter((p) => p.deployment === gw), gw).toHaveLength(2);
    // The volume as the kubelet writes it: Envoy reads its certificate through `certs` → `..data/certs` → `..<timestamp>/certs`.
    const mount = cluster.pod('cart').hostPath('envoy', '/etc/meshc');
    expect(await readlink(path.join(mount, 'certs'))).toBe('..data/certs');
    expect(await readlink(path.join(mount, '..data'))).toMatch(/^\.\.\d{4}_/);
    for (const pod of cluster.pods) {
      for (const c of pod.containers) {
        const probes = await checkProbes(pod, c.name);
        for (const [kind, result] of Object.entries(probes)) expect(result, `${pod.name}/${c.name} ${kind}`).toBe('ok');
      }
    }
  });

  it('metrics: every pod answers a scrape where its annotations and its `metrics` port say, with its own Envoy\'s series', async () => {
    for (const pod of cluster.pods) {
      const template = cluster.objects.get('Deployment', pod.deployment).spec.template;
      const a = template.metadata.annotations;
      expect(a['prometheus.io/scrape'], pod.name).toBe('true');
      const envoyPorts = pod.containers.find((c) => c.name === 'envoy')!.spec.ports as Any[];
      expect(envoyPorts.find((p) => p.name === 'metrics')?.containerPort, pod.name).toBe(Number(a['prometheus.io/port']));
      const res = await httpGet(`http://${pod.ip}:${a['prometheus.io/port']}${a['prometheus.io/path']}`);
      expect(res.status, pod.name).toBe(200);
      const own = res.body.split('\n').filter((l) => l.startsWith('envoy_') && l.includes('mesh="shop"') && l.includes(`workload="${pod.deployment}"`));
      expect(own.length, `${pod.name}:\n${res.body.slice(0, 500)}`).toBeGreaterThan(0);
    }
  });

  it('mTLS: an application reaches its upstream through the address in its environment; the callee sees the caller’s identity', async () => {
    const r = await httpGet(`${env('frontend', 'CART_URL')}/items`);
    expect(r).toMatchObject({ status: 200, body: 'cart' });
    const cart = backends.find((b) => b.name === 'cart')!;
    expect(cart.requests.at(-1)?.headers['x-forwarded-client-cert']).toContain('spiffe://shop.example/ns/shop/sa/frontend');
    expect(await httpGet(`${env('cart', 'PAYMENTS_URL')}/charge`)).toMatchObject({ status: 200, body: 'payments' });
  });

  it('mTLS: a caller not in allowFrom gets 403, a client without a mesh certificate is refused', async () => {
    const payments = await service('payments', 'mesh-inbound');
    const url = `https://payments.${NS}.svc.cluster.local:${payments.port}/charge`;
    const asFrontend = await pem('frontend');
    const app = backends.find((b) => b.name === 'payments')!;
    app.reset();
    const denied = await httpGet(url, { lookupHost: payments.ip, ca: bundle(), ...asFrontend });
    expect(denied.status).toBe(403);
    const none = await httpGet(url, { lookupHost: payments.ip, ca: bundle() }).then(
      (r) => `HTTP ${r.status}`,
      (e: Error) => e.message,
    );
    expect(none).not.toMatch(/^HTTP 2/);
    expect(app.requests).toEqual([]);
  });

  it('ingress: the ingress gateway Deployment redirects HTTP to HTTPS and routes by path over mTLS', async () => {
    const gw = await service('ingress-gateway', 'http');
    const https = await service('ingress-gateway', 'https');
    const redirect = await httpGet(`http://${gw.ip}:${gw.port}/api/cart/1`, { headers: { host: 'shop.example.com' } });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.location).toBe('https://shop.example.com:8443/api/cart/1');
    const get = (p: string) => httpGet(`https://shop.example.com:${https.port}${p}`, { lookupHost: https.ip, ca: bundle() });
    expect(await get('/api/cart/1')).toMatchObject({ status: 200, body: 'cart' });
    expect(await get('/')).toMatchObject({ status: 200, body: 'frontend' });
  });

  /** A pod's Envoy counters, from its admin listener (on the pod's address, as its bootstrap says). */
  /** A Deployment's admin counters, summed over its replicas (calls may reach any of them). */
  const adminStats = async (deployment: string): Promise<Record<string, number>> => {
    const sum: Record<string, number> = {};
    for (const pod of cluster.pods.filter((p) => p.deployment === deployment)) {
      const text = (await httpGet(`http://${pod.ip}:15000/stats`)).body;
      for (const [k, v] of text.split('\n').map((l) => l.split(': ')).filter((p) => p.length === 2 && /^\d+$/.test(p[1]))) sum[k] = (sum[k] ?? 0) + Number(v);
    }
    return sum;
  };
  const siteOf = (name: string, tls: boolean) => backends.find((b) => b.name === name && ('servernames' in b) === tls)!;
  /** HTTPS through the pod's egress TLS port (MESHC_EGRESS_TLS): SNI and certificate check are the site's. */
  const egressTls = (deployment: string, name: string) => {
    const [ip, port] = env(deployment, 'MESHC_EGRESS_TLS').split(':');
    return httpGet(`https://${name}:${port}/tls`, { lookupHost: ip, ca: ca.cert, timeoutMs: 5_000 }).then(
      (r) => ({ ok: true as const, status: r.status, body: r.body }),
      (e: Error) => ({ ok: false as const, error: e.message }),
    );
  };
  const egressHttp = (deployment: string, name: string) =>
    httpGet(`${env(deployment, 'HTTP_PROXY')}/plain`, { headers: { host: name }, timeoutMs: 5_000 }).then(
      (r) => ({ status: r.status, body: r.body }),
      (e: Error) => ({ status: 0, body: e.message }),
    );

  it('egress: allowed names pass through the sidecar and the egress gateway, TLS untouched, plain HTTP by Host', async () => {
    expect(await egressTls('payments', 'api.stripe.com')).toMatchObject({ ok: true, status: 200, body: 'api.stripe.com' });
    expect(await egressHttp('payments', 'api.stripe.com')).toMatchObject({ status: 200, body: 'api.stripe.com' });
    expect(await egressTls('cart', 'maps.googleapis.com')).toMatchObject({ ok: true, body: 'maps.googleapis.com' });
    // Egress left through the gateway: its admin counters (on its pod address) saw the connections.
    const gateway = await adminStats('egress-gateway');
    expect(gateway['cluster.egress|api.stripe.com.upstream_cx_total']).toBeGreaterThan(0);
    expect(gateway['http.egress_http.downstream_rq_2xx']).toBeGreaterThan(0);
    expect((await adminStats('payments'))['cluster.egress|gateway-tls.upstream_cx_total']).toBeGreaterThan(0);
  });

  it('egress: a name outside the caller’s list is refused at its sidecar', async () => {
    siteOf('api.stripe.com', true).reset();
    siteOf('api.stripe.com', false).reset();
    expect((await egressTls('cart', 'api.stripe.com')).ok).toBe(false);
    expect((await egressHttp('cart', 'api.stripe.com')).status).toBe(403);
    expect((await egressTls('payments', 'evil.test')).ok).toBe(false);
    expect(siteOf('api.stripe.com', true).connections).toEqual([]);
    expect(siteOf('api.stripe.com', false).connections).toEqual([]);
  });

  it('egress bypass: cart’s pod straight to the egress gateway, without a mesh certificate or with cart’s own, never reaches api.stripe.com', async () => {
    const gw = await service('egress-gateway', 'tls');
    const gwHttp = await service('egress-gateway', 'http');
    const from = cluster.pod('cart').ip;
    const ask = (identity?: { cert: string; key: string }) =>
      tlsThroughGateway({ host: gw.ip, port: gw.port, name: 'api.stripe.com', siteCa: ca.cert, localAddress: from, ...identity });
    siteOf('api.stripe.com', true).reset();
    siteOf('api.stripe.com', false).reset();
    const none = await ask();
    expect(none.ok, JSON.stringify(none)).toBe(false);
    const asCart = await ask(await pem('cart'));
    expect(asCart.ok, JSON.stringify(asCart)).toBe(false);
    // Plain HTTP to the gateway's HTTP port: no certificate, then cart's.
    const plain = await httpGet(`http://${gwHttp.ip}:${gwHttp.port}/plain`, { headers: { host: 'api.stripe.com' } }).then(
      (r) => `HTTP ${r.status}`,
      (e: Error) => e.message,
    );
    expect(plain).not.toBe('HTTP 200');
    const cartHttp = await httpGet(`https://egress-gateway.${NS}.svc.cluster.local:${gwHttp.port}/plain`, {
      lookupHost: gwHttp.ip,
      headers: { host: 'api.stripe.com' },
      ca: bundle(),
      ...(await pem('cart')),
    });
    expect(cartHttp.status).toBe(403);
    expect(siteOf('api.stripe.com', true).connections).toEqual([]);
    expect(siteOf('api.stripe.com', false).connections).toEqual([]);
    // The control: payments' identity, the one allowed, does get through the same way.
    expect(await ask(await pem('payments'))).toMatchObject({ ok: true, status: 200, body: 'api.stripe.com' });
    // A name every service may reach admits the services' identities, not the gateways'.
    const askMaps = async (identity: string) =>
      tlsThroughGateway({ host: gw.ip, port: gw.port, name: 'maps.googleapis.com', siteCa: ca.cert, localAddress: from, ...(await pem(identity)) });
    expect(await askMaps('cart')).toMatchObject({ ok: true, body: 'maps.googleapis.com' });
    expect((await askMaps('ingress-gateway')).ok).toBe(false);
  });

  it('notices wiring that does not match: a mount path the arguments do not use, a probe on a port nothing listens on', async () => {
    const objects = await readObjects(path.join(out, 'k8s'), path.join(out, 'secrets/k8s'));
    const d = objects.get('Deployment', 'cart');
    d.spec.template.spec.initContainers[0].volumeMounts[0].mountPath = '/etc/elsewhere';
    await expect(runDeployments({ objects, root: path.join(dir.path, 'broken'), dns, envoyBin: requireBinary('envoy'), only: ['cart'] })).rejects.toThrow(/under no volumeMount/);
    const pod = cluster.pod('cart');
    const sidecar = pod.containers.find((c) => c.name === 'envoy')!;
    const probe = sidecar.spec.startupProbe.tcpSocket.port;
    sidecar.spec.startupProbe.tcpSocket.port = probe + 1;
    try {
      expect((await checkProbes(pod, 'envoy')).startupProbe).toMatch(/ECONNREFUSED/);
    } finally {
      sidecar.spec.startupProbe.tcpSocket.port = probe;
    }
  });
});
