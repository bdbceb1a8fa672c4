import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import type { CertMaterial } from '../certs/material.js';
import type { Mesh } from '../model/mesh.js';
import type { OutputFile, Target } from '../targets/target.js';

/**
 * Runs the targets' `emit`, as batches of files in the order they are produced, so the build can
 * write each batch and drop it (a 5,000-service mesh never holds its whole output). Targets are
 * pure, so on a machine with more than one core a large mesh's Envoy, k8s and istio targets run in
 * a worker thread (Envoy and k8s side by side, see SIDE_BY_SIDE; about half the CPU of the
 * emission at 1,000 services) while summary, nginx and haproxy run here with the writing; the files
 * are the same either way (test/cli/parallel-emit.test.ts). The worker stays at most a few batches
 * ahead of the consumer. Small meshes stay on one thread: starting a worker costs more than it saves.
 *
 * Very large meshes are emitted in low-memory mode: one thread, and V8's heap allowed to grow only
 * 10% beyond what survives each collection (`--heap-growing-percent`, set for the emission and
 * reset after it). Measured at 5,000 services: peak memory 440-580 MB → 240 MB, for about 35% more
 * CPU; such a build is bound by writing 45,000 files anyway, and a second thread's heap alone
 * costs about 90 MB.
 */
export const PARALLEL_MIN_SERVICES = 100;
export const LOW_MEMORY_MIN_SERVICES = 2000;
const WORKER_TARGETS = ['envoy', 'k8s', 'istio'];
export const BATCH_FILES = 32;
/** How many batches the worker may post before the consumer has taken them. */
export const WORKER_AHEAD = 4;

export function* batches(files: Iterable<OutputFile>, size = BATCH_FILES): Generator<OutputFile[]> {
  let batch: OutputFile[] = [];
  for (const f of files) {
    batch.push(f);
    if (batch.length === size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length) yield batch;
}

/**
 * Targets that share work run side by side, one file from each in turn: the k8s target's
 * ConfigMaps hold the Envoy bootstraps of the same services, in the same order, so each service's
 * own listeners and clusters are made and written once for both (ownResources in
 * targets/envoy/sidecar.ts keeps the last few services').
 */
const SIDE_BY_SIDE: readonly (readonly [string, string])[] = [['envoy', 'k8s']];

/** Every file of the targets, pairs of SIDE_BY_SIDE targets interleaved. */
export function* emitTargets(targets: readonly Target[], mesh: Mesh, certs: CertMaterial): Generator<OutputFile> {
  const done = new Set<string>();
  for (const t of targets) {
    if (done.has(t.name)) continue;
    done.add(t.name);
    const pair = SIDE_BY_SIDE.find((p) => p.includes(t.name));
    const other = pair && targets.find((o) => o !== t && pair.includes(o.name));
    if (other) {
      done.add(other.name);
      yield* alternate(t.emit(mesh, certs), other.emit(mesh, certs));
    } else yield* t.emit(mesh, certs);
  }
}

function* alternate<T>(a: Iterable<T>, b: Iterable<T>): Generator<T> {
  const its = [a[Symbol.iterator](), b[Symbol.iterator]()];
  while (its.length) {
    for (let i = 0; i < its.length; ) {
      const r = its[i]!.next();
      if (r.done) its.splice(i, 1);
      else {
        yield r.value;
        i++;
      }
    }
  }
}

export async function* emitBatches(targets: readonly Target[], mesh: Mesh, certs: CertMaterial): AsyncGenerator<OutputFile[]> {
  if (lowMemory(mesh)) {
    setFlagsFromString('--heap-growing-percent=10');
    try {
      yield* batches(emitTargets(targets, mesh, certs));
    } finally {
      setFlagsFromString('--heap-growing-percent=0'); // V8's own choice again
    }
    return;
  }
  const inWorker = targets.filter((t) => WORKER_TARGETS.includes(t.name));
  const here = targets.filter((t) => !WORKER_TARGETS.includes(t.name));
  if (!parallel(mesh, inWorker.length, here.length)) {
    yield* batches(emitTargets(targets, mesh, certs));
    return;
  }
  const worker = new WorkerBatches(inWorker.map((t) => t.name), mesh, certs);
  try {
    for (const batch of batches(emitTargets(here, mesh, certs))) {
      yield batch;
      // Take what the worker has ready, so it keeps working while this thread does.
      for (let b = worker.take(); b; b = worker.take()) yield b;
    }
    for (let b = await worker.next(); b; b = await worker.next()) yield b;
  } finally {
    await worker.stop();
  }
}

export function lowMemory(mesh: Mesh): boolean {
  if (process.env.MESHC_LOW_MEMORY === '0') return false;
  if (process.env.MESHC_LOW_MEMORY === '1') return true;
  return mesh.services.length >= LOW_MEMORY_MIN_SERVICES;
}

function parallel(mesh: Mesh, inWorker: number, here: number): boolean {
  // Compiled JavaScript only: under the test runner's TypeScript loader a worker cannot load it.
  if (!import.meta.url.endsWith('.js') || inWorker === 0 || here === 0) return false;
  if (process.env.MESHC_PARALLEL === '0') return false;
  if (process.env.MESHC_PARALLEL === '1') return true;
  return availableParallelism() > 1 && mesh.services.length >= PARALLEL_MIN_SERVICES;
}

/** The worker's batches as they arrive; taking one tells the worker (through `taken`) it may go on. */
class WorkerBatches {
  private readonly worker: Worker;
  private readonly taken = new Int32Array(new SharedArrayBuffer(4));
  private readonly queue: OutputFile[][] = [];
  private finished = false;
  private failure: unknown;
  private wake: (() => void) | undefined;

  constructor(names: string[], mesh: Mesh, certs: CertMaterial) {
    this.worker = new Worker(new URL('./emit-worker.js', import.meta.url), { workerData: { names, mesh, certs, taken: this.taken, ahead: WORKER_AHEAD } });
    this.worker.on('message', (m: OutputFile[] | null) => {
      if (m === null) this.finished = true;
      else this.queue.push(m);
      this.notify();
    });
    this.worker.once('error', (e) => {
      this.failure ??= e;
      this.notify();
    });
    this.worker.once('exit', (code) => {
      if (!this.finished) this.failure ??= new Error(`internal: the emit worker exited with code ${code} before it finished`);
      this.notify();
    });
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** A batch that has arrived, if any. */
  take(): OutputFile[] | undefined {
    if (this.failure) throw this.failure;
    const b = this.queue.shift();
    if (b) {
      Atomics.add(this.taken, 0, 1);
      Atomics.notify(this.taken, 0);
    }
    return b;
  }

  /** The next batch, waiting for it; undefined when the worker is done. */
  async next(): Promise<OutputFile[] | undefined> {
    for (;;) {
      const b = this.take();
      if (b || this.finished) return b;
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  async stop(): Promise<void> {
    if (!this.finished || this.failure) await this.worker.terminate();
  }
}
