import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import type { CertMaterial } from '../certs/material.js';
import type { Mesh } from '../model/mesh.js';
import { emissionParts, type OutputFile, type Target, type TargetPart } from '../targets/target.js';
import type { WriterFile } from '../output/writer.js';

/**
 * Runs the targets' `emit`, as batches of files in the order they are produced, so the build can
 * write each batch and drop it (a 5,000-service mesh never holds its whole output). Targets are
 * pure, so on a machine with more than one core a large mesh's Envoy, k8s and summary targets run
 * in a worker thread (Envoy and k8s side by side, see SIDE_BY_SIDE; about half the CPU of the
 * emission at 1,000 services) while nginx, haproxy and istio run here with the writing; the files
 * are the same either way (test/cli/parallel-emit.test.ts). The worker is started as soon as the
 * mesh file is read (startWorkerEarly) or parsed (confirmWorker), so it is ready when validation
 * ends, and for the writer it encodes and hashes its files itself (EncodedFile). It stays at most
 * a few batches ahead of the consumer. Small meshes stay on one thread: starting a worker costs
 * more than it saves.
 *
 * Very large meshes are emitted in low-memory mode: one thread, and V8's heap allowed to grow only
 * 10% beyond what survives each collection (`--heap-growing-percent`, set from the moment the mesh
 * is parsed, see startLowMemory, and reset after the emission). Measured at 5,000 services: peak
 * memory 440-580 MB → 240 MB, for about 35% more CPU; such a build is bound by writing 45,000
 * files anyway, and a second thread's heap alone costs about 90 MB.
 */
export const PARALLEL_MIN_SERVICES = 100;
export const LOW_MEMORY_MIN_SERVICES = 2000;
/**
 * The targets, or parts of targets (Target.parts), the worker runs; emit-worker.ts imports exactly
 * their targets. Chosen so that both threads end together at 1,000 services, by the time each
 * thread finished after its job started (measured: with istio there too the worker ended about
 * 200 ms after this thread, with summary here too this thread ended 30-120 ms after the worker;
 * haproxy there made the worker last by far). The k8s secrets overlay goes to whichever thread
 * is free first (SHARED_PARTS).
 */
const WORKER_PARTS = ['envoy', 'k8s', 'summary'];
/**
 * Parts either thread may run, whichever ends its own parts first (claimed through shared memory,
 * see EmitWorker.claim): the k8s secrets overlay, about 25 ms at 1,000 services. Made on the main
 * thread, that thread ended about 40 ms after the worker; made in the worker, the worker ended
 * about 40 ms after the main thread (timelines of warm builds, in different hours).
 */
