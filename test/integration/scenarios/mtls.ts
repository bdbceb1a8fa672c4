/**
 * Scenario 1: mutual TLS between services, enforced, with caller identity (allowFrom).
 *
 * frontend → catalog (http) and frontend → ledger (tcp) through frontend's sidecar; direct
 * connections to the callee's inbound listener without a certificate, with a certificate from
 * another CA (carrying frontend's own SPIFFE URI) or with the mesh certificate of a service that
 * is not allowed (intruder) are refused, and the application behind never sees them.
 */
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, httpGet, startHttpBackend, tlsProbe, type Backend, type Proc } from '../../harness/index.js';
import type { ProxyDriver } from '../drivers/driver.js';
import { buildTestMesh, type TestMesh } from '../mesh-builder.js';

/** A refusal: the request failed (handshake or reset) or was answered with a client error. */
async function refused(p: Promise<{ status: number }>): Promise<boolean> {
  try {
    const res = await p;
    return res.status === 400 || res.status === 403 || res.status === 495 || res.status === 496;
  } catch {
    return true;
  }
}

export function mtlsScenario(driver: ProxyDriver): void {
  describe.skipIf(!driver.available)(`${driver.name}: mTLS between services`, () => {
    let mesh: TestMesh;
    const procs: Proc[] = [];
    const backends: Record<string, Backend> = {};
    let bundle = '';

    beforeAll(async () => {
      mesh = await buildTestMesh({
        targets: [driver.name],
        services: {
          frontend: { upstreams: ['catalog', 'ledger'] },
          catalog: { allowFrom: ['frontend'] },
          ledger: { protocol: 'tcp', allowFrom: ['frontend'] },
          intruder: {},
        },
      });
      bundle = await mesh.pem.bundle();
      for (const name of ['frontend', 'catalog', 'ledger']) {
        const s = mesh.services[name];
        backends[name] = await startHttpBackend({ name, host: s.addresses[0], port: s.appPort });
      }
      for (const name of ['catalog', 'ledger', 'frontend']) procs.push(await driver.start(mesh.out, name));
    });

    afterAll(async () => {
      for (const p of procs) await p.stop();
      for (const b of Object.values(backends)) await b.close();
      await mesh?.cleanup();
    });

    const inbound = () => {
      const s = mesh.services.catalog;
      return { host: s.addresses[0], port: s.inboundPort };
    };
    const inboundUrl = () => `https://${inbound().host}:${inbound().port}/direct`;
    const catalogSni = 'catalog.it.svc.cluster.local';

    it('an allowed caller reaches the right backend through its own sidecar', async () => {
      const f = mesh.services.frontend;
      for (let i = 0; i < 3; i++) {
        const res = await httpGet(`http://${f.addresses[0]}:${f.localPorts.catalog}/items?i=${i}`);
        expect(res.status).toBe(200);
        expect(res.body).toBe('catalog');
      }
      expect(backends.catalog.requests.map((r) => r.path)).toEqual(['/items?i=0', '/items?i=1', '/items?i=2']);
    });

    it('refuses a caller without a client certificate', async () => {
      const before = backends.catalog.requests.length;
      expect(await refused(httpGet(inboundUrl(), { ca: bundle, servername: catalogSni }))).toBe(true);
      const probe = await tlsProbe({ ...inbound(), servername: catalogSni, ca: bundle, send: 'GET / HTTP/1.1\r\nHost: catalog\r\nConnection: close\r\n\r\n' });
      expect(probe.response ?? '').not.toContain('200 OK');
      expect(backends.catalog.requests.length).toBe(before);
    });

    it('refuses a certificate from another CA, even with an allowed identity in it', async () => {
      const before = backends.catalog.requests.length;
      const rogue = await createTestCa('rogue CA');
      const leaf = await rogue.issue({ cn: 'frontend', sans: ['spiffe://it.test/ns/it/sa/frontend', 'frontend', 'frontend.it.svc.cluster.local'] });
      expect(await refused(httpGet(inboundUrl(), { ca: bundle, servername: catalogSni, cert: leaf.cert, key: leaf.key }))).toBe(true);
      expect(backends.catalog.requests.length).toBe(before);
    });

    // A sidecar may accept any certificate at the handshake and refuse in its rules (HAProxy
    // does, to log why): a foreign CA's certificate copying a mesh workload's whole subject and
    // SPIFFE URI must still be refused, on http and tcp, before any byte reaches the application.
    it('refuses a foreign CA certificate with the exact subject and SPIFFE URI of an allowed caller (http and tcp): no connection reaches the application', async () => {
      const real = new X509Certificate((await mesh.pem.workload('frontend')).cert);
      const subject = '/' + real.subject.split('\n').join('/');
      expect(subject).toMatch(/CN=frontend/);
      const rogue = await createTestCa('rogue CA');
      const leaf = await rogue.issue({ cn: 'frontend', subject, sans: real.subjectAltName!.split(', ').map((s) => s.replace(/^(URI|DNS|IP Address):/, '')) });
      const forged = new X509Certificate(leaf.cert);
      expect(forged.subject).toBe(real.subject);
      expect(forged.subjectAltName).toBe(real.subjectAltName);
      const before = { catalog: backends.catalog.connections.length, catalogRequests: backends.catalog.requests.length, ledger: backends.ledger.connections.length };
      expect(await refused(httpGet(inboundUrl(), { ca: bundle, servername: catalogSni, cert: leaf.cert, key: leaf.key }))).toBe(true);
      const l = mesh.services.ledger;
      const tcp = { host: l.addresses[0], port: l.inboundPort, servername: 'ledger.it.svc.cluster.local', ca: bundle };
      expect(await refused(httpGet(`https://${tcp.host}:${tcp.port}/forged`, { ca: bundle, servername: tcp.servername, cert: leaf.cert, key: leaf.key }))).toBe(true);
      // Without a certificate too, on the tcp listener, sending bytes at once.
      const probe = await tlsProbe({ ...tcp, send: 'GET /nocert HTTP/1.1\r\nHost: ledger\r\nConnection: close\r\n\r\n' });
      expect(probe.response ?? '').not.toContain('ledger');
      expect(backends.catalog.requests.length).toBe(before.catalogRequests);
      expect(backends.catalog.connections.length).toBe(before.catalog);
      expect(backends.ledger.connections.length).toBe(before.ledger);
      // The refusals are about the certificate: the real one still gets through, on both.
      const frontend = await mesh.pem.workload('frontend');
      expect((await httpGet(inboundUrl(), { ca: bundle, servername: catalogSni, cert: frontend.cert, key: frontend.key })).status).toBe(200);
      expect((await httpGet(`https://${tcp.host}:${tcp.port}/real`, { ca: bundle, servername: tcp.servername, cert: frontend.cert, key: frontend.key })).body).toBe('ledger');
    });

    it('refuses a mesh identity that is not in allowFrom', async () => {
      const before = backends.catalog.requests.length;
      const intruder = await mesh.pem.workload('intruder');
      expect(await refused(httpGet(inboundUrl(), { ca: bundle, servername: catalogSni, cert: intruder.cert, key: intruder.key }))).toBe(true);
      expect(backends.catalog.requests.length).toBe(before);
    });

    it('lets the allowed identity in directly (the refusals above are about identity, not the client)', async () => {
      const frontend = await mesh.pem.workload('frontend');
      const res = await httpGet(inboundUrl(), { ca: bundle, servername: catalogSni, cert: frontend.cert, key: frontend.key });
      expect(res.status).toBe(200);
      expect(res.body).toBe('catalog');
    });

    it("the backend only receives connections from its own sidecar's address", () => {
      const addr = mesh.services.catalog.addresses[0];
      expect(backends.catalog.connections.length).toBeGreaterThan(0);
      expect(new Set(backends.catalog.connections.map((c) => c.remoteAddress))).toEqual(new Set([addr]));
    });

    it('a service without callers refuses even a valid mesh identity', async () => {
      const intruder = mesh.services.intruder;
      const frontend = await mesh.pem.workload('frontend');
      // intruder's sidecar is not running: start it for this check only.
      const proc = await driver.start(mesh.out, 'intruder');
      try {
        expect(
          await refused(
            httpGet(`https://${intruder.addresses[0]}:${intruder.inboundPort}/`, { ca: bundle, servername: 'intruder.it.svc.cluster.local', cert: frontend.cert, key: frontend.key }),
          ),
        ).toBe(true);
      } finally {
        await proc.stop();
      }
    });

    it('tcp: an allowed caller gets through its sidecar; other identities and no certificate are refused', async () => {
      const f = mesh.services.frontend;
      const l = mesh.services.ledger;
      // The tcp service's application happens to speak HTTP: the bytes pass through untouched.
      const res = await httpGet(`http://${f.addresses[0]}:${f.localPorts.ledger}/tcp`);
      expect(res.body).toBe('ledger');
      const before = backends.ledger.requests.length;
      const url = `https://${l.addresses[0]}:${l.inboundPort}/direct`;
      const opts = { ca: bundle, servername: 'ledger.it.svc.cluster.local' };
      const intruder = await mesh.pem.workload('intruder');
      expect(await refused(httpGet(url, { ...opts, cert: intruder.cert, key: intruder.key }))).toBe(true);
      expect(await refused(httpGet(url, opts))).toBe(true);
      expect(backends.ledger.requests.length).toBe(before);
      const frontend = await mesh.pem.workload('frontend');
      expect((await httpGet(url, { ...opts, cert: frontend.cert, key: frontend.key })).body).toBe('ledger');
    });

    it('the probe port answers the health path only', async () => {
      const c = mesh.services.catalog;
      const before = backends.catalog.requests.length;
      const health = await httpGet(`http://${c.addresses[0]}:${c.probePort}/healthz`);
      expect(health.status).toBe(200);
      const other = await httpGet(`http://${c.addresses[0]}:${c.probePort}/items`);
      expect(other.status).toBe(404);
      // /healthz reached the app; /items did not.
      expect(backends.catalog.requests.slice(before).map((r) => r.path)).toEqual(['/healthz']);
    });
  });
}
