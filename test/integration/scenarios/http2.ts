/**
 * HTTP/2 and gRPC with real traffic: an `http2` service (an h2c-only application) and a `grpc`
 * service (a @grpc/grpc-js server) called from another service through both sidecars, and through
 * the ingress gateway over TLS with ALPN h2.
 *
 * The hop between the sidecars is proven separately: `h2probe` is a mesh service whose sidecar is
 * never started; a Node HTTP/2 server holding its mesh certificate listens on its inbound port
 * instead and records which protocol the caller's sidecar negotiated and spoke.
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { http2Get, httpGet, startHttpBackend, type Backend, type Proc } from '../../harness/index.js';
import { ECHO_PATH_PREFIX, echoClient, startGrpcBackend, type GrpcBackend } from '../../harness/grpc.js';
import type { ProxyDriver } from '../drivers/driver.js';
import { buildTestMesh, type TestMesh } from '../mesh-builder.js';

const HOST = 'h2.test';

interface SeenByProbe {
  alpn: string | false;
  httpVersion: string;
  clientCn: string;
  path: string;
}

export function http2Scenario(driver: ProxyDriver): void {
  describe.skipIf(!driver.available)(`${driver.name}: HTTP/2 and gRPC`, () => {
    let mesh: TestMesh;
    let bundle = '';
    const procs: Proc[] = [];
    let h2app: Backend | undefined;
    let rpc: GrpcBackend | undefined;
    let probe: http2.Http2SecureServer | undefined;
    const seen: SeenByProbe[] = [];

    beforeAll(async () => {
      mesh = await buildTestMesh({
        targets: [driver.name],
        services: {
          web: { upstreams: ['h2', 'rpc', 'h2probe'] },
          h2: { protocol: 'http2', allowFrom: ['web'] },
          rpc: { protocol: 'grpc', allowFrom: ['web'] },
          h2probe: { protocol: 'http2', allowFrom: ['web'] },
        },
        ingress: { hosts: { [HOST]: { routes: [{ pathPrefix: ECHO_PATH_PREFIX, service: 'rpc' }, { pathPrefix: '/', service: 'h2' }] } } },
      });
      bundle = await mesh.pem.bundle();
      const s = mesh.services;
      h2app = await startHttpBackend({ name: 'h2', host: s.h2.addresses[0], port: s.h2.appPort, protocol: 'h2c' });
      rpc = await startGrpcBackend({ name: 'rpc', host: s.rpc.addresses[0], port: s.rpc.appPort });
      const own = await mesh.pem.workload('h2probe');
      probe = http2.createSecureServer({ cert: own.cert, key: own.key, ca: bundle, requestCert: true, rejectUnauthorized: true, allowHTTP1: true, ALPNProtocols: ['h2', 'http/1.1'] });
      probe.on('request', (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
        const socket = req.socket as unknown as TLSSocket;
        seen.push({ alpn: socket.alpnProtocol ?? false, httpVersion: req.httpVersion, clientCn: String(socket.getPeerCertificate().subject?.CN ?? ''), path: req.url });
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('h2probe');
      });
      await new Promise<void>((resolve, reject) => {
        probe!.once('error', reject);
        probe!.listen(s.h2probe.inboundPort, s.h2probe.addresses[0], () => resolve());
      });
      expect((probe.address() as AddressInfo).port).toBe(s.h2probe.inboundPort);
      for (const name of ['web', 'h2', 'rpc']) procs.push(await driver.start(mesh.out, name));
      procs.push(await driver.start(mesh.out, 'ingress-gateway'));
    });

    afterAll(async () => {
      for (const p of procs) await p.stop();
      await h2app?.close();
      await rpc?.close();
      if (probe) await new Promise<void>((resolve) => probe!.close(() => resolve()));
      await mesh?.cleanup();
    });

    const web = () => mesh.services.web;

    it('h2c from the application reaches an h2c-only service through both sidecars (GET and POST)', async () => {
      const url = `http://${web().addresses[0]}:${web().localPorts.h2}/h2/get?x=1`;
      const got = await http2Get(url);
      expect(got).toMatchObject({ status: 200, body: 'h2' });
      const posted = await http2Get(`http://${web().addresses[0]}:${web().localPorts.h2}/h2/post`, { method: 'POST' });
      expect(posted).toMatchObject({ status: 200, body: 'h2' });
      expect(h2app!.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /h2/get?x=1', 'POST /h2/post']);
    });

    it('between the sidecars: HTTP/2 over mTLS (ALPN h2), with the caller’s mesh certificate', async () => {
      seen.length = 0;
      const got = await http2Get(`http://${web().addresses[0]}:${web().localPorts.h2probe}/hop`);
      expect(got).toMatchObject({ status: 200, body: 'h2probe' });
      expect(seen).toEqual([{ alpn: 'h2', httpVersion: '2.0', clientCn: 'web', path: '/hop' }]);
    });

    it('gRPC unary call through both sidecars', async () => {
      const client = echoClient(web().addresses[0], web().localPorts.rpc);
      try {
        expect(await client.unary({ text: 'ping' })).toEqual({ from: 'rpc', text: 'ping', index: 0 });
      } finally {
        client.close();
      }
    });

    it('gRPC server streaming and bidirectional streaming through both sidecars', async () => {
      const client = echoClient(web().addresses[0], web().localPorts.rpc);
      try {
        const streamed = await client.stream({ text: 'tick', count: 5 });
        expect(streamed.map((r) => r.index)).toEqual([0, 1, 2, 3, 4]);
        expect(streamed.every((r) => r.from === 'rpc' && r.text === 'tick')).toBe(true);
        const chat = await client.chat(['a', 'b', 'c']);
        expect(chat.map((r) => `${r.index}:${r.text}`)).toEqual(['0:a', '1:b', '2:c']);
      } finally {
        client.close();
      }
      expect(rpc!.calls.map((c) => c.method)).toEqual(expect.arrayContaining(['Unary', 'Stream', 'Chat']));
    });

    it('ingress gateway: HTTP/2 over TLS (ALPN h2) routed to the http2 service', async () => {
      const got = await http2Get(`https://${HOST}:${mesh.ingress.httpsPort}/h2/ingress`, { lookupHost: mesh.ingress.address, ca: bundle });
      expect(got).toMatchObject({ status: 200, body: 'h2' });
      expect(h2app!.requests.at(-1)?.path).toBe('/h2/ingress');
      // HTTP/1.1 callers are served too.
      expect(await httpGet(`https://${HOST}:${mesh.ingress.httpsPort}/h2/one`, { lookupHost: mesh.ingress.address, ca: bundle })).toMatchObject({ status: 200, body: 'h2' });
    });

    it('ingress gateway: gRPC unary and server streaming over TLS', async () => {
      const client = echoClient(mesh.ingress.address, mesh.ingress.httpsPort, { tls: { ca: bundle, servername: HOST } });
      try {
        expect(await client.unary({ text: 'edge' })).toEqual({ from: 'rpc', text: 'edge', index: 0 });
        expect((await client.stream({ text: 'edge', count: 3 })).map((r) => r.index)).toEqual([0, 1, 2]);
      } finally {
        client.close();
      }
    });
  });
}
