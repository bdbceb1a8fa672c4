/**
 * The worker side of emit.ts: loads the targets (the imports below) while the main thread
 * validates, then waits for its one job: emit the named targets and post their files in batches.
 */
import { parentPort } from 'node:worker_threads';
import type { CertMaterial } from '../certs/material.js';
import type { Mesh } from '../model/mesh.js';
import { TARGETS } from '../targets/registry.js';
import { encodeBatch } from '../output/writer.js';
import { batches, emitTargets } from './emit.js';

interface Job {
  names: string[];
  /** Post files encoded for the writer (encodeBatch), their bytes transferred, not copied. */
  encode: boolean;
  mesh: Mesh;
  certs: CertMaterial;
  taken: Int32Array;
  ahead: number;
}

parentPort!.once('message', ({ names, encode, mesh, certs, taken, ahead }: Job) => {
  let posted = 0;
  for (const batch of batches(emitTargets(TARGETS.filter((t) => names.includes(t.name)), mesh, certs))) {
    if (encode) {
      const { files, buffer } = encodeBatch(batch);
      parentPort!.postMessage(files, [buffer]);
    } else parentPort!.postMessage(batch);
    posted++;
    // Wait while the consumer is `ahead` batches behind (a bounded queue, so memory stays bounded).
    for (let seen = Atomics.load(taken, 0); posted - seen > ahead; seen = Atomics.load(taken, 0)) Atomics.wait(taken, 0, seen, 1000);
  }
  parentPort!.postMessage(null);
});
