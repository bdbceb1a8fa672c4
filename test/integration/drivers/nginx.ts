/**
 * The nginx driver: `nginx/<workload>.conf` run as `nginx -p <prefix>/ -c <config> -e stderr`.
 *
 * Each process gets its own temporary prefix holding `run/` and `tmp/` (pid file and temporary
 * files: what the generated config puts under the prefix), so several sidecars run side by side.
 * Certificate paths in the config are relative to the config's own directory (`../certs/...`);
 * a rewritten replica copy lives elsewhere, so its copy names them by absolute path instead.
 */
import path from 'node:path';
import { execa } from 'execa';
import { proxyOrSkip, requireBinary, type Proc } from '../../harness/index.js';
import { startWorkload } from '../../../src/local/workloads.js';
import { verifyNginxFile } from '../../../src/targets/nginx/verify.js';
import { cellOf } from '../../../src/targets/features.js';
import { TARGETS } from '../../../src/targets/registry.js';
import { withScratch, type Feature, type ProxyDriver } from './driver.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet, startHttpBackend, startTlsBackend, tlsProbe, type Backend } from '../../harness/index.js';
import { buildTestMesh, type TestMesh } from '../mesh-builder.js';

const nginx = proxyOrSkip('nginx');

/**
 * Scenario features → rows of the capability matrix: a driver supports a feature when the
 * matrix says `yes`, so the scenarios skip exactly what the matrix (and the diagnostics) admit.
 * Shared with the HAProxy driver.
 */
const FEATURE_ROWS: Record<Feature, string> = {
  'egress.connect': 'egress-http-connect',
  'egress.via-gateway': 'egress-via-gateway',
  'endpoints.dns-static': 'dns-endpoints-static',
  'lb.maglev': 'lb-maglev',
  'lb.least_request': 'lb-least-request',
  'lb.ring_hash.header': 'lb-ring-hash-header',
  'lb.weights': 'endpoint-weights',
  outlier: 'outlier-5xx-without-retries',
  'ingress.forwarded-proto': 'ingress-trust-forwarded-proto',
  'mtls.403': 'identity-subject',
  'log.handshake-refusals': 'access-log-handshake-refusals',
};

export function supportsFrom(target: string): (feature: string) => boolean {
  return (feature) => {
    const row = FEATURE_ROWS[feature as Feature];
    if (!row) throw new Error(`${target} driver: unknown feature ${feature}`);
    return cellOf(TARGETS.find((t) => t.name === target)!, row).support === 'yes';
  };
}

export const nginxDriver: ProxyDriver = {
  name: 'nginx',
  available: Boolean(nginx.path),
  start: (outDir, workload, opts) =>
    // The scratch directory is nginx's runtime prefix (pid file, temp paths), outside out/.
    withScratch(`nginx-${workload}`, (scratch) => startWorkload('nginx', outDir, workload, { scratch, bin: requireBinary('nginx'), ...(opts?.rewrite ? { rewrite: opts.rewrite } : {}) })),
  startInstalled: (dir, workload) =>
    withScratch(`nginx-${workload}`, async (scratch) => {
      const proc = await startWorkload('nginx', dir, workload, { scratch, bin: requireBinary('nginx') });
      const conf = path.join(dir, 'nginx', `${workload}.conf`);
      // The README's step: the master re-reads the config and certificates, starts new workers and lets the old ones finish.
      return { ...proc, reload: async () => void (await execa(requireBinary('nginx'), ['-p', `${scratch}/`, '-c', conf, '-e', 'stderr', '-s', 'reload'])) };
    }),
  // What `meshc verify` runs: nginx -t, with names of static upstreams (resolved where nginx
  // runs, e.g. *.svc.cluster.local) replaced by 127.0.0.1 in a copy; the output names them.
  validate: (outDir, workload) => verifyNginxFile(outDir, `nginx/${workload}.conf`, nginx.path!),
  supports: supportsFrom('nginx'),
};

// ---------------------------------------------------------------------------------------------
// A scenario the text proxies need beyond the shared ones (they identify callers by subject, not
// by SPIFFE URI): exactly 403 for a valid mesh identity that is not allowed, the same check on
// tcp services (connection closed), and the caller refusing an upstream whose certificate names
// another service. Proxy-agnostic; it can move to scenarios/ as is.

