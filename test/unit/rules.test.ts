import { describe, expect, it } from 'vitest';
import { normalize, derivedLocalPort, DERIVED_PORT_BASE, DERIVED_PORT_RANGE } from '../../src/model/normalize.js';
import { runRules, RULES } from '../../src/model/rules/index.js';
import { domainProblem } from '../../src/model/rules/domains.js';
import type { WrittenMesh } from '../../src/schema/written-mesh.js';

function mesh(services: WrittenMesh['spec']['services'], extra: Partial<WrittenMesh['spec']> = {}): WrittenMesh {
  return { apiVersion: 'meshc.dev/v1', kind: 'Mesh', metadata: { name: 't' }, spec: { trustDomain: 't.example', namespace: 't', services, ...extra } };
}
function findings(w: WrittenMesh) {
  return runRules({ written: w, mesh: normalize(w) }).map((f) => ({ code: f.code, severity: f.severity, pointer: f.pointer, hint: f.hint }));
}

describe('rules', () => {
  it('accepts a consistent mesh with no findings', () => {
    expect(findings(mesh({ a: { port: 1000, upstreams: ['b'] }, b: { port: 1000, allowFrom: ['a'] } }))).toEqual([]);
  });

  it('names unknown services with a did-you-mean', () => {
    const f = findings(mesh({ frontend: { port: 1, upstreams: ['catalgo'] }, catalog: { port: 1, allowFrom: ['frontent'] } }, { ingress: { hosts: { 'a.example.com': { routes: [{ pathPrefix: '/', service: 'catalogue' }] } } } }));
    expect(f.filter((x) => x.code === 'unknown-service')).toEqual([
      { code: 'unknown-service', severity: 'error', pointer: '/spec/services/frontend/upstreams/0', hint: 'did you mean "catalog"?' },
      { code: 'unknown-service', severity: 'error', pointer: '/spec/services/catalog/allowFrom/0', hint: 'did you mean "frontend"?' },
      { code: 'unknown-service', severity: 'error', pointer: '/spec/ingress/hosts/a.example.com/routes/0/service', hint: 'did you mean "catalog"?' },
    ]);
  });

  it('warns (does not fail) when an upstream does not allow its caller', () => {
    const f = findings(mesh({ a: { port: 1, upstreams: ['b'] }, b: { port: 1 } }));
    expect(f).toEqual([expect.objectContaining({ code: 'caller-not-allowed', severity: 'warning', pointer: '/spec/services/a/upstreams/0' })]);
  });

  it('treats an ingress route as the permission for the gateway', () => {
    const w = mesh({ web: { port: 8080 } }, { ingress: { hosts: { 'shop.example.com': { routes: [{ pathPrefix: '/', service: 'web' }] } } } });
    expect(findings(w)).toEqual([]);
    expect(normalize(w).services[0].callers).toEqual(['ingress-gateway']);
  });

  it('finds self calls, duplicate upstreams, reserved names and reserved callers', () => {
    const codes = findings(mesh({ a: { port: 1, upstreams: ['a', 'b', 'b'], allowFrom: ['a', 'ingress-gateway'] }, b: { port: 1, allowFrom: ['a'] }, 'egress-gateway': { port: 1 } })).map((f) => f.code);
    expect(codes).toEqual(expect.arrayContaining(['self-call', 'duplicate-upstream', 'reserved-name', 'reserved-caller']));
  });

  it('requires a hash key for ring_hash and maglev, and refuses a key for other policies', () => {
    expect(findings(mesh({ a: { port: 1, loadBalancing: { policy: 'maglev' } } }))).toMatchObject([{ code: 'hash-without-key', pointer: '/spec/services/a/loadBalancing/policy' }]);
    expect(findings(mesh({ a: { port: 1, loadBalancing: { policy: 'random', hashOn: { sourceIp: true } } } }))).toMatchObject([{ code: 'hash-key-unused' }]);
  });

  it('finds duplicate routes and port conflicts, and suggests pinning a derived port', () => {
    const w = mesh(
      { a: { port: 15443 }, web: { port: 8080, upstreams: [{ service: 'a', localPort: 8080 }] } },
      { ingress: { hosts: { 'x.example.com': { routes: [{ pathPrefix: '/', service: 'web' }, { pathPrefix: '/', service: 'web' }] } } } },
    );
    const codes = findings(w).map((f) => f.code);
    expect(codes.filter((c) => c === 'port-conflict')).toHaveLength(2);
    expect(codes).toContain('duplicate-route');
  });

  it('finds a metrics port that clashes with a workload listener, and none when metrics are off', () => {
    const clash = mesh({ a: { port: 8080, sidecar: { probePort: 15090 } } });
    expect(findings(clash)).toMatchObject([{ code: 'port-conflict', pointer: '/spec/telemetry/metrics/port' }]);
    expect(findings(mesh({ a: { port: 9100 } }, { telemetry: { metrics: { port: 9100 } } }))).toMatchObject([{ code: 'port-conflict', pointer: '/spec/telemetry/metrics/port' }]);
    expect(findings(mesh({ a: { port: 8080, sidecar: { probePort: 15090 } } }, { telemetry: { metrics: { enabled: false } } }))).toEqual([]);
    expect(normalize(mesh({ a: { port: 1 } })).telemetry.metrics).toEqual({ enabled: true, port: 15090, path: '/metrics', podMonitor: false });
  });

  it('accepts only exact names and leading wildcards as domains', () => {
    for (const ok of ['api.stripe.com', '*.googleapis.com', '*.a.b.example.org', 'x-1.example.io']) expect(domainProblem(ok), ok).toBeUndefined();
    for (const bad of ['*', '*.com', 'api.*.com', '*w.example.com', 'Example.com', 'example.com.', '10.0.0.1', 'localhost', '-a.example.com', 'a..b.com'])
      expect(domainProblem(bad), bad).toBeDefined();
  });

  it('derives upstream ports from the upstream name only, so they stay stable', () => {
    const before = normalize(mesh({ a: { port: 1, upstreams: ['cart', 'catalog'] }, cart: { port: 1 }, catalog: { port: 1 } }));
    const after = normalize(mesh({ a: { port: 1, upstreams: ['cart', 'catalog', 'new'] }, cart: { port: 1 }, catalog: { port: 1 }, new: { port: 1 }, zzz: { port: 2 } }));
    const ports = (m: typeof before) => Object.fromEntries(m.services[0].upstreams.map((u) => [u.service, u.localPort]));
    expect(ports(after)).toMatchObject(ports(before));
    for (const n of ['cart', 'catalog', 'x']) {
      expect(derivedLocalPort(n)).toBeGreaterThanOrEqual(DERIVED_PORT_BASE);
      expect(derivedLocalPort(n)).toBeLessThan(DERIVED_PORT_BASE + DERIVED_PORT_RANGE);
    }
  });

  it('lists every rule once', () => {
    expect(new Set(RULES).size).toBe(RULES.length);
  });
});

