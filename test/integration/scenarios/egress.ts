/**
 * Scenario 2: egress limited to an allow-list of domains.
 *
 * Fake external sites (TLS and plain HTTP, certificates from a throw-away CA, names answered by
 * the harness DNS server) behind frontend's sidecar egress ports:
 *   api.allowed.test   frontend's own list (exact)
 *   *.wild.test        mesh-wide list: a.b.wild.test allowed, the apex wild.test not
 *   other.test         only service `other` lists it: must not leak to frontend
 *   denied.test        nobody lists it
 * TLS is matched by SNI and passed through: the client verifies the site's own certificate.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestCa,
  httpGet,
  httpViaConnectProxy,
  rawHttp,
  startHttpBackend,
  startTlsBackend,
  tlsThroughGateway,
  type Backend,
  type Proc,
  type TestCa,
} from '../../harness/index.js';
import type { ProxyDriver } from '../drivers/driver.js';
import { buildTestMesh, type TestMesh } from '../mesh-builder.js';

const SITES = ['api.allowed.test', 'a.b.wild.test', 'wild.test', 'other.test', 'denied.test'];

/**
 * `viaGateway`: the same assertions with every sidecar sending egress through the egress gateway
 * (as in Kubernetes), plus proof that the gateway is on the path: stopped, it takes egress down.
 */
