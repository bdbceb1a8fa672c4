import { dirname, join, resolve } from 'node:path';
import { checkPassphrase } from '../certs/keys.js';
import { stateLocation } from '../certs/location.js';
import { certOutputFiles, prepareCerts } from '../certs/index.js';
import { hasErrors, type Diagnostic } from '../model/diagnostic.js';
import type { Mesh } from '../model/mesh.js';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { sha256, type BuildStamp } from '../output/manifest.js';
import { ignoreCaches, readStateFingerprint } from '../certs/state.js';
import { codeFingerprint, inputFingerprint } from '../output/fingerprint.js';
import { cleanLeftovers, isUpToDate, checkRecords, openOutput, planOutput, type OutputPlan, type OutputSink, type WriterFile } from '../output/writer.js';
import { stdinBytes } from '../source/stdin.js';
import { outputReadme } from '../output/readme.js';
import { selectTargets } from './targets.js';
import { confirmWorker, emitBatches, startLowMemory, startWorkerEarly, usesThreads, type EmitWorker } from './emit.js';
import { byPath, type OutputFile } from '../targets/target.js';
import { checkMesh, placeFindings } from './validate.js';
import { MAX_SOURCE_BYTES, readMeshBytes } from '../source/parse.js';

export interface BuildOptions {
  /** Path of mesh.yaml. */
  file: string;
  /** Output directory. Default `out` (the CLI resolves it). */
  out: string;
  /** State directory. Default `.meshc/<mesh file name>/` beside the mesh file (see certs/location.ts). */
  state?: string;
  /**
   * With `state`: an older meshc's shared state directory to adopt a state from (see
   * certs/location.ts); the default location brings its own. For diff's scratch copies.
   */
  legacyState?: string;
  /** Target names; default all. */
  targets?: string[];
  /** Compare only: write nothing, commit no state. */
  check?: boolean;
  /** Injected clock (tests); default the real time. */
  clock?: () => Date;
  /** Passphrase for private keys in the state (MESHC_STATE_PASSPHRASE). */
  passphrase?: string;
  /** Certificates issued so far, of how many (called only when some are issued). */
  progress?: (done: number, total: number) => void;
  /** Files rendered and written so far, after each batch (they are produced and written together). */
  writeProgress?: (files: number) => void;
}

export interface BuildResult {
  ok: boolean;
  /** True when the rebuild shortcut found nothing to do (nothing was validated or written). */
  cached?: boolean;
  diagnostics: Diagnostic[];
  /** What differs between out/ and this build (for --check: what would be written). */
  plan?: OutputPlan;
  /** Every file of the build, sorted by path (compile only: a build streams them to the writer). */
  files?: OutputFile[];
  /** How many files the build has (build and build --check). */
  fileCount?: number;
  /** False when a comparison had no private keys: files under `secrets/` were not compared. */
  keysLoaded?: boolean;
  /** For the user, about the state rather than mesh.yaml (see prepareCerts). */
  warnings?: string[];
  mesh?: Mesh;
}

/** The build stamps of output directories, by absolute path: a cache, safe to delete. */
const STAMPS_FILE = 'builds.json';
/**
 * Stamps kept, the most recently written last: one per output directory, and a CI job that builds
 * into a fresh temporary directory each time would otherwise grow the file without end.
 */
export const MAX_STAMPS = 32;

export async function readStamp(stateDir: string, out: string): Promise<BuildStamp | undefined> {
  try {
    const all = JSON.parse(await readFile(join(stateDir, STAMPS_FILE), 'utf8')) as Record<string, BuildStamp>;
    return all[resolve(out)];
  } catch {
    return undefined;
  }
}

async function writeStamp(stateDir: string, out: string, stamp: BuildStamp): Promise<void> {
  let all: Record<string, BuildStamp> = {};
  try {
    all = JSON.parse(await readFile(join(stateDir, STAMPS_FILE), 'utf8')) as Record<string, BuildStamp>;
  } catch {
    all = {};
  }
  // Written last, so the oldest are first to go.
  delete all[resolve(out)];
  const kept = Object.keys(all).slice(-(MAX_STAMPS - 1));
  all = Object.fromEntries([...kept.map((k) => [k, all[k]!] as const), [resolve(out), stamp]]);
  const tmp = join(stateDir, `.${STAMPS_FILE}.${process.pid}`);
  try {
    await writeFile(tmp, JSON.stringify(all, null, 2) + '\n', { mode: 0o600 });
    await rename(tmp, join(stateDir, STAMPS_FILE));
    await ignoreCaches(stateDir);
  } catch {
    // a cache: a build that cannot record its stamp just takes the full path next time
  }
}

export { defaultStateDir } from '../certs/location.js';

type Prepared<F> = Omit<BuildResult, 'files'> & {
  finish(commit: boolean): Promise<void>;
  keysLoaded?: boolean;
  stateText?: string;
  validUntil?: string;
  /** Every file of the build, batch by batch, in no particular order; already started. */
  emission?: AsyncGenerator<F[]>;
};

