import type { CertMaterial } from '../certs/material.js';
import type { Mesh } from '../model/mesh.js';
import type { OutputFile, Target } from '../targets/target.js';

/** Files per batch handed to the writer: a large mesh never holds its whole output at once. */
export const BATCH_FILES = 32;

/**
 * Every file of the build, batch by batch: `first` (the certificates), then each target's files
 * in registry order. The writer writes a batch while the next one is made.
 */
export function* emitBatches(targets: readonly Target[], mesh: Mesh, certs: CertMaterial, first: Iterable<OutputFile> = []): Generator<OutputFile[]> {
  let batch: OutputFile[] = [];
  const all = function* () {
    yield* first;
    for (const t of targets) yield* t.emit(mesh, certs);
  };
  for (const f of all()) {
    batch.push(f);
    if (batch.length === BATCH_FILES) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length) yield batch;
}
