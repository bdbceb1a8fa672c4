/** The harness's clients and backends against each other (Node only, no proxies). */
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHttpBackend, startTlsBackend, type Backend, type TlsBackend } from './backends.js';
import { http2Get, httpGet, httpViaConnectProxy, rawHttp, tlsProbe } from './clients.js';
import { freePort, loopbackAddress } from './net.js';
import { createTestCa, type TestCa, type TestCert } from './pki.js';

let ca: TestCa;
let otherCa: TestCa;
let siteCert: TestCert;
let clientCert: TestCert;
let plain: Backend;
let site: TlsBackend;
let mtls: TlsBackend;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  [ca, otherCa] = await Promise.all([createTestCa('harness CA'), createTestCa('other CA')]);
  [siteCert, clientCert] = await Promise.all([
    ca.issue({ cn: 'api.fake.test', sans: ['api.fake.test', '*.fake.test'] }),
    ca.issue({ cn: 'frontend', sans: ['frontend', 'spiffe://shop.example/ns/shop/sa/frontend'] }),
  ]);
  plain = await startHttpBackend({ name: 'plain', host: loopbackAddress(), healthPath: '/healthz' });
  site = await startTlsBackend({ name: 'site', host: loopbackAddress(), ...siteCert });
  mtls = await startTlsBackend({ name: 'mtls', host: loopbackAddress(), ...siteCert, ca: ca.cert, requestCert: true, rejectUnauthorized: true });
  closers.push(plain.close, site.close, mtls.close);
});
afterAll(async () => {
  for (const c of closers) await c();
});

