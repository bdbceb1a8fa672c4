/**
 * The capability matrix and the targets' diagnostics agree: for every row, a mesh that uses the
 * feature yields, from the nginx and HAProxy targets' `check`, exactly the finding the matrix
 * implies (`no` → error `unsupported-feature`, `partial` → warning `partially-supported-feature`,
 * `yes` → nothing at that place).
 */
import { describe, expect, it } from 'vitest';
import type { Finding } from '../../src/model/diagnostic.js';
import type { Mesh } from '../../src/model/mesh.js';
import { normalize } from '../../src/model/normalize.js';
import { validateSchema } from '../../src/schema/validate.js';
import { cellOf, FEATURES, renderCapabilityMatrix, unsupported } from '../../src/targets/features.js';
import { TARGETS } from '../../src/targets/registry.js';
import { checkHaproxy } from '../../src/targets/haproxy/index.js';
import { checkNginx } from '../../src/targets/nginx/index.js';

type Written = { spec: Record<string, any> } & Record<string, any>;

function base(): Written {
  return {
    apiVersion: 'meshc.dev/v1',
    kind: 'Mesh',
    metadata: { name: 'cap' },
    spec: {
      trustDomain: 'cap.test',
      namespace: 'cap',
      dns: { resolvers: ['127.0.0.1:53'] },
      services: {
        caller: { port: 8080, upstreams: ['svc'], endpoints: ['127.0.0.1:15443'] },
        svc: { port: 8080, allowFrom: ['caller'], endpoints: ['127.0.0.2:15443'] },
      },
    },
  };
}

function meshOf(edit: (w: Written) => void): Mesh {
  const w = base();
  edit(w);
  const res = validateSchema(w);
  if (!res.mesh) throw new Error(`sample does not match the schema: ${res.findings.map((f) => `${f.pointer} ${f.message}`).join('; ')}`);
  return normalize(res.mesh);
}

const svc = (w: Written) => w.spec.services.svc;
const retry5xx = { attempts: 1, retryOn: ['5xx'] };
const egressTo = (domain: string) => (w: Written) => {
  w.spec.services.caller.egress = [domain];
};
const ingress = (extra: Record<string, unknown> = {}) => (w: Written) => {
  w.spec.ingress = { ...extra, hosts: { 'shop.test': { routes: [{ pathPrefix: '/', service: 'svc' }] } } };
};

