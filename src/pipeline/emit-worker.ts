/**
 * The worker side of emit.ts: loads the targets (the imports below) while the main thread
 * validates, then waits for its one job: emit the named targets and post their files in batches.
 * The mesh may come first, on its own (EmitWorker.send).
 */
import { parentPort } from 'node:worker_threads';
import type { CertMaterial } from '../certs/material.js';
import type { Mesh } from '../model/mesh.js';
// The targets of WORKER_TARGETS (emit.ts) only: the registry would also load nginx, HAProxy and
// Handlebars, which this thread never runs (about half of its loading time).
import { envoyTarget } from '../targets/envoy/index.js';
import { k8sTarget } from '../targets/k8s/index.js';
import { summaryTarget } from '../targets/summary/index.js';
import { encodeBatch } from '../output/writer.js';
import { batches, emitTargets } from './emit.js';

interface Job {
  names: string[];
  /** Post files encoded for the writer (encodeBatch), their bytes in shared memory, not copied. */
  encode: boolean;
  /** Undefined when it came before the job (EmitWorker.send). */
  mesh: Mesh | undefined;
  certs: CertMaterial;
  taken: Int32Array;
  ahead: number;
}

let sent: Mesh | undefined;
const onMessage = (m: Job | { mesh: Mesh }): void => {
  if (!('names' in m)) {
    sent = m.mesh;
    return;
  }
  parentPort!.off('message', onMessage);
  run(m, m.mesh ?? sent);
};
parentPort!.on('message', onMessage);

function run({ names, encode, certs, taken, ahead }: Job, mesh: Mesh | undefined): void {
  if (!mesh) throw new Error('internal: the emit worker got its job without a mesh');
  const targets = names.map((name) => {
    const t = [envoyTarget, k8sTarget, summaryTarget].find((x) => x.name === name);
    if (!t) throw new Error(`internal: the emit worker does not load target ${name}`);
    return t;
  });
  let posted = 0;
  for (const batch of batches(emitTargets(targets, mesh, certs))) {
    if (encode) {
      parentPort!.postMessage(encodeBatch(batch));
    } else parentPort!.postMessage(batch);
    posted++;
    // Wait while the consumer is `ahead` batches behind (a bounded queue, so memory stays bounded).
    for (let seen = Atomics.load(taken, 0); posted - seen > ahead; seen = Atomics.load(taken, 0)) Atomics.wait(taken, 0, seen, 1000);
  }
  parentPort!.postMessage(null);
}