const SHARED_PARTS = ['k8s-secrets'];
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
export function* emitTargets(targets: readonly TargetPart[], mesh: Mesh, certs: CertMaterial): Generator<OutputFile> {
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

/**
 * Every file of the targets, batch by batch: `first` (files made before the targets, the
 * certificates), then the targets'. A `worker` started early (confirmWorker) is used when the
 * emission runs in parallel and stopped otherwise; either way this takes it over, and gives it its
 * job at once, not at the first batch taken: it starts while the caller finishes what it does
 * before writing (placing the diagnostics). Not iterated to its end, the caller stops that worker.
 */
export function emitBatches(targets: readonly Target[], mesh: Mesh, certs: CertMaterial, opts?: EmitOptions & { encode?: false }): AsyncGenerator<OutputFile[]>;
/** `encode`: the worker's files come encoded for the writer (see EncodedFile), the rest as made. */
export function emitBatches(targets: readonly Target[], mesh: Mesh, certs: CertMaterial, opts: EmitOptions & { encode: true }): AsyncGenerator<WriterFile[]>;
export function emitBatches(targets: readonly Target[], mesh: Mesh, certs: CertMaterial, opts: EmitOptions & { encode?: boolean }): AsyncGenerator<WriterFile[]>;
export function emitBatches(targets: readonly Target[], mesh: Mesh, certs: CertMaterial, opts: EmitOptions & { encode?: boolean } = {}): AsyncGenerator<WriterFile[]> {
  const first = opts.first ?? [];
  const count = mesh.services.length;
  const parts = emissionParts(targets);
  const inWorker = parts.filter((t) => WORKER_PARTS.includes(t.name));
  const here = parts.filter((t) => !WORKER_PARTS.includes(t.name));
  if (!usesWorker(count, inWorker.length, here.length)) return oneThread(targets, mesh, certs, first, opts.worker);
  const job = { names: inWorker.map((t) => t.name), shared: here.filter((t) => SHARED_PARTS.includes(t.name)).map((t) => t.name), encode: opts.encode ?? false };
  opts.worker?.run(job, mesh, certs);
  return withWorker(opts.worker, job, here, mesh, certs, first);
}

async function* oneThread(targets: readonly Target[], mesh: Mesh, certs: CertMaterial, first: Iterable<OutputFile>, unused: EmitWorker | undefined): AsyncGenerator<OutputFile[]> {
  await unused?.stop();
  if (lowMemory(mesh.services.length)) {
    setFlagsFromString(LOW_MEMORY_FLAG);
    try {
      yield* batches(chain(first, emitTargets(targets, mesh, certs)));
    } finally {
      endLowMemory();
    }
  } else yield* batches(chain(first, emitTargets(targets, mesh, certs)));
}

/**
 * The worker's parts there (`started`: already running them), `here` here, and the shared parts
 * of `here` wherever they are claimed first.
 */
async function* withWorker(started: EmitWorker | undefined, job: Job, here: readonly TargetPart[], mesh: Mesh, certs: CertMaterial, first: Iterable<OutputFile>): AsyncGenerator<WriterFile[]> {
  const worker = started ?? new EmitWorker();
  const own = here.filter((t) => !job.shared.includes(t.name));
  const shared = job.shared.map((name) => here.find((t) => t.name === name)!);
  try {
    if (!started) worker.run(job, mesh, certs);
    for (const batch of batches(chain(first, emitTargets(own, mesh, certs), claimed(shared, (i) => worker.claim(i), mesh, certs)))) {
      yield batch;
      // Take what the worker has ready, so it keeps working while this thread does.
      for (let b = worker.take(); b; b = worker.take()) yield b;
    }
    for (let b = await worker.next(); b; b = await worker.next()) yield b;
  } finally {
    await worker.stop();
  }
}

/** A part of the worker's job, as posted to it (emit-worker.ts). */
export interface JobPart {
  names: readonly string[];
  /** Parts the worker runs after `names` if it claims them first (`claims`, one slot each). */
  shared?: readonly string[];
  claims?: Int32Array;
  /** Post files encoded for the writer (encodeBatch), their bytes in shared memory, not copied. */
  encode: boolean;
  /** Undefined when it came before the job (EmitWorker.send). */
  mesh?: Mesh | undefined;
  /** Undefined for the early part: its targets read none (see EmitWorker.runEarly). */
  certs?: CertMaterial;
  /** The last part: the worker says it is done after it. */
  last: boolean;
  /** How many batches the consumer has taken, and how many it may be behind. */
  taken: Int32Array;
  ahead: number;
}

interface EmitOptions {
  first?: Iterable<OutputFile>;
  worker?: EmitWorker | undefined;
}

export function* chain<T>(...parts: Iterable<T>[]): Generator<T> {
  for (const part of parts) yield* part;
}

/** Claims slot `i` of `claims` for the calling thread: true for the first to ask, on any thread. */
export function claimSlot(claims: Int32Array, i: number): boolean {
  return Atomics.compareExchange(claims, i, 0, 1) === 0;
}

/** The files of the shared parts this thread claims (`claim(i)` for the i-th), as it reaches them. */
export function* claimed(shared: readonly TargetPart[], claim: (i: number) => boolean, mesh: Mesh, certs: CertMaterial): Generator<OutputFile> {
  for (const [i, part] of shared.entries()) if (claim(i)) yield* part.emit(mesh, certs);
}

/** What the worker runs: `names`, then those of `shared` it claims first (see SHARED_PARTS). */
interface Job {
  names: string[];
  shared: string[];
  encode: boolean;
}

/**
 * A worker for a mesh that will emit in parallel, started before the mesh is parsed when its
 * file is large enough to hold that many services (`bytes`, see EARLY_WORKER_MIN_BYTES), so that
 * its start, loading the targets it runs (about 0.1 s with the thread's own start), overlaps the
 * parsing and validation. Confirmed or stopped by `confirmWorker` once the mesh is parsed.
 */
export function startWorkerEarly(bytes: number, targets: readonly Target[]): EmitWorker | undefined {
  return bytes >= EARLY_WORKER_MIN_BYTES && workerFor(PARALLEL_MIN_SERVICES, targets) ? new EmitWorker() : undefined;
}
/**
 * A service takes a few lines of YAML: 340 bytes each in the bench's meshes, 380 in the shop
 * fixture. A smaller file seldom holds PARALLEL_MIN_SERVICES services (one that does gets its
 * worker once parsed, as confirmWorker sees); a larger one with fewer costs a worker started and
 * stopped on another core while this thread parses.
 */
export const EARLY_WORKER_MIN_BYTES = 16 * 1024;

/**
 * The worker the emission of the parsed mesh (`written`) will use: `early` when it was started
 * (startWorkerEarly) and is wanted, else a new one as soon as the mesh is parsed; undefined when
 * the emission will not use one (`early` is stopped then).
 */
export function confirmWorker(written: unknown, targets: readonly Target[], early: EmitWorker | undefined): EmitWorker | undefined {
  const services = serviceCount(written);
  if (services !== undefined && workerFor(services, targets)) return early ?? new EmitWorker();
  void early?.stop();
  return undefined;
}

function workerFor(services: number, targets: readonly Target[]): boolean {
  const parts = emissionParts(targets);
  const inWorker = parts.filter((t) => WORKER_PARTS.includes(t.name)).length;
  return usesWorker(services, inWorker, parts.length - inWorker);
}

/**
 * Low-memory mode for a mesh that will be emitted in it, from the moment it is parsed (`written`):
 * set only for the emission, the flag took effect at the first full collection after it, and what
 * validation and the certificates had left until then made the peak vary (measured at 5,000
 * services: 235-333 MB, and 226-237 MB set from here). Returns the function that ends it (the
 * emission ends it too), or undefined.
 */
export function startLowMemory(written: unknown): (() => void) | undefined {
  const services = serviceCount(written);
  if (services === undefined || !lowMemory(services)) return undefined;
  setFlagsFromString(LOW_MEMORY_FLAG);
  return endLowMemory;
}
const LOW_MEMORY_FLAG = '--heap-growing-percent=10';
const endLowMemory = () => setFlagsFromString('--heap-growing-percent=0'); // V8's own choice again

function serviceCount(written: unknown): number | undefined {
  const services = (written as { spec?: { services?: unknown } } | null)?.spec?.services;
  return services === null || typeof services !== 'object' ? undefined : Object.keys(services).length;
}

export function lowMemory(services: number): boolean {
  if (process.env.MESHC_LOW_MEMORY === '0') return false;
  if (process.env.MESHC_LOW_MEMORY === '1') return true;
  return services >= LOW_MEMORY_MIN_SERVICES;
}

/**
 * Whether a build of `services` services uses more threads than this one: large meshes on a
 * machine with more than one core, compiled JavaScript only (under the test runner's TypeScript
 * loader a worker cannot load its module); MESHC_PARALLEL forces it either way. Such a build
 * writes its files through a thread of their own (output/write-thread.ts), low-memory mode
 * included (its one emitting thread then hands the writes off), and emits with the worker unless
 * in low-memory mode.
 */
export function usesThreads(services: number): boolean {
  if (!import.meta.url.endsWith('.js') || process.env.MESHC_PARALLEL === '0') return false;
  if (process.env.MESHC_PARALLEL === '1') return true;
  return availableParallelism() > 1 && services >= PARALLEL_MIN_SERVICES;
}

/** Whether `services` services emit with a worker (`inWorker` of the parts there, `here` here). */
function usesWorker(services: number, inWorker: number, here: number): boolean {
  return !lowMemory(services) && inWorker > 0 && here > 0 && usesThreads(services);
}

/**
 * The emit worker (emit-worker.ts). Started, it loads the targets and waits, without keeping the
 * process alive; `run` gives it its job (`runEarly` the part of it that needs no certificates).
 * Its batches are taken as they arrive; taking one tells the worker (through `taken`) it may go on.
 */
export class EmitWorker {
  private readonly worker: Worker;
  private readonly taken = new Int32Array(new SharedArrayBuffer(4));
  private readonly queue: WriterFile[][] = [];
  private finished = false;
  private failure: unknown;
  private wake: (() => void) | undefined;
  private sent: Mesh | undefined;
  private early: readonly string[] = [];
  /** One word per shared part (SHARED_PARTS): 1 once a thread has claimed it. */
  private readonly claims = new Int32Array(new SharedArrayBuffer(4 * SHARED_PARTS.length));

  constructor() {
    this.worker = new Worker(new URL('./emit-worker.js', import.meta.url));
    this.worker.unref();
    this.worker.on('message', (m: WriterFile[] | null) => {
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

  /**
   * Sends the mesh ahead of the job, as soon as it is normalized, so the worker reads it (about
   * 13 ms at 1,000 services) while this thread checks the rules and prepares the certificates.
   */
  send(mesh: Mesh): void {
    this.worker.postMessage({ mesh });
    this.sent = mesh;
  }

  /**
   * Once the mesh sent is valid: starts the worker on those of its targets (of `targets`) that read
   * no certificates (Target.usesCertificates), while this thread prepares them. Their batches wait
   * for the consumer like the rest; `run` gives the worker the other targets.
   */
  runEarly(targets: readonly Target[], encode: boolean): void {
    if (!this.sent) throw new Error('internal: the emit worker was started early without a mesh');
    this.early = emissionParts(targets)
      .filter((t) => WORKER_PARTS.includes(t.name) && t.usesCertificates === false)
      .map((t) => t.name);
    if (this.early.length > 0) this.post({ names: this.early, encode, last: false });
  }

  /**
   * Gives the worker its job: emit the parts `names` (of `mesh`, unless it was sent), but those it
   * started early, then those of `shared` it claims before this thread does (see claim).
   */
  run(job: Job, mesh: Mesh, certs: CertMaterial): void {
    this.worker.ref();
    const names = job.names.filter((n) => !this.early.includes(n));
    this.post({ names, shared: job.shared, claims: this.claims, encode: job.encode, mesh: mesh === this.sent ? undefined : mesh, certs, last: true });
  }

  /** Whether this thread gets the i-th shared part (the worker did not claim it first). */
  claim(i: number): boolean {
    return claimSlot(this.claims, i);
  }

  private post(part: Omit<JobPart, 'taken' | 'ahead'>): void {
    this.worker.postMessage({ ...part, taken: this.taken, ahead: WORKER_AHEAD } satisfies JobPart);
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /** A batch that has arrived, if any. */
  take(): WriterFile[] | undefined {
    if (this.failure) throw this.failure;
    const b = this.queue.shift();
    if (b) {
      Atomics.add(this.taken, 0, 1);
      Atomics.notify(this.taken, 0);
    }
    return b;
  }

  /** The next batch, waiting for it; undefined when the worker is done. */
  async next(): Promise<WriterFile[] | undefined> {
    for (;;) {
      const b = this.take();
      if (b || this.finished) return b;
      await new Promise<void>((r) => (this.wake = r));
    }
  }

  /** Stops the worker unless it finished; safe to call more than once. */
  async stop(): Promise<void> {
    if (!this.finished || this.failure) await this.worker.terminate();
  }
}