/** One mesh per row that uses the row's feature. Rows describing how a target works (no field) have none. */
const SAMPLES: Record<string, (w: Written) => void> = {
  'lb-round-robin': (w) => (svc(w).loadBalancing = { policy: 'round_robin' }),
  'lb-least-request': (w) => (svc(w).loadBalancing = { policy: 'least_request' }),
  'lb-least-request-choice-count': (w) => (svc(w).loadBalancing = { policy: 'least_request', choiceCount: 3 }),
  'lb-random': (w) => (svc(w).loadBalancing = { policy: 'random' }),
  'lb-ring-hash-header': (w) => (svc(w).loadBalancing = { policy: 'ring_hash', hashOn: { header: 'x-user' } }),
  'lb-ring-hash-cookie': (w) => (svc(w).loadBalancing = { policy: 'ring_hash', hashOn: { cookie: { name: 'sid' } } }),
  'lb-ring-hash-cookie-ttl': (w) => (svc(w).loadBalancing = { policy: 'ring_hash', hashOn: { cookie: { name: 'sid', ttl: '1h' } } }),
  'lb-ring-hash-source-ip': (w) => (svc(w).loadBalancing = { policy: 'ring_hash', hashOn: { sourceIp: true } }),
  'lb-maglev': (w) => (svc(w).loadBalancing = { policy: 'maglev', hashOn: { header: 'x-user' } }),
  'endpoint-weights': (w) => (svc(w).endpoints = [{ address: '127.0.0.2:15443', weight: 2 }, '127.0.0.3:15443']),
  'dns-endpoints-static': (w) => (svc(w).endpoints = ['svc-a.cap.svc.cluster.local:15443', 'svc-b.cap.svc.cluster.local:15443']),
  retries: (w) => (svc(w).retries = { attempts: 2 }),
  'retries-retriable-4xx': (w) => (svc(w).retries = { attempts: 1, retryOn: ['retriable-4xx'] }),
  'retries-per-try-timeout': (w) => (svc(w).retries = { attempts: 1, perTryTimeout: '1s' }),
  'timeouts-request': (w) => (svc(w).timeouts = { request: '5s' }),
  'duration-range': (w) => (svc(w).timeouts = { connect: '2s', idle: '1h' }),
  'outlier-detection': (w) => {
    svc(w).outlierDetection = { maxEjectionPercent: 100 };
    svc(w).retries = retry5xx;
  },
  'outlier-5xx-without-retries': (w) => (svc(w).outlierDetection = { maxEjectionPercent: 100 }),
  'outlier-max-ejection-percent': (w) => {
    svc(w).outlierDetection = { maxEjectionPercent: 50 };
    svc(w).retries = retry5xx;
  },
  'limit-max-connections': (w) => (svc(w).connectionLimits = { maxConnections: 10 }),
  'limit-max-pending-requests': (w) => (svc(w).connectionLimits = { maxPendingRequests: 5 }),
  'limit-max-requests': (w) => (svc(w).connectionLimits = { maxRequests: 10 }),
  'protocol-http2': (w) => (svc(w).protocol = 'http2'),
  'protocol-grpc': (w) => (svc(w).protocol = 'grpc'),
  'protocol-tcp': (w) => (svc(w).protocol = 'tcp'),
  'egress-tls-sni': egressTo('api.example.com'),
  'egress-wildcard': egressTo('*.example.com'),
  'egress-http-host': egressTo('api.example.com'),
  'egress-via-gateway': (w) => {
    egressTo('api.example.com')(w);
    w.spec.egress = { viaGateway: true };
  },
  'egress-system-resolver': (w) => {
    w.spec.dns = { resolvers: [] };
    egressTo('api.example.com')(w);
  },
  'ingress-sni': ingress(),
  'ingress-redirect': ingress(),
  'ingress-wildcard-host': (w) => {
    w.spec.ingress = { hosts: { '*.shop.test': { routes: [{ pathPrefix: '/', service: 'svc' }] } } };
  },
  'ingress-trust-forwarded-proto': ingress({ trustForwardedProto: true }),
  'access-log': (w) => (w.spec.telemetry = { accessLog: { enabled: true } }),
  'access-log-file': (w) => (w.spec.telemetry = { accessLog: { path: '/var/log/meshc/access.log' } }),
  'tracing-otlp': (w) => (w.spec.telemetry = { tracing: { endpoint: 'otel-collector.observability:4317' } }),
};

const CHECKS: Record<string, (m: Mesh) => Finding[]> = { nginx: checkNginx, haproxy: checkHaproxy };
const target = (name: string) => TARGETS.find((t) => t.name === name)!;

