/**
 * Scenario: access logs and trace context (`spec.telemetry`).
 *
 * The internet calls frontend through the ingress gateway; frontend's application calls catalog
 * through its sidecar, passing on `traceparent` and `x-request-id` as an instrumented application
 * does. Then refusals: an identity catalog does not allow, no client certificate, an unknown SNI
 * at the ingress, a domain outside frontend's egress list (HTTP and TLS), and a tcp caller that is
 * not allowed. Every line every proxy wrote must be JSON in the schema of
 * schemas/access-log.schema.json; the refusals must be there with their reason and, where the
 * caller showed a certificate, its identity. With `tracing`, a local OTLP receiver must get a span
 * from every Envoy hop of the trace.
 */
import { X509Certificate } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestCa,
  eventually,
  httpGet,
  loopbackAddress,
  startHttpBackend,
  startOtlpReceiver,
  startTlsBackend,
  tlsProbe,
  type Backend,
  type OtlpReceiver,
  type Proc,
} from '../../harness/index.js';
import { accessLogLines, known, traceId, type AccessLogLine } from '../access-log.js';
import type { ProxyDriver } from '../drivers/driver.js';
import { buildTestMesh, type TestMesh } from '../mesh-builder.js';

const SPIFFE = (svc: string) => `spiffe://it.test/ns/it/sa/${svc}`;
const PROPAGATED = ['traceparent', 'x-request-id'];

