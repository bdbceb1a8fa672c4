/** The worker side of emit.ts: emits the named targets and posts their files in batches. */
import { parentPort, workerData } from 'node:worker_threads';
import type { CertMaterial } from '../certs/material.js';
import type { Mesh } from '../model/mesh.js';
import { TARGETS } from '../targets/registry.js';
import { batches, emitTargets } from './emit.js';

const { names, mesh, certs, taken, ahead } = workerData as { names: string[]; mesh: Mesh; certs: CertMaterial; taken: Int32Array; ahead: number };
let posted = 0;
for (const batch of batches(emitTargets(TARGETS.filter((t) => names.includes(t.name)), mesh, certs))) {
  parentPort!.postMessage(batch);
  posted++;
  // Wait while the consumer is `ahead` batches behind (a bounded queue, so memory stays bounded).
  for (let seen = Atomics.load(taken, 0); posted - seen > ahead; seen = Atomics.load(taken, 0)) Atomics.wait(taken, 0, seen, 1000);
}
parentPort!.postMessage(null);
