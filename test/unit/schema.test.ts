import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM script without types
import { generateWrittenMeshTypes } from '../../scripts/gen-types.mjs';
import { loadSchema, validateSchema } from '../../src/schema/validate.js';
import { parse } from 'yaml';
import { generateMeshValidator } from '../../scripts/gen-validator.mjs';

type Json = Record<string, unknown>;

/** Every subschema with `properties`, with its path. */
function objects(node: unknown, path = '#'): [string, Json][] {
  if (!node || typeof node !== 'object') return [];
  const out: [string, Json][] = [];
  const n = node as Json;
  if (n.properties) out.push([path, n]);
  for (const [k, v] of Object.entries(n)) {
    if (Array.isArray(v)) v.forEach((x, i) => out.push(...objects(x, `${path}/${k}/${i}`)));
    else if (v && typeof v === 'object') out.push(...objects(v, `${path}/${k}`));
  }
  return out;
}

describe('schemas/mesh.schema.json', () => {
  const schema = loadSchema();

  it('is JSON Schema 2020-12 with an $id', () => {
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.$id).toMatch(/^https:\/\//);
  });

  it('closes every object (additionalProperties: false) and describes every property', () => {
    const problems: string[] = [];
    for (const [path, obj] of objects(schema)) {
      if (obj.additionalProperties !== false) problems.push(`${path}: additionalProperties is not false`);
      for (const [name, prop] of Object.entries(obj.properties as Json)) {
        const p = prop as Json;
        const described = typeof p.description === 'string' && p.description.length > 10;
        const ref = typeof p.$ref === 'string' ? (schema.$defs as Json)[(p.$ref as string).replace('#/$defs/', '')] as Json : undefined;
        if (!described && !(ref && typeof ref.description === 'string')) problems.push(`${path}/properties/${name}: no description`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('matches the committed TypeScript types (run `npm run gen:types` after editing the schema)', async () => {
    const generated = await generateWrittenMeshTypes();
    const committed = readFileSync(new URL('../../src/schema/written-mesh.ts', import.meta.url), 'utf8');
    expect(committed).toBe(generated);
  });

  it('matches the committed standalone validator (run `npm run gen:types` after editing the schema)', () => {
    const committed = readFileSync(new URL('../../schemas/mesh.validate.cjs', import.meta.url), 'utf8');
    expect(committed).toBe(generateMeshValidator());
  });

  it('accepts the core shape of the design document', () => {
    const design = parse(`
apiVersion: meshc.dev/v1
kind: Mesh
metadata: { name: shop }
spec:
  trustDomain: shop.example
  namespace: shop
  pki: { keyAlgorithm: ecdsa-p256, caValidityDays: 3650, leafValidityDays: 90, renewBeforeDays: 30 }
  dns: { resolvers: ["10.96.0.10:53"] }
  services:
    frontend: { port: 8080, protocol: http, image: ghcr.io/acme/frontend:1.4.2, replicas: 2, endpoints: ["127.0.0.1:15443"], upstreams: [catalog, cart], egress: [api.segment.io] }
    catalog: { port: 8080, allowFrom: [frontend], loadBalancing: { policy: least_request, choiceCount: 2 } }
    cart: { port: 8080, allowFrom: [frontend], loadBalancing: { policy: ring_hash, hashOn: { header: x-user-id } } }
    payments: { port: 9090, protocol: grpc, allowFrom: [cart], egress: [api.stripe.com, "*.stripe.network"] }
  egress: { allow: ["*.googleapis.com"] }
  ingress:
    hosts:
      shop.example.com:
        tls: generated
        redirectHttp: true
        routes: [{ pathPrefix: /api/cart, service: cart }, { pathPrefix: /, service: frontend }]
`);
    expect(validateSchema(design).findings).toEqual([]);
  });

  it('reports every schema problem at once, with did-you-mean for typos', () => {
    const r = validateSchema({ apiVersion: 'meshc.dev/v1', kind: 'Mesh', metadata: { name: 'x' }, spec: { trustDomain: 'x.y', namespace: 'x', services: { a: { port: 'x', protocl: 'http' } } } });
    expect(r.findings.map((f) => [f.code, f.pointer, f.hint ?? ''])).toEqual(
      expect.arrayContaining([
        ['wrong-type', '/spec/services/a/port', 'A TCP port.'],
        ['unknown-field', '/spec/services/a/protocl', 'did you mean "protocol"?'],
      ]),
    );
  });
});
