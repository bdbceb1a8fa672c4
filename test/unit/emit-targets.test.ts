import { describe, expect, it } from 'vitest';
import { BATCH_FILES, emitBatches } from '../../src/pipeline/emit.js';
import { TARGETS } from '../../src/targets/registry.js';
import { fakeCerts, sampleMesh } from './envoy/sample.js';

describe('emitBatches', () => {
  it('gives the first files, then every file of every target once, in bounded batches', () => {
    const mesh = sampleMesh();
    const certs = fakeCerts(mesh);
    const first = [{ path: 'certs/x.pem', content: 'x' }];
    const batches = [...emitBatches(TARGETS, mesh, certs, first)];
    expect(batches.every((b) => b.length > 0 && b.length <= BATCH_FILES)).toBe(true);
    const together = batches.flat();
    const alone = [...first, ...TARGETS.flatMap((t) => [...t.emit(mesh, certs)])];
    expect(together.map((f) => f.path)).toEqual(alone.map((f) => f.path));
    expect(new Map(together.map((f) => [f.path, f.content]))).toEqual(new Map(alone.map((f) => [f.path, f.content])));
  });
});
