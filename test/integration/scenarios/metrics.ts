/**
 * Scenario: Prometheus metrics from every sidecar and gateway, read by a real Prometheus.
 *
 * web calls api (allowed) and locked (whose allowFrom is empty: refused at locked's sidecar),
 * the ingress gateway routes shop.it.test to web, and web's egress allows allowed.test only.
 * A known number of requests goes over each edge; Prometheus scrapes every proxy each second
 * on loopback, and its HTTP API must then give exactly those counts per edge, latency
 * observations, refusals where they happened, and data for every query of the generated
 * Grafana dashboard. What a proxy cannot count is a named gap in its capability matrix, and the
 * scenario checks that the matrix says so rather than skipping silently.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { execa } from 'execa';
import { meshc } from '../../support/meshc-cli.js';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { proxyQueries, type ProxyQueries, type Query } from '../../../src/metrics/queries.js';
import { TARGETS } from '../../../src/targets/registry.js';
import {
  createTestCa,
  eventually,
  httpGet,
  prometheusOrSkip,
  sleep,
  startHttpBackend,
  startPrometheus,
  startTlsBackend,
  tempDir,
  tlsProbe,
  type Backend,
  type PrometheusServer,
  type Proc,
  type TestCa,
} from '../../harness/index.js';
import type { ProxyDriver } from '../drivers/driver.js';
import { buildTestMesh, type TestMesh } from '../mesh-builder.js';

const prometheus = prometheusOrSkip();

/** Chromium, for the HTML graph; under CI=true a missing one fails the test that needs it. */
async function findChromium(): Promise<string | undefined> {
  for (const c of [process.env.CHROMIUM, 'chromium', 'chromium-browser', 'google-chrome'].filter(Boolean) as string[]) {
    const r = await execa(c, ['--version'], { reject: false, timeout: 30_000 }).catch(() => undefined);
    if (r && r.exitCode === 0) return c;
  }
  return undefined;
}

/** The page has no script: this one writes each edge's drawn stroke colour and label into the DOM Chromium dumps. */
const PROBE = `<script>
for (const g of document.querySelectorAll('g.edge')) {
  const path = g.querySelector('path');
  g.setAttribute('data-stroke', getComputedStyle(path).stroke);
  g.setAttribute('data-drawn', String(path.getTotalLength() > 0));
}
</script>`;

/** What the scenario sends. */
const SENT_ALL = { api2xx: 7, api5xx: 2, locked: 3, ingress: 4, egressTlsAllowed: 2, egressTlsRefused: 2, egressHttpAllowed: 2, egressHttpRefused: 1, gone: 2, imposter: 2 };

const SENT = SENT_ALL;