export function egressScenario(driver: ProxyDriver, opts: { viaGateway?: boolean } = {}): void {
  const via = opts.viaGateway === true;
  describe.skipIf(!driver.available || (via && !driver.supports('egress.via-gateway')))(`${driver.name}: egress allow-list${via ? ' through the egress gateway' : ''}`, () => {
    let mesh: TestMesh;
    let ca: TestCa;
    const procs: Proc[] = [];
    const sites: Backend[] = [];

    beforeAll(async () => {
      mesh = await buildTestMesh({
        targets: [driver.name],
        services: {
          frontend: { egress: ['api.allowed.test'] },
          other: { egress: ['other.test'] },
        },
        egressAllow: ['*.wild.test'],
        egressViaGateway: via || undefined,
        sites: SITES,
      });
      ca = await createTestCa('fake internet CA');
      for (const name of SITES) {
        const leaf = await ca.issue({ cn: name, sans: [name] });
        sites.push(await startTlsBackend({ name, host: mesh.sites[name], port: mesh.egress.tlsPort, cert: leaf.cert, key: leaf.key }));
        sites.push(await startHttpBackend({ name, host: mesh.sites[name], port: mesh.egress.httpPort }));
      }
      procs.push(await driver.start(mesh.out, 'frontend'));
      procs.push(await driver.start(mesh.out, 'other'));
      procs.push(await driver.start(mesh.out, 'egress-gateway'));
    });

    afterAll(async () => {
      for (const p of procs) await p.stop();
      for (const s of sites) await s.close();
      await mesh?.cleanup();
    });

    /** HTTPS to `name` through a TLS egress port: SNI and certificate check are the site's. */
    const viaTls = (name: string, address: string, port: number) =>
      httpGet(`https://${name}:${port}/tls`, { lookupHost: address, ca: ca.cert, timeoutMs: 5_000 }).then(
        (r) => ({ ok: true as const, status: r.status, body: r.body }),
        (e: Error) => ({ ok: false as const, error: e.message }),
      );
    /** Plain HTTP with `Host: name` to an HTTP egress port. */
    const viaHttp = (name: string, address: string, port: number) =>
      httpGet(`http://${address}:${port}/plain`, { headers: { host: name }, timeoutMs: 5_000 }).then(
        (r) => ({ ok: r.status === 200, status: r.status, body: r.body }),
        (e: Error) => ({ ok: false, status: 0, body: e.message }),
      );
    const front = () => mesh.services.frontend;

    it('TLS: an allowed exact name passes through with the site certificate untouched', async () => {
      const r = await viaTls('api.allowed.test', front().addresses[0], front().egressTlsPort);
      expect(r).toMatchObject({ ok: true, status: 200, body: 'api.allowed.test' });
    });

    it('TLS: a subdomain (two levels deep) of an allowed wildcard passes through', async () => {
      const r = await viaTls('a.b.wild.test', front().addresses[0], front().egressTlsPort);
      expect(r).toMatchObject({ ok: true, status: 200, body: 'a.b.wild.test' });
    });

    it('TLS: the apex of a wildcard, an unlisted name and another service’s name are refused', async () => {
      for (const name of ['wild.test', 'denied.test', 'other.test']) {
        const r = await viaTls(name, front().addresses[0], front().egressTlsPort);
        expect(r.ok, `${name} should be refused`).toBe(false);
      }
    });

    it('TLS: another service’s own list works for that service only', async () => {
      const o = mesh.services.other;
      expect(await viaTls('other.test', o.addresses[0], o.egressTlsPort)).toMatchObject({ ok: true, body: 'other.test' });
      expect((await viaTls('api.allowed.test', o.addresses[0], o.egressTlsPort)).ok).toBe(false);
    });

    it('HTTP by Host: allowed exact and wildcard subdomain pass, the rest is refused', async () => {
      const f = front();
      expect(await viaHttp('api.allowed.test', f.addresses[0], f.egressHttpPort)).toMatchObject({ status: 200, body: 'api.allowed.test' });
      expect(await viaHttp('a.b.wild.test', f.addresses[0], f.egressHttpPort)).toMatchObject({ status: 200, body: 'a.b.wild.test' });
      for (const name of ['wild.test', 'denied.test', 'other.test']) {
        const r = await viaHttp(name, f.addresses[0], f.egressHttpPort);
        expect(r.ok, `${name} should be refused (got ${r.status} ${r.body})`).toBe(false);
      }
      // The refused sites never saw a plain-HTTP request.
      for (const s of sites) {
        if (['wild.test', 'denied.test', 'other.test'].includes(s.name)) expect(s.requests.filter((r) => r.path === '/plain')).toEqual([]);
      }
    });

    it('HTTP with the port in Host: the external httpPort passes, another port gets 403', async () => {
      const f = front();
      const port = mesh.egress.httpPort;
      for (const name of ['api.allowed.test', 'a.b.wild.test']) {
        expect(await viaHttp(`${name}:${port}`, f.addresses[0], f.egressHttpPort)).toMatchObject({ status: 200, body: name });
      }
      const site = sites.find((s) => s.name === 'api.allowed.test' && s.port === port)!;
      const before = site.requests.length;
      const wrong = await viaHttp(`api.allowed.test:${port + 1}`, f.addresses[0], f.egressHttpPort);
      expect(wrong.status, wrong.body).toBe(403);
      expect(site.requests.length).toBe(before);
    });

    it('HTTP absolute-form request target: the site receives origin-form', async () => {
      const f = front();
      const port = mesh.egress.httpPort;
      const site = sites.find((s) => s.name === 'api.allowed.test' && s.port === port)!;
      site.reset();
      const reply = await rawHttp(
        f.addresses[0],
        f.egressHttpPort,
        `GET http://api.allowed.test:${port}/absolute?q=1 HTTP/1.1\r\nHost: api.allowed.test:${port}\r\nConnection: close\r\n\r\n`,
      );
      expect(reply).toMatch(/^HTTP\/1\.1 200 /);
      expect(site.requests.map((r) => r.path)).toEqual(['/absolute?q=1']);
    });

    it.skipIf(!driver.supports('egress.connect'))('HTTP CONNECT: allowed names tunnel to the site, others are refused', async () => {
      const f = front();
      const ok = await httpViaConnectProxy(f.addresses[0], f.egressHttpPort, `api.allowed.test:${mesh.egress.tlsPort}`, { ca: ca.cert });
      expect(ok).toMatchObject({ connectStatus: 200, status: 200, body: 'api.allowed.test' });
      const wild = await httpViaConnectProxy(f.addresses[0], f.egressHttpPort, `a.b.wild.test:${mesh.egress.tlsPort}`, { ca: ca.cert });
      expect(wild).toMatchObject({ connectStatus: 200, status: 200, body: 'a.b.wild.test' });
      for (const name of ['wild.test', 'denied.test', 'other.test']) {
        const r = await httpViaConnectProxy(f.addresses[0], f.egressHttpPort, `${name}:${mesh.egress.tlsPort}`, { ca: ca.cert });
        expect(r.connectStatus, `${name} should be refused`).not.toBe(200);
      }
    });

    // Without viaGateway the gateway is a plain forward proxy for the union of every list.
    if (!via) it('egress gateway: the union of every list passes, the rest is refused', async () => {
      const g = mesh.egressGateway;
      for (const name of ['api.allowed.test', 'a.b.wild.test', 'other.test']) {
        expect(await viaTls(name, g.address, g.tlsPort)).toMatchObject({ ok: true, body: name });
        expect(await viaHttp(name, g.address, g.httpPort)).toMatchObject({ status: 200, body: name });
      }
      for (const name of ['wild.test', 'denied.test']) {
        expect((await viaTls(name, g.address, g.tlsPort)).ok).toBe(false);
        expect((await viaHttp(name, g.address, g.httpPort)).ok).toBe(false);
      }
    });

    // With viaGateway the gateway authorises each caller by its mesh identity against its own list.
    if (via) {
      const site = (name: string, kind: 'tls' | 'http') => sites.find((s) => s.name === name && ('servernames' in s) === (kind === 'tls'))!;
      const direct = async (name: string, as?: string) => {
        const id = as ? await mesh.pem.workload(as) : undefined;
        const g = mesh.egressGateway;
        return tlsThroughGateway({ host: g.address, port: g.tlsPort, name, siteCa: ca.cert, cert: id?.cert, key: id?.key });
      };
      const directHttp = async (name: string, as?: string) => {
        const id = as ? await mesh.pem.workload(as) : undefined;
        const g = mesh.egressGateway;
        return httpGet(`https://egress-gateway.it.svc.cluster.local:${g.httpPort}/plain`, {
          lookupHost: g.address,
          headers: { host: name },
          cert: id?.cert,
          key: id?.key,
          ca: await mesh.pem.bundle(),
          timeoutMs: 5_000,
        }).then(
          (r) => ({ ok: r.status === 200, status: r.status, body: r.body }),
          (e: Error) => ({ ok: false, status: 0, body: e.message }),
        );
      };

      it('egress gateway: a client without a mesh certificate is refused for every name, and no site is contacted', async () => {
        for (const s of sites) s.reset();
        for (const name of ['api.allowed.test', 'a.b.wild.test', 'other.test']) {
          const r = await direct(name);
          expect(r.ok, `${name} without a certificate: ${JSON.stringify(r)}`).toBe(false);
          expect((await directHttp(name)).ok, `${name} over HTTP without a certificate`).toBe(false);
        }
        for (const s of sites) expect(s.connections, `${s.name} was contacted`).toEqual([]);
      });

      it('egress gateway: a caller with its own mesh certificate reaches its own names, never another service’s', async () => {
        expect(await direct('api.allowed.test', 'frontend')).toMatchObject({ ok: true, status: 200, body: 'api.allowed.test' });
        expect(await direct('a.b.wild.test', 'frontend')).toMatchObject({ ok: true, body: 'a.b.wild.test' });
        expect(await directHttp('api.allowed.test', 'frontend')).toMatchObject({ status: 200, body: 'api.allowed.test' });
        expect(await direct('other.test', 'other')).toMatchObject({ ok: true, body: 'other.test' });
        site('other.test', 'tls').reset();
        site('other.test', 'http').reset();
        site('api.allowed.test', 'tls').reset();
        expect((await direct('other.test', 'frontend')).ok, 'frontend asking for other.test').toBe(false);
        expect((await directHttp('other.test', 'frontend')).status, 'frontend asking for other.test over HTTP').toBe(403);
        expect((await direct('api.allowed.test', 'other')).ok, 'other asking for api.allowed.test').toBe(false);
        expect((await direct('denied.test', 'frontend')).ok, 'denied.test').toBe(false);
        expect(site('other.test', 'tls').connections).toEqual([]);
        expect(site('other.test', 'http').connections).toEqual([]);
        expect(site('api.allowed.test', 'tls').connections).toEqual([]);
      });
    }

    // Only in the gateway variant: registered there alone, rather than skipped everywhere else.
    if (via) it('through the gateway: with the egress gateway stopped, allowed egress from a sidecar fails', async () => {
      const f = front();
      expect(await viaTls('api.allowed.test', f.addresses[0], f.egressTlsPort)).toMatchObject({ ok: true });
      const gateway = procs[2]; // started in beforeAll: frontend, other, egress-gateway
      await gateway.stop();
      expect((await viaTls('api.allowed.test', f.addresses[0], f.egressTlsPort)).ok).toBe(false);
      expect((await viaHttp('api.allowed.test', f.addresses[0], f.egressHttpPort)).ok).toBe(false);
    });
  });
}
