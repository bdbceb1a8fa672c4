/**
 * `spec.telemetry` access logs and tracing in every target's output: defaults, off, a file path,
 * an OTLP collector. (That the lines are right is proven with the real proxies in
 * test/integration/telemetry.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { normalize } from '../../src/model/normalize.js';
import type { WrittenMesh } from '../../src/schema/written-mesh.js';
import { TARGETS } from '../../src/targets/registry.js';
import { fakeCerts, sampleWritten } from './envoy/sample.js';

function outputs(edit: (w: WrittenMesh) => void = () => {}): Map<string, string> {
  const w = sampleWritten();
  edit(w);
  const mesh = normalize(w);
  const certs = fakeCerts(mesh);
  const files = new Map<string, string>();
  for (const t of TARGETS) for (const f of t.emit(mesh, certs)) files.set(f.path, f.content);
  return files;
}

const of = (files: Map<string, string>, prefix: string) => [...files].filter(([p]) => p.startsWith(prefix)).map(([, c]) => c);
/** Envoy bootstraps (not the SDS files beside them). */
const bootstraps = (files: Map<string, string>) => of(files, 'envoy/').filter((c) => c.includes('static_resources:'));

describe('telemetry', () => {
  it('defaults: access logs on, to standard output, no tracer', () => {
    const mesh = normalize(sampleWritten());
    expect(mesh.telemetry.accessLog).toMatchObject({ enabled: true, path: '/dev/stdout', written: false });
    expect(mesh.telemetry.tracing).toBeUndefined();
    const files = outputs();
    const boots = bootstraps(files);
    expect(boots.length).toBeGreaterThan(3);
    for (const c of boots) {
      expect(c).toContain('envoy.access_loggers.stdout');
      expect(c).not.toContain('envoy.tracers.opentelemetry');
    }
    // Only the ingress gateway starts a trace (Lua, without a tracer).
    expect(of(files, 'envoy/').filter((c) => c.includes('envoy.filters.http.lua'))).toHaveLength(1);
    expect(files.get('envoy/ingress-gateway.yaml')).toContain('envoy.filters.http.lua');
    for (const c of of(files, 'nginx/')) expect(c).toMatch(/access_log \/dev\/stdout meshc_/);
    for (const c of of(files, 'haproxy/').filter((x) => !x.includes('crt-list'))) expect(c).toContain('log stdout format raw local0 info');
  });

  it('enabled: false writes no access log anywhere, and the trace context is still started', () => {
    const files = outputs((w) => (w.spec.telemetry = { accessLog: { enabled: false } }));
    for (const c of bootstraps(files)) expect(c).not.toContain('access_log');
    for (const c of of(files, 'nginx/')) expect(c).not.toMatch(/access_log \/|log_format/);
    for (const c of of(files, 'haproxy/')) expect(c).not.toMatch(/log-format|log stdout/);
    expect(files.get('envoy/ingress-gateway.yaml')).toContain('traceparent');
    expect(files.get('nginx/ingress-gateway.conf')).toContain('proxy_set_header traceparent $meshc_traceparent;');
    expect(files.get('haproxy/ingress-gateway.cfg')).toContain('http-request set-header traceparent');
  });

  it('a file path: Envoy and nginx write there', () => {
    const files = outputs((w) => (w.spec.telemetry = { accessLog: { path: '/var/log/mesh/access.log' } }));
    const frontend = parse(files.get('envoy/frontend.yaml')!);
    const logs = JSON.stringify(frontend).match(/"path":"\/var\/log\/mesh\/access.log"/g) ?? [];
    expect(logs.length).toBeGreaterThan(0);
    expect(files.get('envoy/frontend.yaml')).toContain('envoy.access_loggers.file');
    expect(files.get('nginx/frontend.conf')).toContain('access_log /var/log/mesh/access.log meshc_outbound;');
  });

  it('tracing: every Envoy connection manager exports spans as its workload, through one OTLP cluster', () => {
    const files = outputs((w) => (w.spec.telemetry = { tracing: { endpoint: 'otel.observability:4317', samplingPercent: 5 } }));
    const frontend = parse(files.get('envoy/frontend.yaml')!);
    const otlp = frontend.static_resources.clusters.find((c: { name: string }) => c.name === 'meshc|otlp');
    expect(otlp).toMatchObject({ type: 'STRICT_DNS', load_assignment: { endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'otel.observability', port_value: 4317 } } } }] }] } });
    const tracers = JSON.stringify(frontend).match(/"service_name":"[^"]+"/g) ?? [];
    expect(new Set(tracers)).toEqual(new Set(['"service_name":"frontend"']));
    expect(tracers.length).toBeGreaterThanOrEqual(3); // inbound and one per HTTP upstream
    expect(files.get('envoy/frontend.yaml')).toContain('random_sampling: { value: 5 }');
    expect(files.get('envoy/ingress-gateway.yaml')).toContain('service_name: ingress-gateway');
    // The tracer starts the trace: no Lua filter then.
    expect(files.get('envoy/ingress-gateway.yaml')).not.toContain('envoy.filters.http.lua');
    // The Kubernetes target mounts the same bootstraps.
    expect(of(files, 'k8s/').some((c) => c.includes('envoy.tracers.opentelemetry') && c.includes('service_name: frontend'))).toBe(true);
  });
});
