import { describe, expect, it } from 'vitest';
import { emitTargets } from '../../src/pipeline/emit.js';
import { TARGETS } from '../../src/targets/registry.js';
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
});
