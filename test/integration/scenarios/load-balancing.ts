/**
 * Scenario 4: custom load balancing per service, seen from the caller's sidecar.
 *
 * One caller (frontend) with an upstream per policy. Each upstream has several replicas: the same
 * sidecar config started once per loopback address (rewrite), each with its own backend that
 * answers with its replica name. Each test starts only its upstream's replicas and stops them.
 * Request counts are bounded and concurrency modest (two cores).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet, sleep, startHttpBackend, type Backend, type Proc } from '../../harness/index.js';
import type { ProxyDriver } from '../drivers/driver.js';
import { buildTestMesh, type TestMesh } from '../mesh-builder.js';


export function loadBalancingScenario(driver: ProxyDriver): void {
  describe.skipIf(!driver.available)(`${driver.name}: load balancing`, () => {
    let mesh: TestMesh;
    let frontend: Proc | undefined;

    beforeAll(async () => {
      // A proxy without maglev refuses to compile a mesh that asks for it: leave it out there.
      const maglev = driver.supports('lb.maglev');
      // nginx resolves a name with a non-default policy once, at start, with the system resolver
      // (the matrix says so): it cannot reach the test DNS, so that upstream is left out there.
      const dnsStatic = driver.supports('endpoints.dns-static');
      const upstreams = ['rr', 'ring', 'lr', 'weighted', 'outlier', 'dnsrr', ...(dnsStatic ? ['dnsring'] : []), ...(maglev ? ['maglev'] : [])];
      mesh = await buildTestMesh({
        targets: [driver.name],
        services: {
          frontend: { upstreams },
          rr: { allowFrom: ['frontend'], replicas: 3, loadBalancing: { policy: 'round_robin' } },
          ring: { allowFrom: ['frontend'], replicas: 3, loadBalancing: { policy: 'ring_hash', hashOn: { header: 'x-user' } } },
          lr: { allowFrom: ['frontend'], replicas: 3, loadBalancing: { policy: 'least_request', choiceCount: 2 } },
          weighted: { allowFrom: ['frontend'], replicas: 2, weights: [1, 3], loadBalancing: { policy: 'round_robin' } },
          outlier: {
            allowFrom: ['frontend'],
            replicas: 3,
            outlierDetection: { consecutive5xx: 3, interval: '1s', baseEjectionTime: '60s', maxEjectionPercent: 100 },
          },
          // One DNS name standing for three sidecars, as a headless Service does.
          dnsrr: { allowFrom: ['frontend'], replicas: 3, dnsEndpoint: true },
          ...(dnsStatic ? { dnsring: { allowFrom: ['frontend'], replicas: 3, dnsEndpoint: true, loadBalancing: { policy: 'ring_hash', hashOn: { header: 'x-user' } } } } : {}),
          ...(maglev ? { maglev: { allowFrom: ['frontend'], replicas: 3, loadBalancing: { policy: 'maglev', hashOn: { header: 'x-user' } } } } : {}),
        },
      });
      frontend = await driver.start(mesh.out, 'frontend');
    });

    afterAll(async () => {
      await frontend?.stop();
      await mesh?.cleanup();
    });

    /** Starts every replica of `svc` (sidecar + backend), runs fn, stops them all. */
    async function withReplicas(svc: string, fn: (backends: Backend[]) => Promise<void>): Promise<void> {
      const s = mesh.services[svc];
      const backends: Backend[] = [];
      const procs: Proc[] = [];
      try {
        for (const [i, addr] of s.addresses.entries()) {
          backends.push(await startHttpBackend({ name: `${svc}-${i}`, host: addr, port: s.appPort }));
          procs.push(await driver.start(mesh.out, svc, i === 0 ? undefined : { rewrite: [s.addresses[0], addr] }));
        }
        await fn(backends);
      } finally {
        for (const p of procs) await p.stop();
        for (const b of backends) await b.close();
      }
    }

    /**
     * `count` requests to svc through frontend's sidecar from `concurrency` workers, each sending
     * its next request as soon as its previous one is answered (a slow endpoint keeps requests
     * in flight, which least request sees). Returns the body (replica name) per request.
     */
    async function send(svc: string, count: number, opts: { concurrency?: number; headers?: (i: number) => Record<string, string> } = {}): Promise<string[]> {
      const f = mesh.services.frontend;
      const url = `http://${f.addresses[0]}:${f.localPorts[svc]}/lb`;
      const out: string[] = new Array(count);
      let next = 0;
      const worker = async () => {
        while (next < count) {
          const i = next++;
          const r = await httpGet(url, { headers: opts.headers?.(i) });
          out[i] = r.status === 200 ? r.body : `status ${r.status}`;
        }
      };
      await Promise.all(Array.from({ length: opts.concurrency ?? 4 }, worker));
      return out;
    }

    function tally(bodies: string[]): Record<string, number> {
      const t: Record<string, number> = {};
      for (const b of bodies) t[b] = (t[b] ?? 0) + 1;
      return t;
    }

    it('round robin: 300 requests over 3 endpoints, each within ±20% of even', async () => {
      await withReplicas('rr', async () => {
        const t = tally(await send('rr', 300, { concurrency: 6 }));
        expect(Object.keys(t).sort()).toEqual(['rr-0', 'rr-1', 'rr-2']);
        for (const n of Object.values(t)) expect(n).toBeGreaterThanOrEqual(80), expect(n).toBeLessThanOrEqual(120);
      });
    });

    it('a DNS name with three addresses: round robin reaches every one of them', async () => {
      await withReplicas('dnsrr', async () => {
        const t = tally(await send('dnsrr', 90, { concurrency: 3 }));
        expect(Object.keys(t).sort()).toEqual(['dnsrr-0', 'dnsrr-1', 'dnsrr-2']);
        for (const n of Object.values(t)) expect(n).toBeGreaterThanOrEqual(15);
      });
    });

    it.skipIf(!driver.supports('endpoints.dns-static'))('a DNS name with three addresses: ring hash still sticks per key and spreads keys', async () => {
      await withReplicas('dnsring', async () => {
        const same = tally(await send('dnsring', 20, { headers: () => ({ 'x-user': 'carol' }) }));
        expect(Object.keys(same)).toHaveLength(1);
        const spread = tally(await send('dnsring', 60, { headers: (i) => ({ 'x-user': `user-${i}` }) }));
        expect(Object.keys(spread).length).toBeGreaterThanOrEqual(2);
      });
    });

    it('ring hash on a header: one value sticks to one endpoint, different values spread', async () => {
      await withReplicas('ring', async () => {
        const same = tally(await send('ring', 30, { headers: () => ({ 'x-user': 'alice' }) }));
        expect(Object.keys(same)).toHaveLength(1);
        const again = tally(await send('ring', 10, { headers: () => ({ 'x-user': 'alice' }) }));
        expect(Object.keys(again)).toEqual(Object.keys(same));
        const spread = tally(await send('ring', 60, { headers: (i) => ({ 'x-user': `user-${i}` }) }));
        expect(Object.keys(spread).length).toBeGreaterThanOrEqual(2);
      });
    });

    it.skipIf(!driver.supports('lb.maglev'))('maglev on a header: one value sticks to one endpoint, different values spread', async () => {
      await withReplicas('maglev', async () => {
        const same = tally(await send('maglev', 30, { headers: () => ({ 'x-user': 'bob' }) }));
        expect(Object.keys(same)).toHaveLength(1);
        const spread = tally(await send('maglev', 60, { headers: (i) => ({ 'x-user': `user-${i}` }) }));
        expect(Object.keys(spread).length).toBeGreaterThanOrEqual(2);
      });
    });

    it.skipIf(!driver.supports('lb.least_request'))('least request: a slowed endpoint gets measurably fewer requests', async () => {
      await withReplicas('lr', async (backends) => {
        backends[0].setDelay(1_000); // well above what a loaded machine adds to the fast ones
        const t = tally(await send('lr', 120, { concurrency: 6 }));
        const slow = t['lr-0'] ?? 0;
        const fast = Math.min(t['lr-1'] ?? 0, t['lr-2'] ?? 0);
        // Round robin would give each 40.
        expect(slow).toBeLessThan(0.6 * fast);
      });
    });

    it.skipIf(!driver.supports('lb.weights'))('endpoint weights 1:3 are honoured within tolerance', async () => {
      await withReplicas('weighted', async () => {
        const t = tally(await send('weighted', 200, { concurrency: 6 }));
        const heavy = (t['weighted-1'] ?? 0) / 200;
        expect(heavy).toBeGreaterThan(0.65);
        expect(heavy).toBeLessThan(0.85);
      });
    });

    it.skipIf(!driver.supports('outlier'))('outlier detection stops sending to an endpoint answering 5xx', async () => {
      await withReplicas('outlier', async (backends) => {
        backends[1].setStatus(500);
        // Enough requests for the failing endpoint to answer 3 consecutive 5xx.
        await send('outlier', 30, { concurrency: 1 });
        await sleep(1_200);
        const before = backends[1].requests.length;
        const bodies = await send('outlier', 30, { concurrency: 2 });
        expect(backends[1].requests.length - before).toBe(0);
        expect(bodies.every((b) => b === 'outlier-0' || b === 'outlier-2')).toBe(true);
      });
    });
  });
}
