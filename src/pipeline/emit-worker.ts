/**
 * The worker side of emit.ts: loads the targets (the imports below) while the main thread
 * validates, then waits for its job: emit the named targets and post their files in batches. The
 * mesh may come first, on its own (EmitWorker.send), and the job in two parts (EmitWorker.runEarly).
 */
import { parentPort } from 'node:worker_threads';
import type { CertMaterial } from '../certs/material.js';
import type { Mesh } from '../model/mesh.js';
// The targets of WORKER_PARTS (emit.ts) only: the registry would also load nginx, HAProxy and
// Handlebars, which this thread never runs (about half of its loading time).
import { envoyTarget } from '../targets/envoy/index.js';
import { k8sTarget } from '../targets/k8s/index.js';
import { summaryTarget } from '../targets/summary/index.js';
import { emissionParts } from '../targets/target.js';
import { encodeBatch } from '../output/writer.js';
import { batches, chain, claimed, claimSlot, emitTargets, type JobPart } from './emit.js';

const LOADED = emissionParts([envoyTarget, k8sTarget, summaryTarget]);
let sent: Mesh | undefined;
/** Batches posted so far, by every part of the job (the consumer's `taken` counts them all). */
let posted = 0;
const onMessage = (m: JobPart | { mesh: Mesh }): void => {
  if (!('names' in m)) {
    sent = m.mesh;
    return;
  }
  if (m.last) parentPort!.off('message', onMessage);
  run(m, m.mesh ?? sent);
  if (m.last) parentPort!.postMessage(null);
};
parentPort!.on('message', onMessage);

/**
 * What the early part's targets get for certificates: they read none (Target.usesCertificates),
 * and one that did would fail here, loudly, instead of writing something wrong.
 */
const notReady = (): never => {
  throw new Error('internal: a target that reads no certificates read them');
};
const NO_CERTIFICATES: CertMaterial = {
  get trustBundlePem() {
    return notReady();
  },
  get trustBundlePath() {
    return notReady();
  },
  get workloads() {
    return notReady();
  },
  get ingressHosts() {
    return notReady();
  },
};

function run({ names, shared = [], claims, encode, certs, taken, ahead }: JobPart, mesh: Mesh | undefined): void {
  if (!mesh) throw new Error('internal: the emit worker got its job without a mesh');
  const loaded = (name: string) => {
    const t = LOADED.find((x) => x.name === name);
    if (!t) throw new Error(`internal: the emit worker does not load target ${name}`);
    return t;
  };
  const material = certs ?? NO_CERTIFICATES;
  const claim = (i: number) => claimSlot(claims!, i);
  const files = [emitTargets(names.map(loaded), mesh, material), claimed(shared.map(loaded), claim, mesh, material)];
  for (const batch of batches(chain(...files))) {
    if (encode) {
      parentPort!.postMessage(encodeBatch(batch));
    } else parentPort!.postMessage(batch);
    posted++;
    // Wait while the consumer is `ahead` batches behind (a bounded queue, so memory stays bounded).
    for (let seen = Atomics.load(taken, 0); posted - seen > ahead; seen = Atomics.load(taken, 0)) Atomics.wait(taken, 0, seen, 1000);
  }
}
