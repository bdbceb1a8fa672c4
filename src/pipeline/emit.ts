import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { CertMaterial } from '../certs/material.js';
import type { Mesh } from '../model/mesh.js';
import type { OutputFile, Target } from '../targets/target.js';

/**
 * Runs the targets' `emit`. Targets are pure, so on a machine with more than one core a large
 * mesh's heaviest targets (k8s and istio, which re-emit Envoy bootstraps) run in a worker thread
 * while the others run here; the files are the same either way (test/cli/parallel-emit.test.ts).
 * Small meshes stay on one thread: starting a worker costs more than it saves.
 */
export const PARALLEL_MIN_SERVICES = 100;
const WORKER_TARGETS = ['k8s', 'istio'];

export async function emitTargets(targets: readonly Target[], mesh: Mesh, certs: CertMaterial): Promise<OutputFile[]> {
  const inWorker = targets.filter((t) => WORKER_TARGETS.includes(t.name));
  const here = targets.filter((t) => !WORKER_TARGETS.includes(t.name));
  if (!parallel(mesh, inWorker.length, here.length)) return targets.flatMap((t) => t.emit(mesh, certs));
  const worker = runInWorker(inWorker.map((t) => t.name), mesh, certs);
  worker.catch(() => undefined); // awaited below; never an unhandled rejection meanwhile
  const local = here.flatMap((t) => t.emit(mesh, certs));
  return [...local, ...(await worker)];
}

function parallel(mesh: Mesh, inWorker: number, here: number): boolean {
  // Compiled JavaScript only: under the test runner's TypeScript loader a worker cannot load it.
  if (!import.meta.url.endsWith('.js') || inWorker === 0 || here === 0) return false;
  if (process.env.MESHC_PARALLEL === '0') return false;
  if (process.env.MESHC_PARALLEL === '1') return true;
  return availableParallelism() > 1 && mesh.services.length >= PARALLEL_MIN_SERVICES;
}

function runInWorker(names: string[], mesh: Mesh, certs: CertMaterial): Promise<OutputFile[]> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./emit-worker.js', import.meta.url), { workerData: { names, mesh, certs } });
    worker.once('message', (files: OutputFile[]) => resolve(files));
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (code !== 0) reject(new Error(`internal: the emit worker exited with code ${code}`));
    });
  });
}
