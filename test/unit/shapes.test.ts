import { setFlagsFromString } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { validate } from '../../src/pipeline/validate.js';
import { fixturePath } from '../support/build.js';
import { sidecarView as nginxSidecar } from '../../src/targets/nginx/view.js';
import { sidecarView as haproxySidecar } from '../../src/targets/haproxy/view.js';

// V8 (Node 20) gives every object made as `{ ...x, more }` a hidden class of its own, so code that
// reads many such objects (every target reads every service) runs megamorphic: measured, the nginx
// and HAProxy targets took a third longer. These objects must share their hidden classes.
setFlagsFromString('--allow-natives-syntax');
const sameMap = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean;
setFlagsFromString('--no-allow-natives-syntax');

/** How many hidden classes the objects have. */
function classes(objects: object[]): number {
  const seen: object[] = [];
  for (const o of objects) if (!seen.some((s) => sameMap(s, o))) seen.push(o);
  return seen.length;
}

describe('hidden classes of the objects every target reads', () => {
  it('services of the same written shape, their endpoints and the per-service views share theirs', async () => {
    const v = await validate({ file: fixturePath('shop') });
    const mesh = v.mesh!;
    // Services with the same fields written share one class (optional parts add a few).
    const byFields = new Map<string, object[]>();
    for (const s of mesh.services) byFields.set(Object.keys(s).join(','), [...(byFields.get(Object.keys(s).join(',')) ?? []), s]);
    for (const group of byFields.values()) expect(classes(group)).toBe(1);
    expect(classes(mesh.services.flatMap((s) => s.endpoints))).toBe(1);
    const nginx = mesh.services.filter((s) => s.protocol === 'http').map((s) => nginxSidecar(mesh, s));
    expect(classes(nginx)).toBeLessThanOrEqual(2);
    expect(classes(nginx.flatMap((x) => x.outbound.map((o) => o.proxy)))).toBe(1);
    expect(classes(mesh.services.filter((s) => s.protocol === 'http').map((s) => haproxySidecar(mesh, s)))).toBeLessThanOrEqual(2);
  });
});