export function subjectIdentityScenario(driver: ProxyDriver): void {
  describe.skipIf(!driver.available)(`${driver.name}: caller identity by certificate subject`, () => {
    let mesh: TestMesh;
    const procs: Proc[] = [];
    const backends: Record<string, Backend> = {};
    let bundle = '';

    beforeAll(async () => {
      mesh = await buildTestMesh({
        targets: [driver.name],
        services: {
          frontend: { upstreams: ['catalog', 'ledger', 'decoy'] },
          catalog: { allowFrom: ['frontend'] },
          ledger: { protocol: 'tcp', allowFrom: ['frontend'] },
          decoy: { allowFrom: ['frontend'] },
          intruder: {},
        },
      });
      bundle = await mesh.pem.bundle();
      for (const name of ['catalog', 'ledger']) {
        const s = mesh.services[name];
        backends[name] = await startHttpBackend({ name, host: s.addresses[0], port: s.appPort });
        procs.push(await driver.start(mesh.out, name));
      }
      // decoy's endpoint answers TLS with a valid mesh certificate, but catalog's, not decoy's.
      const d = mesh.services.decoy;
      const catalogPem = await mesh.pem.workload('catalog');
      backends.decoy = await startTlsBackend({ name: 'decoy', host: d.addresses[0], port: d.inboundPort, cert: catalogPem.cert, key: catalogPem.key });
      procs.push(await driver.start(mesh.out, 'frontend'));
    });

    afterAll(async () => {
      for (const p of procs) await p.stop();
      for (const b of Object.values(backends)) await b.close();
      await mesh?.cleanup();
    });

    it('a valid mesh certificate of a service not in allowFrom gets exactly 403 (HTTP)', async () => {
      const c = mesh.services.catalog;
      const intruder = await mesh.pem.workload('intruder');
      const before = backends.catalog.requests.length;
      const res = await httpGet(`https://${c.addresses[0]}:${c.inboundPort}/x`, { ca: bundle, servername: 'catalog.it.svc.cluster.local', cert: intruder.cert, key: intruder.key });
      expect(res.status).toBe(403);
      expect(backends.catalog.requests.length).toBe(before);
    });

    it('tcp: the allowed caller gets through its sidecar; another mesh identity is cut off', async () => {
      const f = mesh.services.frontend;
      const ok = await httpGet(`http://${f.addresses[0]}:${f.localPorts.ledger}/tcp`);
      expect(ok.status).toBe(200);
      expect(ok.body).toBe('ledger');
      const l = mesh.services.ledger;
      const intruder = await mesh.pem.workload('intruder');
      const before = backends.ledger.requests.length;
      const probe = await tlsProbe({ host: l.addresses[0], port: l.inboundPort, servername: 'ledger.it.svc.cluster.local', ca: bundle, cert: intruder.cert, key: intruder.key, send: 'GET / HTTP/1.1\r\nHost: ledger\r\nConnection: close\r\n\r\n' });
      expect(probe.response ?? '').not.toContain('200 OK');
      expect(backends.ledger.requests.length).toBe(before);
      const frontend = await mesh.pem.workload('frontend');
      const allowed = await tlsProbe({ host: l.addresses[0], port: l.inboundPort, servername: 'ledger.it.svc.cluster.local', ca: bundle, cert: frontend.cert, key: frontend.key, send: 'GET /direct HTTP/1.1\r\nHost: ledger\r\nConnection: close\r\n\r\n' });
      expect(allowed.response ?? '').toContain('200 OK');
    });

    it("the caller's sidecar refuses an upstream whose certificate names another service", async () => {
      const f = mesh.services.frontend;
      const res = await httpGet(`http://${f.addresses[0]}:${f.localPorts.decoy}/verify`).then((r) => r.status, () => 0);
      expect(res).not.toBe(200);
      expect(backends.decoy.requests).toEqual([]);
    });
  });
}

/**
 * Retries, for the text proxies (the shared scenarios do not cover them): with `retries:
 * { attempts: 1, retryOn: [5xx] }` a request answered 500 by one endpoint is retried on the other,
 * so the caller sees only 200; without retries the 500 reaches the caller.
 */
export function retryScenario(driver: ProxyDriver): void {
  describe.skipIf(!driver.available)(`${driver.name}: retries`, () => {
    let mesh: TestMesh;
    const procs: Proc[] = [];
    const backends: Backend[] = [];

    beforeAll(async () => {
      mesh = await buildTestMesh({
        targets: [driver.name],
        services: {
          frontend: { upstreams: ['retried', 'plain'] },
          retried: { allowFrom: ['frontend'], replicas: 2, retries: { attempts: 1, retryOn: ['5xx'] } },
          plain: { allowFrom: ['frontend'], replicas: 2 },
        },
      });
      for (const svc of ['retried', 'plain']) {
        const s = mesh.services[svc];
        for (const [i, addr] of s.addresses.entries()) {
          backends.push(await startHttpBackend({ name: `${svc}-${i}`, host: addr, port: s.appPort }));
          procs.push(await driver.start(mesh.out, svc, i === 0 ? undefined : { rewrite: [s.addresses[0], addr] }));
        }
      }
      procs.push(await driver.start(mesh.out, 'frontend'));
      // Replica 1 of each service fails.
      backends[1].setStatus(500);
      backends[3].setStatus(500);
    });

    afterAll(async () => {
      for (const p of procs) await p.stop();
      for (const b of backends) await b.close();
      await mesh?.cleanup();
    });

    const statuses = async (svc: string, n: number) => {
      const f = mesh.services.frontend;
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await httpGet(`http://${f.addresses[0]}:${f.localPorts[svc]}/r${i}`)).status);
      return out;
    };

    it('a 5xx from one endpoint is retried on the other: the caller sees only 200', async () => {
      const s = await statuses('retried', 10);
      expect(s).toEqual(Array(10).fill(200));
      expect(backends[1].requests.length).toBeGreaterThan(0); // the failing endpoint was tried
    });

    it('without retries the 5xx reaches the caller (the check above can fail)', async () => {
      const s = await statuses('plain', 10);
      expect(s.filter((x) => x === 500).length).toBeGreaterThan(0);
    });
  });
}