describe('capability matrix', () => {
  it('has a cell for every target in every row, and unique ids', () => {
    expect(new Set(FEATURES.map((f) => f.id)).size).toBe(FEATURES.length);
    const columns = TARGETS.filter((t) => t.capabilities);
    expect(columns.map((t) => t.name)).toEqual(['envoy', 'nginx', 'haproxy', 'k8s', 'istio']);
    for (const t of columns) expect(Object.keys(t.capabilities!.cells).sort()).toEqual(FEATURES.map((f) => f.id).sort());
    for (const f of FEATURES) for (const t of columns) expect(['yes', 'no', 'partial']).toContain(cellOf(t, f.id).support);
  });

  it('renders one Markdown row per feature', () => {
    const lines = renderCapabilityMatrix(TARGETS).trimEnd().split('\n');
    expect(lines[0]).toBe('| feature | Envoy | nginx | HAProxy | Kubernetes | Istio |');
    expect(lines).toHaveLength(FEATURES.length + 2);
    expect(lines[2]).toMatch(/^\| `loadBalancing.policy: round_robin` \| yes: /);
  });

  it("a value above a target's limit is a target-limit error naming the target, where the value is written", () => {
    const at = (f: string) => `/spec/services/svc/${f}`;
    const limits = (check: (m: Mesh) => Finding[], edit: (w: Written) => void) =>
      check(meshOf(edit)).filter((x) => x.code === 'target-limit').map((x) => [x.pointer, x.message]);
    expect(limits(checkNginx, (w) => (svc(w).connectionLimits = { maxRequests: 70_000 }))).toEqual([
      [at('connectionLimits/maxRequests'), 'nginx accepts connectionLimits.maxRequests up to 65535; this is 70000'],
    ]);
    expect(limits(checkNginx, (w) => (svc(w).connectionLimits = { maxRequests: 65_535 }))).toEqual([]);
    expect(limits(checkHaproxy, (w) => (svc(w).connectionLimits = { maxConnections: 2_147_483_648, maxPendingRequests: 2_147_483_647 }))).toEqual([
      [at('connectionLimits/maxConnections'), 'haproxy accepts connectionLimits.maxConnections up to 2147483647; this is 2147483648'],
    ]);
    expect(limits(checkHaproxy, (w) => (svc(w).timeouts = { connect: '2147483648ms', idle: '596h' }))).toEqual([
      [at('timeouts/connect'), 'haproxy accepts timeouts.connect up to 2147483647ms (24d 20h 31m 23s); this is 2147483648ms (24d 20h 31m 23s)'],
    ]);
    expect(limits(checkNginx, (w) => (svc(w).timeouts = { connect: '2147483648ms' }))).toEqual([]);
  });

  it('the base sample mesh needs nothing any target lacks', () => {
    const mesh = meshOf(() => {});
    for (const check of Object.values(CHECKS)) expect(check!(mesh)).toEqual([]);
  });

  it('every row a mesh can use has a sample (rows without one describe how targets work)', () => {
    for (const f of FEATURES) {
      if (SAMPLES[f.id]) expect(f.uses(meshOf(SAMPLES[f.id])).length, f.id).toBeGreaterThan(0);
      else for (const s of Object.values(SAMPLES)) expect(f.uses(meshOf(s)), `${f.id} has no sample`).toEqual([]);
    }
  });

  for (const [name, check] of Object.entries(CHECKS)) {
    describe(name, () => {
      for (const f of FEATURES.filter((x) => SAMPLES[x.id])) {
        const cell = cellOf(target(name), f.id);
        it(`${f.id}: ${cell.support}`, () => {
          const mesh = meshOf(SAMPLES[f.id]);
          const findings = check(mesh);
          const uses = f.uses(mesh);
          if (cell.support === 'yes') {
            // Nothing at this row's places, except what other rows (of the same sample) explain.
            const explained = new Set(unsupported(target(name), mesh).map((x) => `${x.pointer} ${x.message}`));
            const here = findings.filter((x) => uses.some((u) => u.pointer === x.pointer) && !explained.has(`${x.pointer} ${x.message}`));
            expect(here).toEqual([]);
            expect(findings.every((x) => explained.has(`${x.pointer} ${x.message}`))).toBe(true);
            return;
          }
          const code = cell.support === 'no' ? 'unsupported-feature' : 'partially-supported-feature';
          const severity = cell.support === 'no' ? 'error' : 'warning';
          for (const u of uses) {
            const mine = findings.filter((x) => x.pointer === u.pointer && x.message.includes(u.field));
            expect(mine, `${f.id} at ${u.pointer}`).toHaveLength(1);
            expect(mine[0]).toMatchObject({ code, severity });
            expect(mine[0].message.startsWith(`${name} `)).toBe(true);
            // A use may narrow the cell's hint to what this mesh still lacks (the cell names every step).
            if (cell.hint) expect(cell.hint).toContain(mine[0].hint);
          }
          // And no error beyond what the matrix explains for this sample.
          const errorsExpected = FEATURES.filter((g) => cellOf(target(name), g.id).support === 'no').flatMap((g) => g.uses(mesh)).length;
          expect(findings.filter((x) => x.severity === 'error')).toHaveLength(errorsExpected);
        });
      }
    });
  }
});