export function metricsScenario(driver: ProxyDriver): void {
  describe.skipIf(!driver.available || !prometheus.path)(`${driver.name}: Prometheus metrics`, () => {
    let mesh: TestMesh;
    let ca: TestCa;
    let prom: PrometheusServer;
    let queries: ProxyQueries;
    const procs: Proc[] = [];
    const backends: Backend[] = [];
    let promDir: { path: string; cleanup(): Promise<void> };
    const workloads = ['api', 'locked', 'web', 'ingress-gateway', 'egress-gateway'];

    beforeAll(async () => {
      mesh = await buildTestMesh({
        targets: [driver.name, 'grafana'],
        services: {
          web: { upstreams: ['api', 'locked', 'gone', 'imposter'], egress: ['allowed.test'] },
          api: { allowFrom: ['web'] },
          locked: {},
          // No sidecar runs for these two: nothing listens at gone's, and a TLS server with a
          // foreign certificate stands at imposter's, so web's calls fail to connect or to handshake.
          gone: { allowFrom: ['web'] },
          imposter: { allowFrom: ['web'] },
        },
        sites: ['allowed.test', 'denied.test'],
        ingress: { hosts: { 'shop.it.test': { routes: [{ pathPrefix: '/', service: 'web' }] } } },
      });
      queries = proxyQueries(driver.name, 'it');
      ca = await createTestCa('fake internet CA');
      for (const name of ['web', 'api', 'locked']) {
        const s = mesh.services[name];
        backends.push(await startHttpBackend({ name, host: s.addresses[0], port: s.appPort }));
      }
      const fake = await ca.issue({ cn: 'imposter', sans: ['imposter', 'imposter.it.svc.cluster.local', 'spiffe://it.test/ns/it/sa/imposter'] });
      backends.push(await startTlsBackend({ name: 'imposter', host: mesh.services.imposter.addresses[0], port: mesh.services.imposter.inboundPort, cert: fake.cert, key: fake.key }));
      const leaf = await ca.issue({ cn: 'allowed.test', sans: ['allowed.test'] });
      backends.push(await startTlsBackend({ name: 'allowed.test', host: mesh.sites['allowed.test'], port: mesh.egress.tlsPort, cert: leaf.cert, key: leaf.key }));
      backends.push(await startHttpBackend({ name: 'allowed.test', host: mesh.sites['allowed.test'], port: mesh.egress.httpPort }));
      for (const w of workloads) procs.push(await driver.start(mesh.out, w));
      promDir = await tempDir('prometheus');
      prom = await startPrometheus({
        bin: prometheus.path!,
        dir: promDir.path,
        // Envoy and nginx label their own series; HAProxy's exporter cannot, so mesh and workload come from the scrape, as the PodMonitor gives them.
        targets: workloads.map((w) => ({ address: `${metricsAddress(w)}:${mesh.metricsPort}`, labels: driver.name === 'haproxy' ? { mesh: 'it', workload: w } : {} })),
      });
      // In two rounds, a few scrapes apart: a counter a proxy creates at its first request is first
      // scraped with a value, and rate() needs it to grow after that (graph --metrics reads rates).
      const first = Object.fromEntries(Object.keys(SENT).map((k) => [k, 1])) as typeof SENT;
      await eventually(async () => {
        const up = await prom.query('up');
        if (up.length !== workloads.length || up.some((u) => u.value !== 1)) throw new Error(`not every target scraped yet: ${JSON.stringify(up)}`);
      }, 60_000, 250);
      await sendTraffic(first);
      await sleep(3_000);
      await sendTraffic(Object.fromEntries(Object.entries(SENT).map(([k, n]) => [k, n - 1])) as typeof SENT);
    }, 180_000);

    afterAll(async () => {
      await prom?.stop();
      for (const p of procs) await p.stop();
      for (const b of backends) await b.close();
      await promDir?.cleanup();
      await mesh?.cleanup();
    });

    function metricsAddress(workload: string): string {
      if (workload === 'ingress-gateway') return mesh.ingress.address;
      if (workload === 'egress-gateway') return mesh.egressGateway.address;
      return mesh.services[workload].addresses[0];
    }

    async function sendTraffic(SENT: Record<keyof typeof SENT_ALL, number>): Promise<void> {
      const web = mesh.services.web;
      const api = backends.find((b) => b.name === 'api')!;
      for (let i = 0; i < SENT.api2xx; i++) expect((await httpGet(`http://${web.addresses[0]}:${web.localPorts.api}/ok`)).status).toBe(200);
      api.setStatus(500);
      for (let i = 0; i < SENT.api5xx; i++) expect((await httpGet(`http://${web.addresses[0]}:${web.localPorts.api}/fail`)).status).toBe(500);
      api.setStatus(200);
      for (let i = 0; i < SENT.locked; i++) expect((await httpGet(`http://${web.addresses[0]}:${web.localPorts.locked}/`)).status).toBe(403);
      for (const edge of ['gone', 'imposter'] as const) {
        for (let i = 0; i < SENT[edge]; i++) {
          const status = await httpGet(`http://${web.addresses[0]}:${web.localPorts[edge]}/`).then((r) => r.status, () => 0);
          expect(status === 0 || status >= 500, `${edge}: ${status}`).toBe(true);
        }
      }
      const bundle = await mesh.pem.bundle();
      for (let i = 0; i < SENT.ingress; i++) {
        const res = await httpGet(`https://shop.it.test:${mesh.ingress.httpsPort}/`, { lookupHost: mesh.ingress.address, ca: bundle });
        expect(res.status).toBe(200);
      }
      for (let i = 0; i < SENT.egressTlsAllowed; i++) {
        const res = await httpGet(`https://allowed.test:${web.egressTlsPort}/`, { lookupHost: web.addresses[0], ca: ca.cert });
        expect(res.body).toBe('allowed.test');
      }
      for (let i = 0; i < SENT.egressTlsRefused; i++) {
        const probe = await tlsProbe({ host: web.addresses[0], port: web.egressTlsPort, servername: 'denied.test', ca: ca.cert });
        expect(probe.connected).toBe(false);
      }
      for (let i = 0; i < SENT.egressHttpAllowed; i++) expect((await httpGet(`http://${web.addresses[0]}:${web.egressHttpPort}/`, { headers: { host: 'allowed.test' } })).status).toBe(200);
      for (let i = 0; i < SENT.egressHttpRefused; i++) expect((await httpGet(`http://${web.addresses[0]}:${web.egressHttpPort}/`, { headers: { host: 'denied.test' } })).status).toBe(403);
    }

    /** The query's result as `label=value,...` → value, once Prometheus has scraped what was sent. */
    async function settled(q: Query | undefined, want: (r: Map<string, number>) => void): Promise<Map<string, number>> {
      if (!q) throw new Error('no such series');
      return eventually(
        async () => {
          const rows = await prom.query(q.expr);
          const r = new Map(rows.map((s) => [q.by.map((l) => `${l}=${s.labels[l] ?? ''}`).join(','), s.value]));
          want(r);
          return r;
        },
        60_000,
        500,
      );
    }

    const cell = (feature: string) => TARGETS.find((t) => t.name === driver.name)!.capabilities!.cells[feature]!;

    it('scrapes every sidecar and gateway, each series labelled with its mesh and workload', async () => {
      await settled({ id: 'up', title: 'up', unit: 'short', by: ['instance'], expr: 'up' }, (m) => {
        expect([...m.values()]).toEqual(workloads.map(() => 1));
      });
      const labelled = await settled({ id: 'workloads', title: '', unit: 'short', by: ['workload'], expr: 'count by (workload) ({mesh="it",__name__!~"up|scrape_.*"})' }, (m) => expect(m.size).toBe(workloads.length));
      expect([...labelled.keys()].sort()).toEqual(workloads.map((w) => `workload=${w}`).sort());
    }, 120_000);

    it('counts requests per edge and response class, from the caller side, exactly as sent', async () => {
      if (!queries.requestTotal) {
        expect(cell('metrics-edge-requests').support).toBe('no');
        return;
      }
      const r = await settled(queries.requestTotal, (m) => {
        expect(m.get('workload=web,destination=api,code=2xx')).toBe(SENT.api2xx);
        expect(m.get('workload=web,destination=api,code=5xx')).toBe(SENT.api5xx);
        expect(m.get('workload=web,destination=locked,code=4xx')).toBe(SENT.locked);
        expect(m.get('workload=ingress-gateway,destination=web,code=2xx')).toBe(SENT.ingress);
      });
      // Nothing counted on an edge that carried nothing, nor twice.
      expect([...r.keys()].filter((k) => !k.includes('code=2xx') && !k.includes('code=5xx') && !k.includes('code=4xx') && (r.get(k) ?? 0) > 0)).toEqual([]);
    }, 120_000);

    it('observes every response of an edge in its latency histogram (or its average, where the proxy has no histogram)', async () => {
      if (queries.latencyObservations) {
        await settled(queries.latencyObservations, (m) => {
          expect(m.get('workload=web,destination=api')).toBe(SENT.api2xx + SENT.api5xx);
          expect(m.get('workload=ingress-gateway,destination=web')).toBe(SENT.ingress);
        });
      } else if (queries.latencyAverage) {
        expect(cell('metrics-edge-latency').support).toBe('partial');
        await settled(queries.latencyAverage, (m) => expect(m.get('workload=web,destination=api')).toBeGreaterThan(0));
      } else {
        expect(cell('metrics-edge-latency').support).toBe('no');
      }
    }, 120_000);

    it('counts refusals by allowFrom at the callee', async () => {
      if (!queries.refusedTotal) {
        expect(cell('metrics-refused').support).toBe('no');
        return;
      }
      await settled(queries.refusedTotal, (m) => {
        expect(m.get('workload=locked')).toBe(SENT.locked);
        expect(m.get('workload=api') ?? 0).toBe(0);
      });
    }, 120_000);

    it('counts connection failures and TLS handshake failures on the edge where they happened, and on no other', async () => {
      if (!queries.connectFailures) {
        expect(cell('metrics-edge-failures').support).toBe('no');
        return;
      }
      await settled(queries.connectFailures, (m) => {
        expect(m.get('workload=web,destination=gone')).toBeGreaterThan(0);
        expect(m.get('workload=web,destination=api') ?? 0).toBe(0);
        // Where TLS failures have no series of their own, they are among the connection errors.
        if (!queries.tlsFailures) expect(m.get('workload=web,destination=imposter')).toBeGreaterThan(0);
      });
      if (queries.tlsFailures) {
        await settled(queries.tlsFailures, (m) => {
          expect(m.get('workload=web,destination=imposter')).toBeGreaterThan(0);
          expect(m.get('workload=web,destination=api') ?? 0).toBe(0);
          // A refused connection is not a TLS failure.
          expect(m.get('workload=web,destination=gone') ?? 0).toBe(0);
        });
      } else {
        expect(cell('metrics-edge-failures').support).toBe('partial');
      }
    }, 120_000);

    it('counts allowed and refused egress', async () => {
      if (!queries.egressAllowedTotal || !queries.egressRefusedTotal) {
        expect(cell('metrics-egress').support).toBe('no');
        return;
      }
      await settled(queries.egressAllowedTotal, (m) => {
        if (queries.egressAllowedTotal!.by.includes('destination')) expect(m.get('workload=web,destination=allowed.test')).toBe(SENT.egressTlsAllowed + SENT.egressHttpAllowed);
        else expect(m.get('workload=web,proxy=egress_tls')! + m.get('workload=web,proxy=egress_http')!).toBe(SENT.egressTlsAllowed + SENT.egressHttpAllowed);
      });
      await settled(queries.egressRefusedTotal, (m) => {
        const web = [...m].filter(([k]) => k.startsWith('workload=web')).reduce((a, [, v]) => a + v, 0);
        expect(web).toBe(SENT.egressTlsRefused + SENT.egressHttpRefused);
      });
    }, 120_000);

    it('graph --metrics draws each edge with its rate, 5xx ratio and latency: JSON numbers, and an HTML page coloured by health in Chromium', async () => {
      if (!queries.requestRate) {
        expect(cell('metrics-edge-requests').support).toBe('no');
        return;
      }
      // Every request is in Prometheus before the graph asks for rates.
      await settled(queries.requestTotal, (m) => expect(m.get('workload=ingress-gateway,destination=web,code=2xx')).toBe(SENT.ingress));
      const args = ['graph', '-f', mesh.file, '--metrics', prom.url, '--proxy', driver.name, '--window', '2m'];
      const json = await meshc([...args, '--format', 'json']);
      expect(json.stderr).toBe('');
      expect(json.exitCode).toBe(0);
      const edges = (JSON.parse(json.stdout) as { edges: { from: string; to: string; kind: string; metrics?: { rate: number; errorRatio?: number; p99Seconds?: number; averageSeconds?: number; health: string } }[] }).edges;
      const edge = (from: string, to: string) => edges.find((e) => e.from === from && e.to === to)!.metrics!;
      const api = edge('service:web', 'service:api');
      expect(api.rate).toBeGreaterThan(0);
      // 2 of 9 requests were answered 500.
      expect(api.errorRatio).toBeGreaterThan(0.1);
      expect(api.errorRatio).toBeLessThan(0.4);
      expect(api.health).toBe('failing');
      if (queries.latencyP99) expect(api.p99Seconds).toBeGreaterThan(0);
      else expect(api.averageSeconds).toBeGreaterThan(0);
      const route = edge('host:shop.it.test', 'service:web');
      expect(route.rate).toBeGreaterThan(0);
      expect(route.health).toBe('ok');
      if (queries.egressAllowed?.by.includes('destination')) expect(edge('service:web', 'domain:allowed.test').rate).toBeGreaterThan(0);

      const chromium = await findChromium();
      if (!chromium) {
        if (process.env.CI === 'true') throw new Error('chromium is not installed (CI=true): run `bash scripts/install-test-tools.sh` as root');
        console.warn('graph --metrics HTML check skipped: chromium not found');
        return;
      }
      const html = await meshc([...args, '--format', 'html']);
      expect(html.exitCode).toBe(0);
      const dir = await mkdtemp(path.join(tmpdir(), 'meshc-graph-metrics-'));
      try {
        const page = path.join(dir, 'graph.html');
        await writeFile(page, html.stdout.replace('</body>', `${PROBE}</body>`));
        const r = await execa(chromium, ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', `--user-data-dir=${path.join(dir, 'profile')}`, '--dump-dom', `file://${page}`], { reject: false, timeout: 90_000 });
        const dom = r.stdout;
        const drawn = (from: string, to: string) => {
          const m = new RegExp(`<g class="edge ([^"]*)" data-from="${from}" data-to="${to}"[^>]*data-stroke="([^"]*)" data-drawn="(true|false)"><title>([^<]*)</title>`).exec(dom);
          if (!m) throw new Error(`no edge ${from} → ${to} in the page Chromium rendered`);
          return { cls: m[1], stroke: m[2], drawn: m[3] === 'true', title: m[4] };
        };
        const failing = drawn('service:web', 'service:api');
        expect(failing).toMatchObject({ cls: 'call health-failing', stroke: 'rgb(220, 38, 38)', drawn: true });
        expect(failing.title).toMatch(/rps · [0-9.]+% 5xx · (p99|avg) [0-9.]+ ms/);
        expect(drawn('host:shop.it.test', 'service:web')).toMatchObject({ cls: 'route health-ok', stroke: 'rgb(22, 163, 74)', drawn: true });
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }, 180_000);

    it('answers every query of the generated Grafana dashboard with data', async () => {
      const dashboard = JSON.parse(await readFile(path.join(mesh.out, 'grafana', `${driver.name}.json`), 'utf8')) as { panels: { title: string; targets?: { expr: string }[] }[] };
      const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr.replaceAll('$__rate_interval', '1m') })));
      expect(exprs.length).toBeGreaterThan(0);
      for (const { panel, expr } of exprs) {
        await eventually(
          async () => {
            const rows = await prom.query(expr);
            if (rows.length === 0) throw new Error(`panel "${panel}": no data for ${expr}`);
          },
          30_000,
          500,
        );
      }
    }, 120_000);
  });
}
