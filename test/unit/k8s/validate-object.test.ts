/** The validation helper itself must fail loudly: schema errors, unknown fields, unmapped kinds. */
import { describe, expect, it } from 'vitest';
import { validateObject } from './support.js';

const deployment = (spec: object) => ({ path: 'k8s/x.yaml', obj: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec } });
const okSpec = { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'a', image: 'a' }] } } };

describe('validateObject', () => {
  it('accepts a valid object', () => {
    expect(() => validateObject(deployment(okSpec))).not.toThrow();
  });
  it('rejects a schema error (missing required field, wrong enum)', () => {
    expect(() => validateObject(deployment({ template: okSpec.template }))).toThrow(/selector/);
    const dr = { apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule', metadata: { name: 'x' }, spec: { host: 'a', trafficPolicy: { loadBalancer: { simple: 'FASTEST' } } } };
    expect(() => validateObject({ path: 'istio/x.yaml', obj: dr })).toThrow(/allowed values/);
  });
  it('rejects an unknown field the schema would let through', () => {
    const spec = { ...okSpec, template: { ...okSpec.template, spec: { containers: [{ name: 'a', image: 'a', readinesProbe: {} }] } } };
    expect(() => validateObject(deployment(spec))).toThrow(/readinesProbe/);
  });
  it('rejects an unmapped kind', () => {
    expect(() => validateObject({ path: 'k8s/x.yaml', obj: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } } })).toThrow(/no schema model mapped/);
  });
});