describe('normalize', () => {
  it('fills defaults, sorts, and converts durations', () => {
    const m = normalize(mesh({ z: { port: 1, timeouts: { connect: '250ms', request: '2m' }, retries: { attempts: 2, perTryTimeout: '1s' } }, a: { port: 2, endpoints: ['10.0.0.2:1', { address: 'b.example:2', weight: 3 }] } }, { egress: { allow: ['b.example.com', 'a.example.com'] } }));
    expect(m.services.map((s) => s.name)).toEqual(['a', 'z']);
    expect(m.services[1].timeouts).toEqual({ connectMs: 250, requestMs: 120000 });
    expect(m.services[1].retries).toEqual({ attempts: 2, perTryTimeoutMs: 1000, retryOn: ['5xx', 'connect-failure', 'reset'] });
    expect(m.services[0].endpoints).toEqual([
      { host: '10.0.0.2', port: 1, weight: 1, isIp: true },
      { host: 'b.example', port: 2, weight: 3, isIp: false },
    ]);
    expect(m.services[1].endpoints).toEqual([{ host: 'z.t.svc.cluster.local', port: 15443, weight: 1, isIp: false }]);
    expect(m.services[1].egress).toEqual(['a.example.com', 'b.example.com']);
    expect(m.services[1].spiffeId).toBe('spiffe://t.example/ns/t/sa/z');
    expect(m.pki).toEqual({ keyAlgorithm: 'ecdsa-p256', caValidityDays: 3650, leafValidityDays: 90, renewBeforeDays: 30 });
  });
});
