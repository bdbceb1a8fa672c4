/**
 * The k8s and Istio targets through the real pipeline (real certificates, the one writer): every
 * object still validates, keys reach disk only under secrets/ with mode 0600, and a second build
 * with the same state writes the same bytes; with kubectl on PATH, both overlays render.
 */
import { execFileSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { buildInto, fixturePath, modeOf, readTree } from '../../support/build.js';
import { docs, validFixtureNames, validateObject } from './support.js';

const cleanups: (() => Promise<void>)[] = [];
const kubectl = (() => {
  try {
    execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' });
    return 'kubectl';
  } catch {
    return undefined;
  }
})();
afterAll(async () => Promise.all(cleanups.map((c) => c())));

describe.each(validFixtureNames())('build %s with --targets k8s,istio', (name) => {
  it('writes valid objects, keys only under secrets/ (0600), the same bytes twice', async () => {
    const b = await buildInto(fixturePath(name), { targets: ['k8s', 'istio'] });
    cleanups.push(b.cleanup);
    expect(b.result.ok, JSON.stringify(b.result.diagnostics.filter((d) => d.severity === 'error'))).toBe(true);
    const tree = await readTree(b.out);
    const files = [...tree].map(([path, content]) => ({ path, content }));
    const list = docs(files, 'k8s/', 'istio/', 'secrets/k8s/', 'secrets/istio/');
    expect(list.length).toBeGreaterThan(0);
    for (const d of list) validateObject(d);
    for (const f of files) {
      if (f.content.includes('PRIVATE KEY') || /tls\.key: /.test(f.content)) {
        expect(f.path.startsWith('secrets/'), f.path).toBe(true);
        expect(await modeOf(`${b.out}/${f.path}`), f.path).toBe(0o600);
      }
    }
    // `kubectl kustomize` (offline) renders every kustomization root to exactly the objects of its trees.
    if (kubectl) {
      for (const [overlay, trees] of [
        ['k8s', ['k8s/']],
        ['istio', ['istio/']],
        ['secrets/k8s', ['k8s/', 'secrets/k8s/']],
        ['secrets/istio', ['istio/', 'secrets/istio/']],
      ] as const) {
        const rendered = execFileSync(kubectl, ['kustomize', `${b.out}/${overlay}`], { encoding: 'utf8' });
        const got = parseAllDocuments(rendered).map((d) => d.toJS()).map((o) => `${o.kind}/${o.metadata.name}`).sort();
        const want = docs(files, ...trees).map((d) => d.obj).filter((o) => o.kind !== 'Kustomization').map((o) => `${o.kind}/${o.metadata.name}`).sort();
        expect(got, overlay).toEqual(want);
      }
    }
    const again = await buildInto(fixturePath(name), { targets: ['k8s', 'istio'], state: b.state });
    cleanups.push(again.cleanup);
    const tree2 = await readTree(again.out);
    expect([...tree2.keys()]).toEqual([...tree.keys()]);
    for (const [p, c] of tree) expect(tree2.get(p), p).toBe(c);
  }, 180_000); // RSA fixtures issue keys: minutes on a loaded two-core machine
});