describe('http backend and httpGet', () => {
  it('answers with its name, records the request, one connection per call', async () => {
    const before = plain.connections.length;
    const r1 = await httpGet(`http://${plain.host}:${plain.port}/a?b=1`, { headers: { 'x-user-id': 'u1' } });
    const r2 = await httpGet(`http://${plain.host}:${plain.port}/c`);
    expect(r1).toMatchObject({ status: 200, body: 'plain' });
    expect(r1.headers['x-backend']).toBe('plain');
    expect(r1.headers['content-type']).toBe('text/plain');
    expect(r2.body).toBe('plain');
    expect(plain.connections.length - before).toBe(2);
    const last = plain.requests.slice(-2);
    expect(last.map((r) => r.path)).toEqual(['/a?b=1', '/c']);
    expect(last[0].headers['x-user-id']).toBe('u1');
    expect(last[0].remoteAddress).toBe('127.0.0.1');
  });

  it('setStatus, setDelay with timeouts, and the health path', async () => {
    const url = `http://${plain.host}:${plain.port}/`;
    const count = plain.requests.length;
    plain.setStatus(503);
    expect((await httpGet(url)).status).toBe(503);
    expect((await httpGet(`${url}healthz`)).status).toBe(503);
    plain.setStatus(200);
    expect(await httpGet(`${url}healthz`)).toMatchObject({ status: 200, body: 'ok' });
    expect(plain.healthChecks).toBe(2);
    expect(plain.requests.length - count).toBe(1);
    plain.setDelay(400);
    await expect(httpGet(url, { timeoutMs: 100 })).rejects.toThrow(/timed out|idle/);
    plain.setDelay(0);
  });

  it('connects to lookupHost while keeping the URL host in the Host header', async () => {
    const res = await httpGet(`http://svc.fake.test:${plain.port}/x`, { lookupHost: plain.host });
    expect(res.body).toBe('plain');
    expect(plain.requests.at(-1)!.headers.host).toBe(`svc.fake.test:${plain.port}`);
  });

  it('h2c backend and http2Get', async () => {
    const h2 = await startHttpBackend({ name: 'h2', host: loopbackAddress(), protocol: 'h2c' });
    closers.push(h2.close);
    const res = await http2Get(`http://${h2.host}:${h2.port}/grpc.Svc/Call`, { headers: { 'x-user-id': 'u9' } });
    expect(res).toMatchObject({ status: 200, body: 'h2' });
    expect(res.headers['x-backend']).toBe('h2');
    expect(h2.requests[0]).toMatchObject({ method: 'GET', path: '/grpc.Svc/Call' });
    expect(h2.requests[0].headers['x-user-id']).toBe('u9');
    expect(h2.connections.length).toBe(1);
  });

  it('rawHttp sends bytes as they are', async () => {
    const text = await rawHttp(plain.host, plain.port, 'GET /raw HTTP/1.1\r\nHost: api.fake.test\r\nConnection: close\r\n\r\n');
    expect(text).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(text.endsWith('plain')).toBe(true);
    expect(plain.requests.at(-1)!.headers.host).toBe('api.fake.test');
    const host = loopbackAddress();
    await expect(rawHttp(host, await freePort(host), 'GET / HTTP/1.0\r\n\r\n', 500)).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('tls backend and clients', () => {
  it('serves HTTPS by SNI from the URL host, verified against the CA', async () => {
    const res = await httpGet(`https://api.fake.test:${site.port}/`, { ca: ca.cert, lookupHost: site.host });
    expect(res).toMatchObject({ status: 200, body: 'site' });
    expect(site.servernames.at(-1)).toBe('api.fake.test');
    expect(site.peerCertificates.at(-1)).toBeNull();
    await expect(httpGet(`https://api.fake.test:${site.port}/`, { ca: otherCa.cert, lookupHost: site.host })).rejects.toThrow();
  });

  it('tlsProbe reports authorization without throwing', async () => {
    const good = await tlsProbe({ host: site.host, port: site.port, servername: 'x.fake.test', ca: ca.cert });
    expect(good).toMatchObject({ connected: true, authorized: true });
    expect(good.peerCertificate?.subject.CN).toBe('api.fake.test');
    const wrongCa = await tlsProbe({ host: site.host, port: site.port, servername: 'api.fake.test', ca: otherCa.cert });
    expect(wrongCa).toMatchObject({ connected: true, authorized: false });
    expect(wrongCa.error).toBeTruthy();
    const host = loopbackAddress();
    const refused = await tlsProbe({ host, port: await freePort(host) });
    expect(refused.connected).toBe(false);
    expect(refused.error).toMatch(/ECONNREFUSED/);
  });

  it('tlsProbe sees a TLS 1.3 server refuse a client without a certificate', async () => {
    const without = await tlsProbe({ host: mtls.host, port: mtls.port, servername: 'api.fake.test', ca: ca.cert });
    expect(without.connected).toBe(false);
    expect(without.error).toMatch(/certificate|alert|SSL/i);
    const foreign = await otherCa.issue({ cn: 'intruder' });
    const wrong = await tlsProbe({ host: mtls.host, port: mtls.port, servername: 'api.fake.test', ca: ca.cert, ...foreign });
    expect(wrong.connected).toBe(false);
    const withCert = await tlsProbe({
      host: mtls.host,
      port: mtls.port,
      servername: 'api.fake.test',
      ca: ca.cert,
      ...clientCert,
      send: 'GET / HTTP/1.1\r\nHost: api.fake.test\r\nConnection: close\r\n\r\n',
    });
    expect(withCert).toMatchObject({ connected: true, authorized: true });
    expect(withCert.response).toMatch(/^HTTP\/1\.1 200[\s\S]*mtls$/);
    const peer = mtls.peerCertificates.at(-1) as { subject: { CN: string }; subjectaltname: string };
    expect(peer.subject.CN).toBe('frontend');
    expect(peer.subjectaltname).toContain('URI:spiffe://shop.example/ns/shop/sa/frontend');
  });

  it('httpViaConnectProxy tunnels through CONNECT and reports refusals', async () => {
    // A tiny CONNECT proxy that allows one authority.
    const allowed = `api.fake.test:${site.port}`;
    const proxy = http.createServer((_req, res) => res.writeHead(405).end());
    const tunnels = new Set<net.Socket>();
    proxy.on('connect', (req: http.IncomingMessage, client: net.Socket) => {
      tunnels.add(client);
      if (req.url !== allowed) {
        client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      const upstream = net.connect({ host: site.host, port: site.port }, () => {
        tunnels.add(upstream);
        client.write('HTTP/1.1 200 OK\r\n\r\n');
        upstream.pipe(client).pipe(upstream);
      });
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
    });
    const host = loopbackAddress();
    await new Promise<void>((r) => proxy.listen(0, host, r));
    const port = (proxy.address() as net.AddressInfo).port;
    try {
      const ok = await httpViaConnectProxy(host, port, allowed, { ca: ca.cert });
      expect(ok, JSON.stringify(ok)).toMatchObject({ connectStatus: 200, status: 200, body: "site" });
      expect(site.servernames.at(-1)).toBe('api.fake.test');
      const denied = await httpViaConnectProxy(host, port, `evil.test:443`, { ca: ca.cert });
      expect(denied.connectStatus).toBe(403);
    } finally {
      for (const t of tunnels) t.destroy();
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    }
  });
});
