import { describe, expect, it } from 'vitest';
import { claimed, emitTargets } from '../../src/pipeline/emit.js';
import { TARGETS } from '../../src/targets/registry.js';
import { emissionParts } from '../../src/targets/target.js';
import { fakeCerts, sampleMesh } from './envoy/sample.js';

describe('emitTargets', () => {
  it('gives every file of every target once, the same bytes as each target alone, envoy and k8s interleaved', () => {
    const mesh = sampleMesh();
    const certs = fakeCerts(mesh);
    const together = [...emitTargets(TARGETS, mesh, certs)];
    const alone = TARGETS.flatMap((t) => [...t.emit(mesh, certs)]);
    const byPath = (files: { path: string; content: string }[]) => new Map(files.map((f) => [f.path, f.content]));
    expect(together).toHaveLength(alone.length);
    expect(byPath(together)).toEqual(byPath(alone));
    // Side by side: the first k8s file comes before the last Envoy one.
    const firstK8s = together.findIndex((f) => f.path.startsWith('k8s/'));
    const lastEnvoy = together.map((f) => f.path.startsWith('envoy/')).lastIndexOf(true);
    expect(firstK8s).toBeGreaterThan(-1);
    expect(firstK8s).toBeLessThan(lastEnvoy);
  });

  it('targets that say they read no certificates (usesCertificates: false) emit the same without any', () => {
    // The build runs them before the certificates are ready (EmitWorker.runEarly).
    const mesh = sampleMesh();
    const certs = fakeCerts(mesh);
    const none = new Proxy(certs, {
      get: (_, key) => {
        throw new Error(`read certs.${String(key)}`);
      },
    });
    const early = TARGETS.filter((t) => t.usesCertificates === false);
    expect(early.map((t) => t.name)).toContain('summary');
    for (const t of early) expect([...t.emit(mesh, none)]).toEqual([...t.emit(mesh, certs)]);
    // And the proxy does catch a target that reads them.
    expect(() => [...TARGETS.find((t) => t.name === 'envoy')!.emit(mesh, none)]).toThrow(/read certs\./);
  });

  it('a target in parts (Target.parts): the parts make exactly its files, each once', () => {
    const mesh = sampleMesh();
    const certs = fakeCerts(mesh);
    const split = TARGETS.filter((t) => t.parts);
    expect(split.map((t) => t.name)).toContain('k8s');
    for (const t of split) {
      const whole = [...t.emit(mesh, certs)].map((f) => [f.path, f.content]).sort();
      const parts = t.parts!.flatMap((p) => [...p.emit(mesh, certs)]).map((f) => [f.path, f.content]).sort();
      expect(parts).toEqual(whole);
      for (const p of t.parts!) expect(p.name === t.name || p.name.startsWith(`${t.name}-`), p.name).toBe(true);
    }
    // emissionParts puts each target's parts in its place.
    expect(emissionParts(TARGETS).map((p) => p.name)).toContain('k8s-secrets');
  });

  it('a shared part is claimed only when its thread reaches it, and made only if claimed (claimed)', () => {
    const mesh = sampleMesh();
    const certs = fakeCerts(mesh);
    const asked: number[] = [];
    const part = (name: string) => ({ name, emit: () => [{ path: `${name}.txt`, content: name }] });
    const files = claimed([part('a'), part('b'), part('c')], (i) => (asked.push(i), i !== 1), mesh, certs);
    expect(asked).toEqual([]);
    expect([...files].map((f) => f.path)).toEqual(['a.txt', 'c.txt']);
    expect(asked).toEqual([0, 1, 2]);
  });
});
