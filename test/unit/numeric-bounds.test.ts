import { describe, expect, it } from 'vitest';
import { validateSchema } from '../../src/schema/validate.js';
import { normalize } from '../../src/model/normalize.js';
import { runRules } from '../../src/model/rules/index.js';
import type { WrittenMesh } from '../../src/schema/written-mesh.js';

/** Every numeric field of mesh.yaml has an upper bound the proxies accept (the schema's, or a rule's). */
function withApi(api: Record<string, unknown>, spec: Record<string, unknown> = {}): unknown {
  return {
    apiVersion: 'meshc.dev/v1',
    kind: 'Mesh',
    metadata: { name: 'b' },
    spec: { trustDomain: 'b.example', namespace: 'b', services: { web: { port: 8080, upstreams: ['api'] }, api: { port: 8080, allowFrom: ['web'], ...api } }, ...spec },
  };
}
const schemaFindings = (m: unknown) => validateSchema(m).findings.map((f) => [f.code, f.pointer]);

describe('numeric bounds', () => {
  it('connection limits stop at 4294967295 (Envoy UInt32): 1e30 is refused', () => {
    expect(schemaFindings(withApi({ connectionLimits: { maxConnections: 4_294_967_295, maxRequests: 4_294_967_295, maxPendingRequests: 4_294_967_295 } }))).toEqual([]);
    expect(schemaFindings(withApi({ connectionLimits: { maxConnections: 1e30, maxRequests: 4_294_967_296, maxPendingRequests: 4_294_967_296 } }))).toEqual([
      ['invalid-value', '/spec/services/api/connectionLimits/maxConnections'],
      ['invalid-value', '/spec/services/api/connectionLimits/maxPendingRequests'],
      ['invalid-value', '/spec/services/api/connectionLimits/maxRequests'],
    ]);
  });

  it('ports inside host:port strings are 1-65535', () => {
    expect(schemaFindings(withApi({ endpoints: ['127.0.0.2:65535', '127.0.0.3:1'] }, { dns: { resolvers: ['127.0.0.1:53'] } }))).toEqual([]);
    for (const bad of ['127.0.0.2:65536', '127.0.0.2:99999', '127.0.0.2:0', '127.0.0.2:00080'])
      // An endpoint is a string or an object: the finding is that it matches neither form.
      expect(schemaFindings(withApi({ endpoints: [bad] })), bad).toEqual([['invalid-value', '/spec/services/api/endpoints/0']]);
    expect(schemaFindings(withApi({}, { dns: { resolvers: ['127.0.0.1:70000'] } }))).toEqual([['invalid-format', '/spec/dns/resolvers/0']]);
  });

  it('durations are above zero (Envoy refuses a 0s connect timeout, HAProxy `inter 0`)', () => {
    expect(schemaFindings(withApi({ timeouts: { connect: '1ms' } }))).toEqual([]);
    for (const bad of ['0s', '0ms', '00h']) expect(schemaFindings(withApi({ timeouts: { connect: bad } })), bad).toEqual([['invalid-format', '/spec/services/api/timeouts/connect']]);
  });

  it('a duration past what Envoy and Istio hold (64-bit nanoseconds) is duration-too-long', () => {
    const rules = (api: Record<string, unknown>) => {
      const w = validateSchema(withApi(api)).mesh as WrittenMesh;
      return runRules({ written: w, mesh: normalize(w) }).filter((f) => f.code === 'duration-too-long').map((f) => [f.pointer, f.message]);
    };
    expect(rules({ timeouts: { idle: '9223372035999ms' } })).toEqual([]);
    expect(rules({ timeouts: { idle: '9223372036s', request: '99999999999999999999h' } })).toEqual([
      ['/spec/services/api/timeouts/request', 'timeouts.request is about 3.60e+26ms; meshc accepts durations up to 9223372035999ms (292y 98d 23h 47m): Envoy and Istio hold them as 64-bit nanoseconds'],
      ['/spec/services/api/timeouts/idle', 'timeouts.idle is 9223372036000ms (292y 98d 23h 47m); meshc accepts durations up to 9223372035999ms (292y 98d 23h 47m): Envoy and Istio hold them as 64-bit nanoseconds'],
    ]);
  });
});
