import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { explain } from '../../src/explain/index.js';
import { placeExplanation } from '../../src/explain/place.js';
import { readTests, runStatic } from '../../src/explain/tests.js';
import { validate } from '../../src/pipeline/validate.js';
import { parseMeshText } from '../../src/source/parse.js';
import { validateSchema } from '../../src/schema/validate.js';
import { normalize } from '../../src/model/normalize.js';
import { fixturePath, VALID_FIXTURES } from '../support/build.js';

async function policy(name: string) {
  const file = fixturePath(name);
  const v = await validate({ file, targets: [] });
  if (!v.ok || !v.mesh || !v.written || !v.source) throw new Error(`${name} is invalid`);
  return { file, mesh: v.mesh, written: v.written, source: v.source, lines: readFileSync(file, 'utf8').split('\n') };
}

/** 1-based line:col of the first line matching `re` after the line matching `after` (or from the top). */
function position(lines: string[], re: RegExp, after?: RegExp): string {
  const start = after ? lines.findIndex((l) => after.test(l)) : 0;
  const i = lines.findIndex((l, k) => k >= start && re.test(l));
  if (i < 0) throw new Error(`no line matches ${re}`);
  const m = re.exec(lines[i])!;
  return `${i + 1}:${m.index + 1 + (m[0].length - m[0].trimStart().length)}`;
}

const at = (r: { line: number; col: number }) => `${r.line}:${r.col}`;