/** frontend's application: answers by calling catalog through its sidecar, passing the trace headers on. */
async function startChainApp(host: string, port: number, catalog: string): Promise<{ seen: http.IncomingHttpHeaders[]; close(): Promise<void> }> {
  const seen: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers);
    const headers: Record<string, string> = {};
    for (const h of PROPAGATED) if (typeof req.headers[h] === 'string') headers[h] = req.headers[h] as string;
    http
      .get(`${catalog}${req.url}`, { headers }, (up) => {
        let body = '';
        up.on('data', (c) => (body += c));
        up.on('end', () => res.writeHead(up.statusCode ?? 502).end(`frontend>${body}`));
      })
      .on('error', (err) => res.writeHead(502).end(String(err)));
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return {
    seen,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export function telemetryScenario(driver: ProxyDriver, opts: { tracing?: 'http' | 'grpc' } = {}): void {
  const title = `${driver.name}: access logs and trace context${opts.tracing ? `, spans over OTLP/${opts.tracing}` : ''}`;
  describe.skipIf(!driver.available)(title, () => {
    let mesh: TestMesh;
    let bundle = '';
    let otlp: OtlpReceiver | undefined;
    let chain: Awaited<ReturnType<typeof startChainApp>>;
    const procs: Record<string, Proc> = {};
    const backends: Backend[] = [];
    let catalog: Backend;

    beforeAll(async () => {
      if (opts.tracing) otlp = await startOtlpReceiver({ host: loopbackAddress(), protocol: opts.tracing });
      mesh = await buildTestMesh({
        targets: [driver.name],
        services: {
          frontend: { upstreams: ['catalog', 'ledger'], egress: ['allowed.test'] },
          catalog: { allowFrom: ['frontend'] },
          ledger: { protocol: 'tcp', allowFrom: ['frontend'] },
          intruder: {},
        },
        sites: ['allowed.test', 'denied.test'],
        ingress: { hosts: { 'shop.test': { routes: [{ pathPrefix: '/', service: 'frontend' }] } } },
        telemetry: otlp ? { tracing: { endpoint: `${otlp.host}:${otlp.port}`, protocol: opts.tracing, samplingPercent: 100 } } : undefined,
      });
      bundle = await mesh.pem.bundle();
      const f = mesh.services.frontend;
      chain = await startChainApp(f.addresses[0], f.appPort, `http://${f.addresses[0]}:${f.localPorts.catalog}`);
      catalog = await startHttpBackend({ name: 'catalog', host: mesh.services.catalog.addresses[0], port: mesh.services.catalog.appPort });
      backends.push(catalog, await startHttpBackend({ name: 'ledger', host: mesh.services.ledger.addresses[0], port: mesh.services.ledger.appPort }));
      const ca = await createTestCa('fake internet CA');
      for (const name of ['allowed.test', 'denied.test']) {
        const leaf = await ca.issue({ cn: name, sans: [name] });
        backends.push(await startTlsBackend({ name, host: mesh.sites[name], port: mesh.egress.tlsPort, cert: leaf.cert, key: leaf.key }));
        backends.push(await startHttpBackend({ name, host: mesh.sites[name], port: mesh.egress.httpPort }));
      }
      for (const name of ['catalog', 'ledger', 'frontend', 'ingress-gateway']) procs[name] = await driver.start(mesh.out, name);
    });

    afterAll(async () => {
      for (const p of Object.values(procs)) await p.stop();
      await chain?.close();
      for (const b of backends) await b.close();
      await otlp?.close();
      await mesh?.cleanup();
    });

    const logOf = (workload: string) => accessLogLines(procs[workload].output());
    /** Waits until `workload`'s proxy has logged a line `pred` accepts (Envoy flushes its log about once a second). */
    const logged = async (workload: string, pred: (l: AccessLogLine) => boolean): Promise<AccessLogLine> => {
      let found: AccessLogLine | undefined;
      await eventually(async () => {
        found = logOf(workload).lines.find(pred);
        if (!found) throw new Error(`no such line in ${workload}'s log:\n${procs[workload].output().slice(-3000)}`);
      }, 15_000);
      return found!;
    };
    const ingress = (path: string, headers?: Record<string, string>) =>
      httpGet(`https://shop.test:${mesh.ingress.httpsPort}${path}`, { lookupHost: mesh.ingress.address, ca: bundle, headers });
    const catalogInbound = () => `https://${mesh.services.catalog.addresses[0]}:${mesh.services.catalog.inboundPort}`;

    it('the ingress starts a trace; one trace id and request id reach every hop, in the backends and in the logs', async () => {
      const res = await ingress('/chain?n=1');
      expect(res.status).toBe(200);
      expect(res.body).toBe('frontend>catalog');
      const atFrontend = chain.seen.at(-1)!;
      const atCatalog = catalog.requests.at(-1)!.headers;
      const trace = traceId(atFrontend.traceparent as string);
      const requestId = atFrontend['x-request-id'] as string;
      expect(trace, 'the ingress gateway started a W3C trace context').toMatch(/^[0-9a-f]{32}$/);
      expect(requestId, 'the ingress gateway generated a request id').toBeTruthy();
      expect(traceId(atCatalog.traceparent as string)).toBe(trace);
      expect(atCatalog['x-request-id']).toBe(requestId);

      const hops: [string, AccessLogLine['direction']][] = [
        ['ingress-gateway', 'ingress'],
        ['frontend', 'inbound'],
        ['frontend', 'outbound'],
        ['catalog', 'inbound'],
      ];
      for (const [workload, direction] of hops) {
        const line = await logged(workload, (l) => l.direction === direction && l.requestId === requestId);
        expect(traceId(line.traceparent), `${workload} ${direction}`).toBe(trace);
        expect(line).toMatchObject({ proxy: driver.name, workload, protocol: 'http', status: 200, outcome: 'ok', method: 'GET', path: '/chain?n=1' });
        expect(known(line.upstream), `${workload} ${direction} names its upstream`).toBeTruthy();
        expect(known(line.reason)).toBeUndefined();
      }
      const atIngress = await logged('ingress-gateway', (l) => l.requestId === requestId);
      expect(atIngress).toMatchObject({ destination: 'frontend', domain: expect.stringContaining('shop.test') });
      const inbound = await logged('catalog', (l) => l.requestId === requestId);
      expect(inbound).toMatchObject({ source: SPIFFE('frontend'), destination: 'catalog' });
      const outbound = await logged('frontend', (l) => l.direction === 'outbound' && l.requestId === requestId);
      expect(outbound.destination).toBe('catalog');
    });

    it('a request that comes with a trace context and a request id keeps them', async () => {
      const parent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      const res = await ingress('/chain?n=2', { traceparent: parent, 'x-request-id': 'client-chosen-id' });
      expect(res.status).toBe(200);
      expect(traceId(chain.seen.at(-1)!.traceparent as string)).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
      expect(traceId(catalog.requests.at(-1)!.headers.traceparent as string)).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
      expect(catalog.requests.at(-1)!.headers['x-request-id']).toBe('client-chosen-id');
      await logged('catalog', (l) => l.requestId === 'client-chosen-id' && traceId(l.traceparent) === '4bf92f3577b34da6a3ce929d0e0e4736');
    });

    it('logs an identity that is not in allowFrom as refused, with the caller identity', async () => {
      const intruder = await mesh.pem.workload('intruder');
      const res = await httpGet(`${catalogInbound()}/steal`, { ca: bundle, servername: 'catalog.it.svc.cluster.local', cert: intruder.cert, key: intruder.key });
      expect(res.status).toBe(403);
      const line = await logged('catalog', (l) => l.path === '/steal');
      expect(line).toMatchObject({ direction: 'inbound', status: 403, outcome: 'refused', reason: 'not-in-allow-from', source: SPIFFE('intruder') });
    });

    it('logs a caller without a client certificate as refused', async () => {
      const before = logOf('catalog').lines.filter((l) => l.reason === 'no-client-certificate').length;
      const probe = await tlsProbe({
        host: mesh.services.catalog.addresses[0],
        port: mesh.services.catalog.inboundPort,
        servername: 'catalog.it.svc.cluster.local',
        ca: bundle,
        send: 'GET /anonymous HTTP/1.1\r\nHost: catalog\r\nConnection: close\r\n\r\n',
      });
      expect(probe.response ?? '').not.toContain('200 OK');
      await eventually(async () => expect(logOf('catalog').lines.filter((l) => l.reason === 'no-client-certificate').length).toBeGreaterThan(before), 15_000);
      const line = logOf('catalog').lines.filter((l) => l.reason === 'no-client-certificate').at(-1)!;
      expect(line).toMatchObject({ direction: 'inbound', outcome: 'refused' });
      expect(known(line.source)).toBeUndefined();
    });

    it('logs a certificate the mesh CA did not issue as refused (untrusted-certificate), naming no identity, even when it copies a caller\'s subject and URI', async () => {
      const real = new X509Certificate((await mesh.pem.workload('frontend')).cert);
      const rogue = await createTestCa('rogue CA');
      const forged = await rogue.issue({ cn: 'frontend', subject: '/' + real.subject.split('\n').join('/'), sans: [SPIFFE('frontend')] });
      const before = logOf('catalog').lines.filter((l) => l.reason === 'untrusted-certificate').length;
      const res = await httpGet(`${catalogInbound()}/forged`, { ca: bundle, servername: 'catalog.it.svc.cluster.local', cert: forged.cert, key: forged.key }).catch((err: Error) => ({ status: 0, error: err.message }));
      expect(res.status).not.toBe(200);
      await eventually(async () => expect(logOf('catalog').lines.filter((l) => l.reason === 'untrusted-certificate').length).toBeGreaterThan(before), 15_000);
      const line = logOf('catalog').lines.filter((l) => l.reason === 'untrusted-certificate').at(-1)!;
      expect(line).toMatchObject({ direction: 'inbound', outcome: 'refused' });
      expect(known(line.source)).toBeUndefined();
    });

    it('logs a tcp caller that is not allowed as refused, with its identity where the proxy reads it', async () => {
      const intruder = await mesh.pem.workload('intruder');
      const l = mesh.services.ledger;
      await tlsProbe({ host: l.addresses[0], port: l.inboundPort, servername: 'ledger.it.svc.cluster.local', ca: bundle, cert: intruder.cert, key: intruder.key, send: 'hello\r\n' });
      const line = await logged('ledger', (x) => x.outcome === 'refused');
      expect(line, JSON.stringify(line)).toMatchObject({ direction: 'inbound', protocol: 'tcp', status: 0, reason: 'not-in-allow-from' });
      // Through frontend's sidecar, the allowed caller gets a connection line with its identity.
      const ok = await httpGet(`http://${mesh.services.frontend.addresses[0]}:${mesh.services.frontend.localPorts.ledger}/tcp`);
      expect(ok.body).toBe('ledger');
      const allowed = await logged('ledger', (x) => x.outcome === 'ok' && x.protocol === 'tcp');
      expect(allowed).toMatchObject({ source: SPIFFE('frontend'), destination: 'ledger' });
      expect(allowed.bytesReceived).toBeGreaterThan(0);
      expect(allowed.bytesSent).toBeGreaterThan(0);
    });

    it.skipIf(!driver.supports('log.handshake-refusals'))('logs an unknown SNI at the ingress gateway as refused', async () => {
      const probe = await tlsProbe({ host: mesh.ingress.address, port: mesh.ingress.httpsPort, servername: 'unknown.test', ca: bundle });
      expect(probe.connected).toBe(false);
      const line = await logged('ingress-gateway', (l) => l.reason === 'unknown-sni');
      expect(line).toMatchObject({ direction: 'ingress', outcome: 'refused', status: 0 });
      expect(line.domain).toBe('unknown.test');
    });

    it('logs egress to a domain outside the allow-list as refused (HTTP by Host, TLS by SNI), and allowed egress as ok', async () => {
      const f = mesh.services.frontend;
      const denied = await httpGet(`http://${f.addresses[0]}:${f.egressHttpPort}/x`, { headers: { host: 'denied.test' } });
      expect(denied.status).toBe(403);
      const httpLine = await logged('frontend', (l) => l.direction === 'egress' && l.protocol === 'http' && l.outcome === 'refused');
      expect(httpLine).toMatchObject({ reason: 'domain-not-allowed', status: 403 });
      expect(httpLine.domain).toContain('denied.test');

      const tls = await tlsProbe({ host: f.addresses[0], port: f.egressTlsPort, servername: 'denied.test' });
      expect(tls.connected).toBe(false);
      const tlsLine = await logged('frontend', (l) => l.direction === 'egress' && l.protocol === 'tls' && l.outcome === 'refused');
      expect(tlsLine).toMatchObject({ reason: 'domain-not-allowed', domain: 'denied.test' });

      const allowed = await httpGet(`http://${f.addresses[0]}:${f.egressHttpPort}/ok`, { headers: { host: 'allowed.test' } });
      expect(allowed.body).toBe('allowed.test');
      await logged('frontend', (l) => l.direction === 'egress' && l.path === '/ok' && l.outcome === 'ok');
    });

    it('every line every proxy wrote is JSON in the documented schema', () => {
      let total = 0;
      for (const [workload, proc] of Object.entries(procs)) {
        const { lines, invalid } = accessLogLines(proc.output());
        expect(invalid, `${workload}: lines outside the schema`).toEqual([]);
        for (const l of lines) expect(l).toMatchObject({ proxy: driver.name, workload });
        total += lines.length;
      }
      expect(total).toBeGreaterThanOrEqual(12);
    });

    // Only the variants that configure tracing have spans to check (not a capability gap, so not a skip).
    if (opts.tracing !== undefined) {
      it('the OTLP receiver gets a span from every Envoy hop of the trace', async () => {
        const res = await ingress('/chain?n=3');
        expect(res.status).toBe(200);
        const trace = traceId(catalog.requests.at(-1)!.headers.traceparent as string)!;
        const expected = ['catalog', 'frontend', 'ingress-gateway'];
        await eventually(async () => {
          const services = new Set(otlp!.spans.filter((s) => s.traceId === trace).map((s) => s.service));
          expect([...services].sort(), `${otlp!.requests} export requests (other calls: ${otlp!.unknown.join(' ') || 'none'}), ${otlp!.spans.length} spans`).toEqual(expected);
        }, 20_000);
        const spans = otlp!.spans.filter((s) => s.traceId === trace);
        // frontend's sidecar carries two hops: the request in from the ingress, the call out to catalog.
        expect(spans.filter((s) => s.service === 'frontend').length).toBe(2);
        // The spans form one chain: every span but the first names another span of the trace as parent.
        const ids = new Set(spans.map((s) => s.spanId));
        expect(spans.filter((s) => !ids.has(s.parentSpanId)).length).toBe(1);
      });
    }
  });
}

/**
 * The egress gateway with `egress.viaGateway`: sidecars reach it over mTLS as themselves, so its
 * lines name the calling service, and a caller refused a name it is not allowed is logged so.
 */
export function egressGatewayLogScenario(driver: ProxyDriver): void {
  describe.skipIf(!driver.available || !driver.supports('egress.via-gateway'))(`${driver.name}: egress gateway access log`, () => {
    let mesh: TestMesh;
    const procs: Record<string, Proc> = {};
    const backends: Backend[] = [];

    beforeAll(async () => {
      mesh = await buildTestMesh({
        targets: [driver.name],
        services: { frontend: { egress: ['allowed.test'] }, other: { egress: ['other.test'] } },
        egressViaGateway: true,
        sites: ['allowed.test', 'other.test'],
      });
      const ca = await createTestCa('fake internet CA');
      for (const name of ['allowed.test', 'other.test']) {
        const leaf = await ca.issue({ cn: name, sans: [name] });
        backends.push(await startTlsBackend({ name, host: mesh.sites[name], port: mesh.egress.tlsPort, cert: leaf.cert, key: leaf.key }));
      }
      for (const name of ['frontend', 'egress-gateway']) procs[name] = await driver.start(mesh.out, name);
    });

    afterAll(async () => {
      for (const p of Object.values(procs)) await p.stop();
      for (const b of backends) await b.close();
      await mesh?.cleanup();
    });

    const gatewayLine = async (pred: (l: AccessLogLine) => boolean) => {
      let found: AccessLogLine | undefined;
      await eventually(async () => {
        const { lines, invalid } = accessLogLines(procs['egress-gateway'].output());
        expect(invalid).toEqual([]);
        found = lines.find(pred);
        if (!found) throw new Error(`no such line:\n${procs['egress-gateway'].output().slice(-3000)}`);
      }, 15_000);
      return found!;
    };

    it('names the calling service on an allowed connection, and logs a name refused to that identity', async () => {
      const f = mesh.services.frontend;
      const ok = await tlsProbe({ host: f.addresses[0], port: f.egressTlsPort, servername: 'allowed.test', send: 'GET / HTTP/1.1\r\nHost: allowed.test\r\nConnection: close\r\n\r\n' });
      expect(ok.response ?? '').toContain('allowed.test');
      const allowed = await gatewayLine((l) => l.domain === 'allowed.test' && l.outcome === 'ok');
      expect(allowed).toMatchObject({ workload: 'egress-gateway', direction: 'egress', protocol: 'tls', source: SPIFFE('frontend') });

      // frontend's own certificate, straight to the gateway, asking for a name only `other` may reach.
      const frontend = await mesh.pem.workload('frontend');
      const refused = await tlsProbe({ host: mesh.egressGateway.address, port: mesh.egressGateway.tlsPort, servername: 'other.test', ca: await mesh.pem.bundle(), cert: frontend.cert, key: frontend.key, send: 'x' });
      expect(refused.response ?? '').not.toContain('other.test');
      const line = await gatewayLine((l) => l.domain === 'other.test' && l.outcome === 'refused');
      expect(line).toMatchObject({ reason: 'domain-not-allowed', source: SPIFFE('frontend') });
    });
  });
}
