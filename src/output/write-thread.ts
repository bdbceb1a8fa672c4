/**
 * The writer's thread: writes files with plain synchronous calls, one after another, off the
 * thread that plans and hashes them (writer.ts stays the one writer; this is its hands).
 *
 * Through libuv's pool, each file costs the calling thread three callbacks (open, write, close):
 * 27,000 of them for a 1,000-service build, about 0.14 s of the main thread in a profile, on a machine
 * whose two cores the compile already keeps busy. Here the calling thread posts a batch of files
 * (their bytes shared or transferred, never copied twice) and gets one reply per batch.
 * Measured at 1,000 services, interleaved: in memory 802 -> 773 ms and CPU 1445 -> 1373 ms (median
 * of 10); on this machine's disk the gain is within the disk's noise. At 5,000 services (low-memory
 * mode, one emitting thread) 7.7 -> 6.4 s, with peak memory 231 -> 261 MB.
 *
 * The same module is the thread's code: loaded as a worker with WRITE_THREAD as its data, it
 * serves batches until it is terminated.
 */
import { chmodSync, writeFileSync } from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

/** workerData that marks the writer's thread. */
const WRITE_THREAD = 'meshc-write-thread';

/**
 * One batch, as posted to the thread: a few buffers and numbers rather than an object and a view
 * per file, so each message has few objects to serialize here and to rebuild there.
 */
interface Batch {
  id: number;
  paths: string[];
  /** Per file: its mode, then 1 to also chmod after writing (the umask narrows what `writeFile` creates). */
  modes: Int32Array;
  /** The buffers the bytes are in: the emit worker's shared batches, and one copy of the rest. */
  buffers: (ArrayBuffer | SharedArrayBuffer)[];
  /** Per file: the index of its buffer, its offset there and its length. */
  where: Int32Array;
}

/** An error as the thread reports it: what Node's fs error carries, so it reads the same. */
interface ThreadError {
  index: number;
  message: string;
  code?: string;
  errno?: number;
  syscall?: string;
  path?: string;
}

/** Threads started in this process (for tests: that a large build really writes through one). */
let started = 0;
export function writeThreadsStarted(): number {
  return started;
}

interface Waiting {
  resolve: () => void;
  reject: (e: Error) => void;
}

/**
 * Writes files through one worker thread. `write` queues a file and resolves once it is on disk
 * (or rejects with the file system's error); files queued in the same turn of the event loop go
 * as one batch. `close` stops the thread (after waiting for nothing: call it once writes settled).
 */
export class WriteThread {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly inFlight = new Map<number, Waiting[]>();
  private queue: { path: string; bytes: Uint8Array; mode: number; chmod: boolean; waiting: Waiting }[] = [];
  private queuedBytes = 0;
  private failure: Error | undefined;

  write(path: string, bytes: Uint8Array, mode: number, chmod: boolean): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => {
      if (this.queue.length === 0) setImmediate(() => this.flush());
      this.queue.push({ path, bytes, mode, chmod, waiting: { resolve, reject } });
      if (!(bytes.buffer instanceof SharedArrayBuffer)) this.queuedBytes += bytes.length;
    });
  }

  /** Stops the thread; writes still in flight are rejected. */
  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    this.fail(new Error('internal: the write thread was closed with writes in flight'));
    if (worker) await worker.terminate();
  }

  private flush(): void {
    const items = this.queue;
    this.queue = [];
    if (items.length === 0 || this.failure) return this.failAll(items.map((x) => x.waiting));
    // Bytes in shared memory (the emit worker's batches) go as they are; the rest are copied into
    // one buffer, transferred.
    const own = this.queuedBytes > 0 ? new Uint8Array(this.queuedBytes) : undefined;
    this.queuedBytes = 0;
    const buffers: (ArrayBuffer | SharedArrayBuffer)[] = own ? [own.buffer] : [];
    const index = new Map<ArrayBufferLike, number>();
    const modes = new Int32Array(items.length * 2);
    const where = new Int32Array(items.length * 3);
    let at = 0;
    items.forEach((x, i) => {
      modes[2 * i] = x.mode;
      modes[2 * i + 1] = x.chmod ? 1 : 0;
      const shared = x.bytes.buffer;
      if (shared instanceof SharedArrayBuffer) {
        let b = index.get(shared);
        if (b === undefined) index.set(shared, (b = buffers.push(shared) - 1));
        where[3 * i] = b;
        where[3 * i + 1] = x.bytes.byteOffset;
      } else {
        own!.set(x.bytes, at);
        where[3 * i + 1] = at; // buffer 0
        at += x.bytes.length;
      }
      where[3 * i + 2] = x.bytes.length;
    });
    const batch: Batch = { id: this.nextId++, paths: items.map((x) => x.path), modes, buffers, where };
    this.inFlight.set(batch.id, items.map((x) => x.waiting));
    const worker = this.start();
    worker.ref();
    worker.postMessage(batch, own ? [own.buffer] : []);
  }

  private start(): Worker {
    if (this.worker) return this.worker;
    // A small young generation: the thread allocates little, so with V8's default it collected so
    // rarely that it held on to already written batches (peak memory at 1,000 services 246 -> 228 MB).
    const worker = new Worker(new URL(import.meta.url), { workerData: WRITE_THREAD, resourceLimits: { maxYoungGenerationSizeMb: 1 } });
    started++;
    worker.on('message', ({ id, errors }: { id: number; errors: ThreadError[] }) => {
      const waiting = this.inFlight.get(id) ?? [];
      this.inFlight.delete(id);
      const failed = new Map(errors.map((e) => [e.index, e]));
      waiting.forEach((w, i) => {
        const e = failed.get(i);
        if (e) w.reject(Object.assign(new Error(e.message), { code: e.code, errno: e.errno, syscall: e.syscall, path: e.path }));
        else w.resolve();
      });
      // Idle: the thread must not keep the process alive.
      if (this.inFlight.size === 0) worker.unref();
    });
    worker.on('error', (e) => this.fail(e));
    worker.on('exit', (code) => this.fail(new Error(`internal: the write thread stopped (exit code ${code})`)));
    this.worker = worker;
    return worker;
  }

  private fail(e: Error): void {
    this.failure ??= e;
    for (const waiting of this.inFlight.values()) this.failAll(waiting);
    this.inFlight.clear();
  }

  private failAll(waiting: Waiting[]): void {
    for (const w of waiting) w.reject(this.failure ?? new Error('internal: the write thread failed'));
  }
}

/** The thread's side: write each file of a batch in order, then reply once with any errors. */
function serve(port: NonNullable<typeof parentPort>): void {
  port.on('message', (batch: Batch) => {
    const errors: ThreadError[] = [];
    const views = batch.buffers.map((b) => new Uint8Array(b));
    const { modes, where } = batch;
    for (let i = 0; i < batch.paths.length; i++) {
      const path = batch.paths[i]!;
      const offset = where[3 * i + 1]!;
      try {
        writeFileSync(path, views[where[3 * i]!]!.subarray(offset, offset + where[3 * i + 2]!), { mode: modes[2 * i] });
        if (modes[2 * i + 1]) chmodSync(path, modes[2 * i]!);
      } catch (e) {
        const { message, code, errno, syscall } = e as NodeJS.ErrnoException;
        errors.push({ index: i, message, code, errno, syscall, path });
      }
    }
    port.postMessage({ id: batch.id, errors });
  });
}

if (!isMainThread && workerData === WRITE_THREAD && parentPort) serve(parentPort);