/**
 * Validates and prepares certificates; on success, starts the emission of the selected targets
 * (`encode`: for the writer, see EncodedFile). The state lock is held until `finish` is called.
 */
async function prepare(opts: BuildOptions, meshBytes: Buffer | undefined, encode: false): Promise<Prepared<OutputFile>>;
async function prepare(opts: BuildOptions, meshBytes: Buffer | undefined, encode: true): Promise<Prepared<WriterFile>>;
async function prepare(opts: BuildOptions, meshBytes: Buffer | undefined, encode: boolean): Promise<Prepared<WriterFile>> {
  const noop = async () => {};
  // Set up before the mesh is parsed or once it is: the worker, when it will be used (it gets
  // ready while this thread validates), or low-memory mode for a very large mesh.
  const targets = selectTargets(opts.targets);
  let worker = meshBytes ? startWorkerEarly(meshBytes.length, targets) : undefined;
  let endLowMemory: (() => void) | undefined;
  const releaseSetup = async () => {
    endLowMemory?.();
    endLowMemory = undefined;
    await worker?.stop();
    worker = undefined;
  };
  try {
    const v = await checkMesh({
      file: opts.file,
      targets: opts.targets,
      suppliedFiles: false, // the certificate stage below checks them
      ...(meshBytes ? { bytes: meshBytes } : {}),
      onParsed: (value) => {
        worker = confirmWorker(value, targets, worker);
        endLowMemory = startLowMemory(value);
      },
      onNormalized: (mesh) => worker?.send(mesh),
    });
    if (!v.ok || !v.mesh) {
      await releaseSetup();
      return { ok: false, diagnostics: placeFindings(v.source, v.placed, v.findings), finish: noop };
    }
    const mesh = v.mesh;
    worker?.runEarly(v.targets, encode);
    const location = stateLocation(opts.file, opts.state);
    const legacy = location.legacy ?? opts.legacyState;
    const certs = await prepareCerts(mesh, {
      stateDir: location.dir,
      ...(legacy ? { legacyStateDir: legacy } : {}),
      meshFile: opts.file,
      // Everything compiled but not written (build --check, diff) is a comparison: no key needed.
      keys: encode ? 'required' : 'optional',
      meshDir: dirname(resolve(opts.file)),
      clock: opts.clock ?? (() => new Date()),
      ...(opts.passphrase !== undefined ? { passphrase: opts.passphrase } : {}),
      ...(opts.progress ? { progress: opts.progress } : {}),
    });
    const finish = async (commit: boolean) => {
      try {
        if (commit) await certs.commit();
      } finally {
        await Promise.all([certs.release(), releaseSetup()]);
      }
    };
    const findings = [...v.findings, ...certs.findings];
    if (hasErrors(findings)) {
      await finish(false);
      return { ok: false, diagnostics: placeFindings(v.source, v.placed, findings), mesh, finish: noop };
    }
    // The emission starts (the worker on its job) before the warnings are placed.
    const emission = emitBatches(v.targets, mesh, certs.material, { first: [...certOutputFiles(certs.material), outputReadme(v.targets)], worker, encode });
    const expiries = [...certs.material.workloads.values(), ...certs.material.ingressHosts.values()].map((c) => c.notAfter.getTime());
    const validUntil = new Date(Math.min(...expiries, Date.parse('9999-12-31T00:00:00Z'))).toISOString();
    return { ok: true, diagnostics: placeFindings(v.source, v.placed, findings), mesh, finish, stateText: certs.stateText, validUntil, emission, keysLoaded: certs.keysLoaded, warnings: certs.warnings };
  } catch (e) {
    await releaseSetup();
    throw e;
  }
}

/**
 * Everything a build produces, in memory and sorted by path: what check and diff compare. The
 * state lock is held until `finish` is called.
 */
export async function compile(opts: BuildOptions, meshBytes?: Buffer): Promise<BuildResult & { finish(commit: boolean): Promise<void>; stateText?: string; validUntil?: string; keysLoaded?: boolean }> {
  const p = await prepare(opts, meshBytes, false);
  if (!p.ok || !p.emission) return p;
  try {
    const files: OutputFile[] = [];
    for await (const batch of p.emission) files.push(...batch);
    files.sort(byPath);
    checkRecords(files);
    return { ...p, files };
  } catch (e) {
    await p.finish(false);
    throw e;
  }
}

/**
 * How many batches may be in the writer at once. With one, the one libuv pool thread that does the
 * writes sat idle between a batch's last write and the next batch's first, and the build waited
 * for it. With three, a 1,000-service build took 995 -> 929 ms on this machine's disk and 765 ->
 * 733 ms in memory. MESHC_WRITES_IN_FLIGHT overrides it, for measuring; anything but a positive
 * integer is ignored (the bound is what keeps a very large build's memory bounded).
 */
const WRITES_IN_FLIGHT = writesInFlight();

