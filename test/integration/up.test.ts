/**
 * `meshc up` as a user runs it: a child process per proxy target, called through with real
 * traffic (mTLS allowed and refused, egress to an allowed and a refused domain resolved by the
 * built-in DNS, the ingress redirect and a route, round robin across replicas), then stopped with
 * SIGINT, after which no process it started and no file it wrote is left.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, eventually, httpGet, isListening, loopbackAddress, proxyOrSkip, startDns, startTlsBackend, tempDir, tlsProbe, type DnsServer, type TlsBackend } from '../harness/index.js';
import { upPaths } from '../../src/local/up.js';
import { processesUsing, startUp, type UpChild } from './up-child.js';

const bin = new URL('../../bin/meshc.js', import.meta.url).pathname;

const MESH = (egressTls: number) => `apiVersion: meshc.dev/v1
kind: Mesh
metadata: { name: uptest }
spec:
  trustDomain: up.test
  namespace: up
  services:
    web:
      port: 8080
      upstreams: [api, vault]
      egress: [api.allowed.test]
    api:
      port: 8080
      replicas: 2
      allowFrom: [web]
    vault:
      port: 8080
      allowFrom: [api]
  egress: { tlsPort: ${egressTls} }
  ingress:
    hosts:
      shop.up.test:
        routes:
          - { pathPrefix: /api, service: api }
          - { pathPrefix: /, service: web }
`;

for (const target of ['envoy', 'nginx', 'haproxy'] as const) {
  const found = proxyOrSkip(target);
  describe.skipIf(!found.path)(`meshc up --target ${target} --echo`, () => {
    let dir: Awaited<ReturnType<typeof tempDir>>;
    let dns: DnsServer;
    const sites: TlsBackend[] = [];
    let upc: UpChild;
    let ca = '';

    beforeAll(async () => {
      dir = await tempDir(`up-${target}`);
      // Stand-ins for two external domains, reached through the built-in DNS, which forwards
      // names the mesh does not own to this resolver (instead of the system's).
      const testCa = await createTestCa();
      const allowedAddr = loopbackAddress();
      const deniedAddr = loopbackAddress();
      const port = (await import('../harness/index.js')).freePort;
      const tlsPort = await port(allowedAddr);
      for (const [name, host] of [['api.allowed.test', allowedAddr], ['evil.denied.test', deniedAddr]] as const) {
        const leaf = await testCa.issue({ cn: name, sans: [name] });
        sites.push(await startTlsBackend({ name, host, port: tlsPort, cert: leaf.cert, key: leaf.key }));
      }
      dns = await startDns({ host: loopbackAddress(), records: { 'api.allowed.test': allowedAddr, 'evil.denied.test': deniedAddr } });
      await writeFile(path.join(dir.path, 'mesh.yaml'), MESH(tlsPort));
      upc = await startUp(['-f', path.join(dir.path, 'mesh.yaml'), '--target', target, '--echo', '--resolver', `${dns.host}:${dns.port}`]);
      ca = readFileSync(path.join(upc.dir, 'out', 'certs', 'ca-bundle.pem'), 'utf8');
    }, 120_000);

    afterAll(async () => {
      if (upc && upc.child.exitCode === null) await upc.interrupt();
      for (const s of sites) await s.close();
      await dns?.close();
      await dir?.cleanup();
    });

    it('prints a row per replica, each on its own loopback address, ports above 1024', () => {
      expect([...upc.rows.keys()].sort()).toEqual(['api-0', 'api-1', 'vault-0', 'web-0']);
      const addrs = [...upc.rows.values()].map((r) => r.address);
      expect(new Set(addrs).size).toBe(4);
      for (const r of upc.rows.values()) for (const p of [r.app, r.egressHttp, r.egressTls, ...Object.values(r.upstreams)]) expect(p).toBeGreaterThan(1024);
      expect(upc.ingress!.httpsPort).toBeGreaterThan(1024);
    });

    it('mTLS allowed: web reaches api through its sidecar, round robin across both replicas', async () => {
      const web = upc.rows.get('web-0')!;
      const seen = new Set<number>();
      for (let i = 0; i < 6; i++) {
        const r = await httpGet(`http://${web.address}:${web.upstreams.api}/rr${i}`);
        expect(r.status).toBe(200);
        const body = JSON.parse(r.body);
        expect(body.service).toBe('api');
        if (target === 'envoy') expect(body.caller).toBe('spiffe://up.test/ns/up/sa/web');
        seen.add(body.replica);
      }
      expect([...seen].sort()).toEqual([0, 1]);
    });

    it("mTLS refused: vault's sidecar refuses web, a valid mesh identity it does not allow, and serves api", async () => {
      const web = upc.rows.get('web-0')!;
      const vault = upc.rows.get('vault-0')!;
      const via = await httpGet(`http://${web.address}:${web.upstreams.vault}/secret`).then((x) => x, (e: Error) => ({ status: 0, body: e.message }));
      expect(via.status).not.toBe(200);
      expect(via.body).not.toContain('"service":"vault"');
      // The same listener, called directly: refused with web's certificate, served with api's.
      const profile = JSON.parse(readFileSync(path.join(upc.dir, 'mesh.yaml'), 'utf8'));
      const port = profile.spec.services.vault.sidecar.inboundPort;
      const pem = (name: string) => ({ cert: readFileSync(path.join(upc.dir, 'out', 'certs', `${name}.pem`), 'utf8'), key: readFileSync(path.join(upc.dir, 'out', 'secrets', `${name}.key`), 'utf8') });
      const url = `https://vault.up.svc.cluster.local:${port}/direct`;
      const refused = await httpGet(url, { lookupHost: vault.address, ca, ...pem('web') }).then((x) => x.status, () => 0);
      expect(refused).not.toBe(200);
      const served = await httpGet(url, { lookupHost: vault.address, ca, ...pem('api') });
      expect(served.status).toBe(200);
      expect(JSON.parse(served.body).service).toBe('vault');
    });

    it('egress: an allowed domain reaches its site through the built-in DNS; another domain is dropped', async () => {
      const web = upc.rows.get('web-0')!;
      const [allowed, denied] = sites;
      const ok = await httpGet(`https://api.allowed.test:${web.egressTls}/x`, { lookupHost: web.address, rejectUnauthorized: false });
      expect(ok.body).toBe('api.allowed.test');
      const before = denied.connections.length;
      const no = await tlsProbe({ host: web.address, port: web.egressTls, servername: 'evil.denied.test', send: 'GET / HTTP/1.1\r\nHost: evil.denied.test\r\n\r\n' });
      expect(no.response ?? '').not.toContain('200 OK');
      expect(denied.connections.length).toBe(before);
      expect(allowed.servernames).toContain('api.allowed.test');
      expect(dns.queries.map((q) => q.name)).toContain('api.allowed.test');
    });

    it('ingress: plain HTTP is redirected to HTTPS with the port; a route reaches its service over mTLS', async () => {
      const ing = upc.ingress!;
      const redirect = await httpGet(`http://shop.up.test:${ing.httpPort}/api/a?b=1`, { lookupHost: ing.address });
      expect(redirect.status).toBe(301);
      expect(redirect.headers.location).toBe(`https://shop.up.test:${ing.httpsPort}/api/a?b=1`);
      const routed = await httpGet(`https://shop.up.test:${ing.httpsPort}/api/items`, { lookupHost: ing.address, ca });
      expect(routed.status).toBe(200);
      expect(JSON.parse(routed.body).service).toBe('api');
      const root = await httpGet(`https://shop.up.test:${ing.httpsPort}/`, { lookupHost: ing.address, ca });
      expect(JSON.parse(root.body).service).toBe('web');
    });

    if (target === 'envoy') {
      it('a second up of the same mesh is refused while one runs', async () => {
        const second = spawn('node', [bin, 'up', '-f', path.join(dir.path, 'mesh.yaml')], { env: { ...process.env, NO_COLOR: '1' } });
        let err = '';
        second.stderr.on('data', (c: Buffer) => (err += c.toString()));
        const code = await new Promise((resolve) => second.once('exit', resolve));
        expect(code).toBe(2);
        expect(err).toContain('is already running (meshc up, pid');
      });
    }

    it('a proxy that exits is reported with its name and last lines; the others keep serving', async () => {
      const vault = processesUsing(upc.dir).find((pid) => /\/vault\.(yaml|conf|cfg)\b/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8')))!;
      expect(vault).toBeGreaterThan(0);
      process.kill(vault, 'SIGKILL');
      await eventually(async () => expect(upc.stdout()).toMatch(/\[vault-0\] killed by SIGKILL; its last lines:/), 10_000);
      const web = upc.rows.get('web-0')!;
      expect((await httpGet(`http://${web.address}:${web.upstreams.api}/still`)).status).toBe(200);
    });

    it('SIGINT stops every process it started and removes every file it wrote', async () => {
      const pids = processesUsing(upc.dir);
      expect(pids.length).toBeGreaterThanOrEqual(4); // 3 sidecars (vault's was killed above) and the ingress gateway
      const web = upc.rows.get('web-0')!;
      expect(isListening(web.address, web.app)).toBe(true);
      const code = await upc.interrupt();
      expect(code).toBe(0);
      expect(upc.stdout()).toContain('stopped;');
      expect(processesUsing(upc.dir)).toEqual([]);
      expect(existsSync(upc.dir)).toBe(false);
      expect(existsSync(upPaths(path.join(dir.path, 'mesh.yaml')).lock)).toBe(false);
      expect(isListening(web.address, web.app)).toBe(false);
      // The local profile was built elsewhere: nothing appeared beside mesh.yaml (no out/, no .meshc/).
      expect(readdirSync(dir.path)).toEqual(['mesh.yaml']);
    });
  });
}

describe.skipIf(!proxyOrSkip('envoy').path)('meshc up stopped by SIGTERM', () => {
  it('stops everything and removes its files, as with Ctrl-C', async () => {
    const dir = await tempDir('up-sigterm');
    try {
      const file = path.join(dir.path, 'mesh.yaml');
      await writeFile(file, 'apiVersion: meshc.dev/v1\nkind: Mesh\nmetadata: { name: term }\nspec:\n  trustDomain: term.test\n  namespace: term\n  services:\n    solo: { port: 8080 }\n');
      const upc = await startUp(['-f', file, '--echo', '--resolver', 'none']);
      expect(processesUsing(upc.dir).length).toBe(1);
      expect(await upc.interrupt('SIGTERM')).toBe(0);
      expect(processesUsing(upc.dir)).toEqual([]);
      expect(existsSync(upc.dir)).toBe(false);
      expect(existsSync(upPaths(file).lock)).toBe(false);
    } finally {
      await dir.cleanup();
    }
  });
});
