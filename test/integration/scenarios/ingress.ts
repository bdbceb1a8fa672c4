/**
 * Scenario 3: the ingress gateway. TLS termination with one certificate per host chosen by SNI,
 * unknown SNI refused, 301 from HTTP to HTTPS with the explicit port, routing by host and path
 * prefix to services over mTLS with the gateway's own identity, X-Forwarded-Proto trusted only
 * when configured.
 */
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet, startHttpBackend, tlsProbe, type Backend, type Proc } from '../../harness/index.js';
import type { ProxyDriver } from '../drivers/driver.js';
import { buildTestMesh, type TestMesh } from '../mesh-builder.js';

export function ingressScenario(driver: ProxyDriver): void {
  describe.skipIf(!driver.available)(`${driver.name}: ingress gateway`, () => {
    let mesh: TestMesh;
    let bundle = '';
    let gateway: Proc | undefined;
    const procs: Proc[] = [];
    const backends: Record<string, Backend> = {};

    beforeAll(async () => {
      mesh = await buildTestMesh({
        targets: [driver.name],
        services: {
          web: {},
          api: {},
          admin: {},
          internal: { allowFrom: ['web'] },
        },
        ingress: {
          hosts: {
            'shop.test': { routes: [{ pathPrefix: '/', service: 'web' }, { pathPrefix: '/api', service: 'api' }] },
            'admin.test': { routes: [{ pathPrefix: '/', service: 'admin' }] },
            'plain.test': { redirectHttp: false, routes: [{ pathPrefix: '/', service: 'web' }] },
            '*.apps.test': { routes: [{ pathPrefix: '/', service: 'admin' }] },
          },
        },
      });
      bundle = await mesh.pem.bundle();
      for (const name of ['web', 'api', 'admin', 'internal']) {
        const s = mesh.services[name];
        backends[name] = await startHttpBackend({ name, host: s.addresses[0], port: s.appPort });
        procs.push(await driver.start(mesh.out, name));
      }
      gateway = await driver.start(mesh.out, 'ingress-gateway');
    });

    afterAll(async () => {
      await gateway?.stop();
      for (const p of procs) await p.stop();
      for (const b of Object.values(backends)) await b.close();
      await mesh?.cleanup();
    });

    const https = (host: string, path: string, headers?: Record<string, string>) =>
      httpGet(`https://${host}:${mesh.ingress.httpsPort}${path}`, { lookupHost: mesh.ingress.address, ca: bundle, headers });
    const http = (host: string, path: string, headers?: Record<string, string>) =>
      httpGet(`http://${host}:${mesh.ingress.httpPort}${path}`, { lookupHost: mesh.ingress.address, headers });

    it('answers plain HTTP with 301 to https://host:PORT/path', async () => {
      const res = await http('shop.test', '/some/path?q=1');
      expect(res.status).toBe(301);
      expect(res.headers.location).toBe(`https://shop.test:${mesh.ingress.httpsPort}/some/path?q=1`);
      const admin = await http('admin.test', '/');
      expect(admin.status).toBe(301);
      expect(admin.headers.location).toBe(`https://admin.test:${mesh.ingress.httpsPort}/`);
    });

    it('redirects and serves a wildcard host (any subdomain, its own wildcard certificate)', async () => {
      const res = await http('a.b.apps.test', '/w?x=1');
      expect(res.status).toBe(301);
      expect(res.headers.location).toBe(`https://a.b.apps.test:${mesh.ingress.httpsPort}/w?x=1`);
      const served = await https('x.apps.test', '/w');
      expect(served.status).toBe(200);
      expect(served.body).toBe('admin');
      const apex = await tlsProbe({ host: mesh.ingress.address, port: mesh.ingress.httpsPort, servername: 'apps.test', ca: bundle });
      expect(apex.connected).toBe(false);
    });

    it('serves a host without redirectHttp over plain HTTP', async () => {
      const res = await http('plain.test', '/x');
      expect(res.status).toBe(200);
      expect(res.body).toBe('web');
    });

    it("presents each host's own certificate by SNI", async () => {
      for (const host of ['shop.test', 'admin.test']) {
        const probe = await tlsProbe({ host: mesh.ingress.address, port: mesh.ingress.httpsPort, servername: host, ca: bundle });
        expect(probe.connected, probe.error).toBe(true);
        const der = probe.peerCertificate?.raw;
        expect(der).toBeDefined();
        const cert = new X509Certificate(der!);
        expect(cert.checkHost(host)).toBe(host);
        expect(cert.toString()).toBe(new X509Certificate((await mesh.pem.ingress(host)).cert).toString());
      }
    });

    it('refuses an unknown SNI and a handshake without SNI', async () => {
      const unknown = await tlsProbe({ host: mesh.ingress.address, port: mesh.ingress.httpsPort, servername: 'unknown.test', ca: bundle });
      expect(unknown.connected).toBe(false);
      const none = await tlsProbe({ host: mesh.ingress.address, port: mesh.ingress.httpsPort, ca: bundle });
      expect(none.connected).toBe(false);
    });

    it('routes by host and longest path prefix to the right service', async () => {
      expect((await https('shop.test', '/api/orders')).body).toBe('api');
      expect((await https('shop.test', '/cart')).body).toBe('web');
      expect((await https('shop.test', '/')).body).toBe('web');
      expect((await https('admin.test', '/api/orders')).body).toBe('admin');
      expect(backends.api.requests.map((r) => r.path)).toContain('/api/orders');
    });

    it("reaches services through their sidecars, which see the gateway's identity", async () => {
      // Every request the routed backends saw came over their own sidecar.
      for (const name of ['web', 'api', 'admin']) {
        const addr = mesh.services[name].addresses[0];
        expect(backends[name].connections.length).toBeGreaterThan(0);
        expect(new Set(backends[name].connections.map((c) => c.remoteAddress))).toEqual(new Set([addr]));
      }
      // The gateway's identity is allowed where a route says so, and nowhere else.
      const gw = await mesh.pem.workload('ingress-gateway');
      const direct = (name: string) => {
        const s = mesh.services[name];
        return httpGet(`https://${s.addresses[0]}:${s.inboundPort}/direct`, { ca: bundle, servername: `${name}.it.svc.cluster.local`, cert: gw.cert, key: gw.key }).then(
          (r) => r.status,
          () => 0,
        );
      };
      expect(await direct('api')).toBe(200);
      expect([0, 400, 403]).toContain(await direct('internal'));
      expect(backends.internal.requests).toEqual([]);
    });

    it('without trustForwardedProto, X-Forwarded-Proto: https is still redirected', async () => {
      const res = await http('shop.test', '/p', { 'x-forwarded-proto': 'https' });
      expect(res.status).toBe(301);
    });

    it.skipIf(!driver.supports('ingress.forwarded-proto'))('with trustForwardedProto, X-Forwarded-Proto: https is served (no redirect loop)', async () => {
      const spec = (mesh.written as { spec: { ingress: Record<string, unknown> } }).spec;
      spec.ingress.trustForwardedProto = true;
      await mesh.rebuild();
      await gateway?.stop();
      gateway = await driver.start(mesh.out, 'ingress-gateway');
      const served = await http('shop.test', '/api/x', { 'x-forwarded-proto': 'https' });
      expect(served.status).toBe(200);
      expect(served.body).toBe('api');
      const redirected = await http('shop.test', '/api/x', { 'x-forwarded-proto': 'http' });
      expect(redirected.status).toBe(301);
      const bare = await http('shop.test', '/api/x');
      expect(bare.status).toBe(301);
    });
  });
}