function writesInFlight(): number {
  const set = Number(process.env.MESHC_WRITES_IN_FLIGHT);
  return Number.isSafeInteger(set) && set > 0 ? set : 3;
}

/**
 * `meshc build`: compile, then write out/ atomically and commit certificate state just before
 * the swap. With `check`, compare only. A failed build leaves out/ and the state as they were.
 * A real build streams: each batch of files is written while the next is produced.
 */
export async function build(opts: BuildOptions): Promise<BuildResult> {
  const stateDir = stateLocation(opts.file, opts.state).dir;
  const targets = selectTargets(opts.targets).map((t) => t.name);
  const now = (opts.clock ?? (() => new Date()))();
  let meshText: Buffer | undefined;
  // The rebuild shortcut (see isUpToDate). Meshes that name supplied certificate files always
  // take the full path: those files are inputs too and are read only by the certificate stage.
  if (!opts.check) {
    void codeFingerprint().catch(() => undefined); // read meanwhile; needed for the stamp (or just below)
    // Bounded: a pipe or a device is read once, here, and never past the limit.
    // A regular file too large is left to the parser's read, which reports its size.
    meshText = stdinBytes(opts.file) ?? (await readMeshBytes(opts.file).then((r) => (r.tooLarge && r.size !== undefined ? undefined : r.bytes), () => undefined));
    const stamp = meshText && meshText.length <= MAX_SOURCE_BYTES && !meshText.includes('certFile') ? await readStamp(stateDir, opts.out) : undefined;
    if (meshText && stamp?.diagnostics) {
      const stateText = readStateFingerprint(stateDir);
      if (stateText !== undefined && (await isUpToDate(opts.out, stamp, await inputFingerprint(meshText, stateText, targets), now))) {
        // Nothing to write, but a build still needs its keys, and finishes what a killed one left.
        checkPassphrase(stateDir, opts.passphrase);
        await cleanLeftovers(opts.out);
        // The same warnings as the build that wrote the output: CI logs do not depend on the cache.
        const diagnostics = stamp.diagnostics.map((d) => ({ ...d, file: opts.file }));
        return { ok: true, cached: true, diagnostics, plan: { added: [], changed: [], removed: [], modeChanged: [], upToDate: true } };
      }
    }
  }
  if (opts.check) {
    const c = await compile(opts);
    if (!c.ok || !c.files) return { ok: c.ok, diagnostics: c.diagnostics, ...(c.mesh ? { mesh: c.mesh } : {}) };
    try {
      const plan = await planOutput(opts.out, c.files, { compare: true, keysLoaded: c.keysLoaded !== false });
      return { ok: true, diagnostics: c.diagnostics, plan, fileCount: c.files.length, mesh: c.mesh, keysLoaded: c.keysLoaded !== false };
    } finally {
      await c.finish(false);
    }
  }
  // The bytes the stamp is made of are the bytes compiled: read once.
  const p = await prepare(opts, meshText, true);
  if (!p.ok || !p.emission) return { ok: p.ok, diagnostics: p.diagnostics, ...(p.mesh ? { mesh: p.mesh } : {}) };
  let committed = false;
  let sink: OutputSink | undefined;
  // Batches are written while the next are produced, a few at a time (see WRITES_IN_FLIGHT).
  const writing: Promise<void>[] = [];
  try {
    sink = await openOutput(opts.out, { thread: usesThreads(p.mesh?.services.length ?? 0) });
    let files = 0;
    for await (const batch of p.emission) {
      if (writing.length === WRITES_IN_FLIGHT) await writing.shift();
      files += batch.length;
      opts.writeProgress?.(files);
      const put = sink.put(batch);
      put.catch(() => undefined); // awaited above or below; never an unhandled rejection meanwhile
      writing.push(put);
    }
    // Every file is put: the manifest is made while the last batches are written (about 13 ms at
    // 1,000 services, which was all spent after them).
    sink.seal();
    while (writing.length > 0) await writing.shift();
    const written = await sink.commit({
      beforeSwap: async () => {
        await p.finish(true);
        committed = true;
      },
    });
    const { fileCount, manifestSha256, ...plan } = written;
    if (meshText && p.stateText !== undefined && p.validUntil)
      await writeStamp(stateDir, opts.out, {
        inputs: await inputFingerprint(meshText, p.stateText, targets),
        validUntil: p.validUntil,
        manifestSha256,
        code: await codeFingerprint(),
        targets: [...targets].sort(),
        state: sha256(p.stateText),
        diagnostics: p.diagnostics,
      });
    return { ok: true, diagnostics: p.diagnostics, plan, fileCount, mesh: p.mesh, ...(p.warnings?.length ? { warnings: p.warnings } : {}) };
  } catch (e) {
    await Promise.allSettled(writing); // no write in flight while the staging tree is removed
    await sink?.abort();
    throw e;
  } finally {
    if (!committed) await p.finish(false);
  }
}