describe('meshc explain (the engine)', () => {
  it('an allowed service call: the upstream entry, the allowFrom entry and the callee load balancing, each at its place', async () => {
    const p = await policy('shop');
    const e = placeExplanation(p.source, explain(p.mesh, p.written, 'frontend', 'catalog'));
    expect(e.decision).toBe('allow');
    expect(e.reasons.map((r) => r.code)).toEqual(['upstream', 'allow-from', 'load-balancing']);
    expect(at(e.reasons[0])).toBe(position(p.lines, /catalog/, /upstreams: \[catalog, cart/));
    expect(at(e.reasons[1])).toBe(position(p.lines, /frontend/, /allowFrom: \[frontend, search, recommendations\]/));
    expect(at(e.reasons[2])).toBe(position(p.lines, /least_request/));
    expect(e.reasons[2].message).toContain('least_request (choice of 2)');
    expect(e.fixes).toEqual([]);
  });

  it('a refused service call names the allowFrom list and the nearest change', async () => {
    const p = await policy('shop');
    const e = placeExplanation(p.source, explain(p.mesh, p.written, 'catalog', 'cart'));
    expect(e.decision).toBe('deny');
    expect(e.refusals).toEqual(['caller-has-no-upstream', 'not-allowed']);
    const cartAllow = position(p.lines, /\[frontend, checkout\]/, /^ {4}cart:/);
    // catalog lists inventory only, and cart's allowFrom does not list catalog: both must change.
    expect(e.reasons.map((r) => r.code)).toEqual(['no-upstream', 'not-allowed']);
    expect(at(e.reasons[0])).toBe(position(p.lines, /\[inventory\]/, /^ {4}catalog:/));
    expect(at(e.reasons[1])).toBe(cartAllow);
    expect(e.fixes.map((f) => f.message)).toEqual(['add cart to spec.services.catalog.upstreams', 'add catalog to spec.services.cart.allowFrom']);
    expect(at(e.fixes[1])).toBe(cartAllow);
  });

  it('egress: the exact name, the wildcard, the mesh-wide list; the apex of a wildcard is refused with why', async () => {
    const p = await policy('shop');
    const exact = placeExplanation(p.source, explain(p.mesh, p.written, 'payments', 'api.stripe.com'));
    expect([exact.decision, exact.reasons[0].code, at(exact.reasons[0])]).toEqual(['allow', 'egress-domain', position(p.lines, /api\.stripe\.com/)]);
    const wild = placeExplanation(p.source, explain(p.mesh, p.written, 'payments', 'a.b.stripe.network'));
    expect([wild.decision, wild.reasons[0].code, at(wild.reasons[0])]).toEqual(['allow', 'egress-wildcard', position(p.lines, /"\*\.stripe\.network"/)]);
    const mesh = placeExplanation(p.source, explain(p.mesh, p.written, 'users', 'maps.googleapis.com'));
    expect([mesh.decision, at(mesh.reasons[0])]).toEqual(['allow', position(p.lines, /"\*\.googleapis\.com"/)]);
    expect(mesh.reasons[0].message).toContain('mesh-wide');
    const apex = placeExplanation(p.source, explain(p.mesh, p.written, 'payments', 'stripe.network'));
    expect(apex.decision).toBe('deny');
    expect(apex.reasons[0].message).toContain('admits subdomains only');
    expect(apex.fixes[0].message).toBe('add stripe.network to spec.services.payments.egress');
    // A service without its own list: the fix adds one, at the service's key.
    const none = placeExplanation(p.source, explain(p.mesh, p.written, 'users', 'evil.example.com'));
    expect(none.fixes[0].message).toBe('add `egress: [evil.example.com]` to spec.services.users');
    expect(at(none.fixes[0])).toBe(position(p.lines, /users:/, /^ {4}users:/));
  });

  it('ingress: the host, the winning (longest) prefix and the load balancing; redirects; unknown hosts and paths', async () => {
    const p = await policy('shop');
    const e = placeExplanation(p.source, explain(p.mesh, p.written, 'internet', 'https://shop.example.com/api/cart/7'));
    expect(e.decision).toBe('allow');
    expect(e.service).toBe('cart');
    expect(e.reasons.map((r) => [r.code, at(r)])).toEqual([
      ['ingress-host', position(p.lines, /shop\.example\.com:/)],
      ['route', position(p.lines, /\{ pathPrefix: \/api\/cart/)],
      ['load-balancing', position(p.lines, /ring_hash/, /^ {4}cart:/)],
    ]);
    expect(e.reasons[1].message).toContain('the longest of 2 matching prefixes');
    const http = explain(p.mesh, p.written, 'internet', 'http://shop.example.com/a?b=1');
    expect(http.ingress?.redirect).toBe('https://shop.example.com/a?b=1');
    const host = placeExplanation(p.source, explain(p.mesh, p.written, 'internet', 'https://shop.example.org/'));
    expect([host.decision, host.reasons[0].code]).toEqual(['deny', 'unknown-host']);
    expect(host.fixes[0].message).toContain('did you mean shop.example.com?');
    const path = explain(p.mesh, p.written, 'internet', 'https://api.shop.example.com/admin');
    expect([path.decision, path.refusals]).toEqual(['deny', ['no-route']]);
    const direct = placeExplanation(p.source, explain(p.mesh, p.written, 'internet', 'cart'));
    expect(direct.decision).toBe('deny');
    expect(direct.fixes[0].message).toBe('call it through the ingress: https://shop.example.com/api/cart');
  });

  it('edge cases: a wildcard host on a non-default port, a redirect with its port, weights, a service nobody may call', async () => {
    const p = await policy('edge-cases');
    const r = explain(p.mesh, p.written, 'internet', 'http://x.apps.edge.internal:8080/p');
    expect(r.ingress?.redirect).toBe('https://x.apps.edge.internal:8443/p');
    expect(r.reasons[0].message).toContain('(wildcard)');
    const b = explain(p.mesh, p.written, 'a', 'b');
    expect(b.reasons.at(-1)!.message).toContain('weights 1:5:128');
    const lonely = placeExplanation(p.source, explain(p.mesh, p.written, 'a', 'lonely'));
    expect(lonely.reasons[1].message).toContain('lonely has no allowFrom: no service may call it');
    expect(lonely.fixes.map((f) => f.message)).toEqual(['add lonely to spec.services.a.upstreams', 'add `allowFrom: [a]` to spec.services.lonely']);
    expect(at(lonely.fixes[1])).toBe(position(p.lines, /lonely:/, /^ {4}lonely:/));
  });

  it('names that call nothing are usage errors with a suggestion', async () => {
    const p = await policy('shop');
    expect(() => explain(p.mesh, p.written, 'frontnd', 'cart')).toThrow(/FROM must be a service/);
    expect(() => explain(p.mesh, p.written, 'frontend', 'cartt')).toThrow(/neither a service/);
    expect(() => explain(p.mesh, p.written, 'ingress-gateway', 'cart')).toThrow(/is a gateway/);
  });

  it('reads the model the targets compile from: a policy change changes the answer', async () => {
    const p = await policy('shop');
    const text = readFileSync(p.file, 'utf8').replace('allowFrom: [checkout]\n      egress: [api.stripe.com', 'allowFrom: [checkout, frontend]\n      egress: [api.stripe.com');
    const parsed = parseMeshText(text, 'mesh.yaml');
    const written = validateSchema(parsed.value).mesh!;
    const before = explain(p.mesh, p.written, 'frontend', 'payments');
    const after = explain(normalize(written), written, 'frontend', 'payments');
    expect(before.refusals).toEqual(['caller-has-no-upstream', 'not-allowed']);
    expect(after.refusals).toEqual(['caller-has-no-upstream']);
  });
});

describe('mesh.test.yaml (static)', () => {
  for (const name of VALID_FIXTURES) {
    it(`${name}: every expectation holds, and every refusal is placed in mesh.yaml with a fix`, async () => {
      const p = await policy(name);
      const read = await readTests(join(dirname(p.file), 'mesh.test.yaml'), p.mesh, p.written);
      expect(read.diagnostics).toEqual([]);
      const results = runStatic(p.mesh, p.written, read.tests!.tests);
      expect(results.filter((r) => !r.passed).map((r) => r.failure)).toEqual([]);
      const denied = results.filter((r) => r.test.expect === 'deny');
      expect(denied.length).toBeGreaterThan(0);
      for (const r of denied) {
        const e = placeExplanation(p.source, r.explanation);
        expect(e.fixes.length, r.test.name).toBeGreaterThan(0);
        for (const x of [...e.reasons, ...e.fixes]) expect(x.line, `${r.test.name}: ${x.pointer}`).toBeGreaterThan(5);
      }
    });
  }

  it('an expectation that contradicts the policy fails, with what explain says', async () => {
    const p = await policy('shop');
    const [r] = runStatic(p.mesh, p.written, [{ name: 'x', from: 'frontend', to: 'payments', expect: 'allow', pointer: '/tests/0' }]);
    expect(r.passed).toBe(false);
    expect(r.failure).toBe('expected allow, but the policy refuses it');
    expect(r.explanation.reasons.map((x) => x.code)).toEqual(['no-upstream', 'not-allowed']);
    const [route] = runStatic(p.mesh, p.written, [{ name: 'y', from: 'internet', to: 'https://shop.example.com/api/cart', expect: 'allow', route: 'frontend', pointer: '/tests/0' }]);
    expect(route.failure).toBe('expected frontend to answer, but cart does');
  });
});
