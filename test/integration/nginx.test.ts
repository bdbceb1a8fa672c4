/** Every proxy-agnostic scenario, run with the real nginx (the same scenarios as envoy.test.ts). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpGet, sleep, startHttpBackend, type Backend, type Proc } from '../harness/index.js';
import { buildTestMesh, type TestMesh } from './mesh-builder.js';
import { nginxDriver, retryScenario, subjectIdentityScenario } from './drivers/nginx.js';
import { egressScenario } from './scenarios/egress.js';
import { http2Scenario } from './scenarios/http2.js';
import { ingressScenario } from './scenarios/ingress.js';
import { loadBalancingScenario } from './scenarios/load-balancing.js';
import { mtlsScenario } from './scenarios/mtls.js';
import { rotationScenario } from './scenarios/rotation.js';
import { liveRotationScenario } from './scenarios/live-rotation.js';
import { validateScenario } from './scenarios/validate.js';
import { limitsScenario } from './scenarios/limits.js';
import { metricsScenario } from './scenarios/metrics.js';

mtlsScenario(nginxDriver);
egressScenario(nginxDriver);
ingressScenario(nginxDriver);
http2Scenario(nginxDriver);
loadBalancingScenario(nginxDriver);
validateScenario(nginxDriver);
limitsScenario(nginxDriver);
rotationScenario(nginxDriver);
liveRotationScenario(nginxDriver);
subjectIdentityScenario(nginxDriver);
retryScenario(nginxDriver);

// nginx-specific: the capability matrix says nginx ejects on 5xx only when it retries them
// (row `outlier-5xx-without-retries`, which skips the shared outlier test above). This proves the
// `yes` half of that claim with the same traffic pattern.

describe.skipIf(!nginxDriver.available)('nginx: outlier detection with retries on 5xx', () => {
  let mesh: TestMesh;
  const procs: Proc[] = [];
  const backends: Backend[] = [];

  beforeAll(async () => {
    mesh = await buildTestMesh({
      targets: ['nginx'],
      services: {
        frontend: { upstreams: ['outlier'] },
        outlier: {
          allowFrom: ['frontend'],
          replicas: 3,
          retries: { attempts: 1, retryOn: ['5xx'] },
          outlierDetection: { consecutive5xx: 3, interval: '1s', baseEjectionTime: '60s', maxEjectionPercent: 100 },
        },
      },
    });
    const s = mesh.services.outlier;
    for (const [i, addr] of s.addresses.entries()) {
      backends.push(await startHttpBackend({ name: `outlier-${i}`, host: addr, port: s.appPort }));
      procs.push(await nginxDriver.start(mesh.out, 'outlier', i === 0 ? undefined : { rewrite: [s.addresses[0], addr] }));
    }
    procs.push(await nginxDriver.start(mesh.out, 'frontend'));
  });

  afterAll(async () => {
    for (const p of procs) await p.stop();
    for (const b of backends) await b.close();
    await mesh?.cleanup();
  });

  it('an endpoint answering 5xx is ejected, and callers see no error (the retry goes elsewhere)', async () => {
    backends[1].setStatus(500);
    const f = mesh.services.frontend;
    const url = `http://${f.addresses[0]}:${f.localPorts.outlier}/lb`;
    const first: number[] = [];
    for (let i = 0; i < 30; i++) first.push((await httpGet(url)).status);
    expect(first.every((s) => s === 200)).toBe(true);
    await sleep(200);
    const before = backends[1].requests.length;
    for (let i = 0; i < 30; i++) expect((await httpGet(url)).status).toBe(200);
    expect(backends[1].requests.length - before).toBe(0);
  });
});
metricsScenario(nginxDriver);
