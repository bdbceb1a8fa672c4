/**
 * Scenario: every numeric field of mesh.yaml at the largest (and the smallest) value meshc accepts
 * for this target compiles, and the real proxy accepts the result; one past a target's limit is a
 * `target-limit` diagnostic naming it. The limits come from the schema and the capability matrix,
 * so this proves the matrix's numbers with the real binaries.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { build } from '../../../src/pipeline/build.js';
import { validate } from '../../../src/pipeline/validate.js';
import { cellOf } from '../../../src/targets/features.js';
import { TARGETS } from '../../../src/targets/registry.js';
import { MAX_DURATION_MS } from '../../../src/model/durations.js';
import { tempDir } from '../../harness/index.js';
import type { ProxyDriver } from '../drivers/driver.js';

const SCHEMA_COUNT_MAX = 4_294_967_295;

/** A target's cell for a capability row. */
const cell = (target: string, row: string) => cellOf(TARGETS.find((t) => t.name === target)!, row);

/** The largest value `target` takes for a capability row: its cell's max, or the schema's. */
function largest(target: ProxyDriver['name'], row: string, schemaMax: number): number {
  return cell(target, row).max ?? schemaMax;
}

/** A mesh with every numeric field at its bound for `target`. */
function boundaryMesh(target: ProxyDriver['name'], edge: 'max' | 'min'): string {
  const hi = edge === 'max';
  const ms = `${hi ? largest(target, 'duration-range', MAX_DURATION_MS) : 1}ms`;
  const queue = cell(target, 'limit-max-pending-requests').support === 'no' ? 0 : hi ? largest(target, 'limit-max-pending-requests', SCHEMA_COUNT_MAX) : 1;
  const port = (p: number) => (hi ? 65_535 - p : 1 + p);
  return `apiVersion: meshc.dev/v1
kind: Mesh
metadata:
  name: limits
spec:
  trustDomain: limits.example
  namespace: limits
  pki: { caValidityDays: ${hi ? 36500 : 1}, leafValidityDays: ${hi ? 3650 : 1}, renewBeforeDays: 0 }
  dns:
    resolvers: ["127.0.0.1:${port(0)}"]
  sidecar: { inboundPort: ${port(1)}, probePort: ${port(2)}, adminPort: ${port(3)}, egressHttpPort: ${port(4)}, egressTlsPort: ${port(5)} }
  services:
    web:
      port: ${port(6)}
      replicas: ${hi ? 1000 : 0}
      endpoints: ["127.0.0.1:${port(7)}"]
      upstreams: [{ service: api, localPort: ${port(8)} }]
    api:
      port: ${port(9)}
      allowFrom: [web]
      endpoints: [{ address: "127.0.0.2:${port(10)}", weight: ${hi ? 128 : 1} }, { address: "127.0.0.3:${port(11)}", weight: 1 }]
      loadBalancing: { policy: least_request, choiceCount: ${hi && cell(target, 'lb-least-request-choice-count').support !== 'no' ? 100 : 2} }
      retries: { attempts: ${hi ? 10 : 0}${hi ? `, perTryTimeout: ${ms}` : ''} }
      timeouts: { connect: ${ms}, request: ${ms}, idle: ${ms} }
      outlierDetection: { consecutive5xx: ${hi ? 1000 : 1}, interval: ${ms}, baseEjectionTime: ${ms}, maxEjectionPercent: ${hi ? 100 : 0} }
      connectionLimits:
        maxConnections: ${hi ? largest(target, 'limit-max-connections', SCHEMA_COUNT_MAX) : 1}
        maxRequests: ${hi ? largest(target, 'limit-max-requests', SCHEMA_COUNT_MAX) : 1}
        maxPendingRequests: ${queue}
  ingress:
    httpPort: ${port(12)}
    httpsPort: ${port(13)}
    adminPort: ${port(14)}
    hosts:
      limits.example.com:
        routes:
          - { pathPrefix: /, service: api, timeout: ${ms} }
`;
}

export function limitsScenario(driver: ProxyDriver): void {
  describe.skipIf(!driver.available)(`${driver.name}: numeric fields at their bounds`, () => {
    for (const edge of ['max', 'min'] as const) {
      it(`every numeric field at its ${edge}imum builds, and ${driver.name} accepts every file`, async () => {
        const dir = await tempDir(`limits-${edge}`);
        try {
          const file = path.join(dir.path, 'mesh.yaml');
          await writeFile(file, boundaryMesh(driver.name, edge));
          const out = path.join(dir.path, 'out');
          const res = await build({ file, out, state: path.join(dir.path, 'state'), targets: [driver.name] });
          expect(res.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.line}:${d.col} ${d.code}: ${d.message}`)).toEqual([]);
          expect(res.ok).toBe(true);
          const failures: string[] = [];
          for (const w of ['web', 'api', 'ingress-gateway', 'egress-gateway']) {
            const v = await driver.validate(out, w);
            if (!v.ok) failures.push(`${w}:\n${v.output}`);
          }
          expect(failures).toEqual([]);
        } finally {
          await dir.cleanup();
        }
      });
    }

    it(`one past ${driver.name}'s own limits is a target-limit diagnostic naming ${driver.name}`, async () => {
      const over: [string, string, number][] = [];
      for (const [row, field] of [
        ['limit-max-connections', 'maxConnections'],
        ['limit-max-requests', 'maxRequests'],
        ['limit-max-pending-requests', 'maxPendingRequests'],
        ['duration-range', 'connect'],
      ] as const) {
        // Only limits below what meshc accepts for every target (those are schema errors instead).
        const max = cell(driver.name, row).max;
        if (max !== undefined && max < (row === 'duration-range' ? MAX_DURATION_MS : SCHEMA_COUNT_MAX)) over.push([row, field, max + 1]);
      }
      if (over.length === 0) return; // this proxy takes everything the schema allows
      const dir = await tempDir('limits-over');
      try {
        let text = boundaryMesh(driver.name, 'max');
        for (const [, field, value] of over)
          text = field === 'connect' ? text.replace(/connect: [0-9]+ms/, `connect: ${value}ms`) : text.replace(new RegExp(`${field}: [0-9]+`), `${field}: ${value}`);
        const file = path.join(dir.path, 'mesh.yaml');
        await writeFile(file, text);
        const r = await validate({ file, targets: [driver.name] });
        expect(r.ok).toBe(false);
        const limits = r.diagnostics.filter((d) => d.code === 'target-limit');
        expect(limits).toHaveLength(over.length);
        for (const d of limits) expect(d.message).toMatch(new RegExp(`^${driver.name} accepts `));
      } finally {
        await dir.cleanup();
      }
    });
  });
}
