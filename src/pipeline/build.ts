import { setFlagsFromString } from 'node:v8';
import { dirname, resolve } from 'node:path';
import { certOutputFiles, prepareCerts, type CertStageOptions } from '../certs/index.js';
import { checkPassphrase } from '../certs/keys.js';
import { stateLocation } from '../certs/location.js';
import { readStateFingerprint } from '../certs/state.js';
import { hasErrors, type Diagnostic, type Finding } from '../model/diagnostic.js';
import type { Mesh } from '../model/mesh.js';
import { locate, MAX_SOURCE_BYTES, readMeshBytes, releasePositions } from '../source/parse.js';
import { codeFingerprint, inputFingerprint } from '../output/fingerprint.js';
import { sha256 } from '../output/manifest.js';
import { readStamp, writeStamp } from '../output/stamp.js';
import { outputReadme } from '../output/readme.js';
import { stdinBytes } from '../source/stdin.js';
import { checkRecords, cleanLeftovers, emptyPlan, isUpToDate, planOutput, writeBatches, type OutputPlan } from '../output/writer.js';
import { byPath, type OutputFile } from '../targets/target.js';
import { emitBatches } from './emit.js';
import { selectTargets } from './targets.js';
import { sortDiagnostics, validate, type ValidateResult } from './validate.js';

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

export { defaultStateDir } from '../certs/location.js';

/**
 * `meshc build`: parse → schema → normalize → rules → certificates → emit per target → write.
 * Files are written batch by batch as the targets make them, into a staging tree swapped in at the
 * end; the certificate state is committed just before the swap. A failed build leaves out/ and the
 * state as they were. With `check`, compare only.
 */
export async function build(opts: BuildOptions): Promise<BuildResult> {
  if (opts.check) return check(opts);
  const stateDir = stateLocation(opts.file, opts.state).dir;
  const targets = selectTargets(opts.targets);
  const names = targets.map((t) => t.name);
  const now = (opts.clock ?? (() => new Date()))();

  // The rebuild shortcut: same mesh, state, targets and meshc, output untouched since. The read is
  // bounded (a pipe or a device is read once, here); a regular file too large is left to the parser.
  const meshBytes = stdinBytes(opts.file) ?? (await readMeshBytes(opts.file).then((r) => (r.tooLarge && r.size !== undefined ? undefined : r.bytes), () => undefined));
  const cached = meshBytes && (await upToDate(meshBytes, stateDir, opts.out, names, now));
  if (cached) {
    // Nothing to write, but a build still needs its keys, and finishes what a killed one left.
    checkPassphrase(stateDir, opts.passphrase);
    await cleanLeftovers(opts.out);
    // The same warnings as the build that wrote the output: CI logs do not depend on the cache.
    return { ok: true, cached: true, diagnostics: cached.map((d) => ({ ...d, file: opts.file })), plan: emptyPlan() };
  }

  // parse → schema → normalize → rules, and each target's own checks
  const v = await validate({ file: opts.file, targets: opts.targets, suppliedFiles: false, ...(meshBytes ? { bytes: meshBytes } : {}) });
  if (!v.ok || !v.mesh) return { ok: false, diagnostics: v.diagnostics };
  const mesh = v.mesh;

  // certificates: reused from the state or issued; the state lock is held until the end
  const endLowMemory = lowMemory(mesh);
  const certs = await prepareCerts(mesh, certOptions(opts, 'required'));
  try {
    const diagnostics = withCertFindings(v, certs.findings);
    if (hasErrors(diagnostics)) return { ok: false, diagnostics, mesh };
    releasePositions(v.source!);

    // emit per target → write
    const batches = emitBatches(targets, mesh, certs.material, [...certOutputFiles(certs.material), outputReadme(targets)]);
    const { fileCount, manifestSha256, ...plan } = await writeBatches(opts.out, batches, { beforeSwap: () => certs.commit(), ...(opts.writeProgress ? { progress: opts.writeProgress } : {}) });

    if (meshBytes) {
      const expiries = [...certs.material.workloads.values(), ...certs.material.ingressHosts.values()].map((c) => c.notAfter.getTime());
      await writeStamp(stateDir, opts.out, {
        inputs: await inputFingerprint(meshBytes, certs.stateText, names),
        validUntil: new Date(Math.min(...expiries, Date.parse('9999-12-31T00:00:00Z'))).toISOString(),
        manifestSha256,
        code: await codeFingerprint(),
        targets: [...names].sort(),
        state: sha256(certs.stateText),
        diagnostics,
      });
    }
    return { ok: true, diagnostics, plan, fileCount, mesh, ...(certs.warnings.length ? { warnings: certs.warnings } : {}) };
  } finally {
    endLowMemory();
    await certs.release();
  }
}

/** Meshes at least this large are built in low-memory mode (see lowMemory). */
export const LOW_MEMORY_MIN_SERVICES = 2000;

/**
 * Streaming alone leaves V8 free to let its heap grow well beyond what is live (about 450 MB at
 * 5,000 services): for a very large mesh the heap may grow only 10% beyond what survives each
 * collection until the build ends (about 250 MB, for more CPU). Returns what ends it.
 */
function lowMemory(mesh: Mesh): () => void {
  if (mesh.services.length < LOW_MEMORY_MIN_SERVICES) return () => {};
  setFlagsFromString('--heap-growing-percent=10');
  return () => setFlagsFromString('--heap-growing-percent=0'); // V8's own choice again
}

/** `build --check`: what a build would change in out/, writing nothing. */
async function check(opts: BuildOptions): Promise<BuildResult> {
  const c = await compile(opts);
  try {
    if (!c.ok || !c.files) return { ok: c.ok, diagnostics: c.diagnostics, ...(c.mesh ? { mesh: c.mesh } : {}) };
    const keysLoaded = c.keysLoaded !== false;
    const plan = await planOutput(opts.out, c.files, { compare: true, keysLoaded });
    return { ok: true, diagnostics: c.diagnostics, plan, fileCount: c.files.length, mesh: c.mesh, keysLoaded };
  } finally {
    await c.finish(false);
  }
}

/**
 * Every file a build produces, in memory and sorted by path: what check and diff compare. The
 * state lock is held until `finish` is called.
 */
export async function compile(opts: BuildOptions): Promise<BuildResult & { finish(commit: boolean): Promise<void> }> {
  const noop = async () => {};
  const v = await validate({ file: opts.file, targets: opts.targets, suppliedFiles: false });
  if (!v.ok || !v.mesh) return { ok: false, diagnostics: v.diagnostics, finish: noop };
  const mesh = v.mesh;
  // Everything compiled but not written (build --check, diff) is a comparison: no key needed.
  const certs = await prepareCerts(mesh, certOptions(opts, 'optional'));
  const finish = async (commit: boolean) => {
    try {
      if (commit) await certs.commit();
    } finally {
      await certs.release();
    }
  };
  try {
    const diagnostics = withCertFindings(v, certs.findings);
    if (hasErrors(diagnostics)) {
      await finish(false);
      return { ok: false, diagnostics, mesh, finish: noop };
    }
    const files = [...emitBatches(v.targets, mesh, certs.material, [...certOutputFiles(certs.material), outputReadme(v.targets)])].flat().sort(byPath);
    checkRecords(files);
    return { ok: true, diagnostics, files, mesh, finish, keysLoaded: certs.keysLoaded, ...(certs.warnings.length ? { warnings: certs.warnings } : {}) };
  } catch (e) {
    await finish(false);
    throw e;
  }
}

function certOptions(opts: BuildOptions, keys: 'required' | 'optional'): CertStageOptions {
  const location = stateLocation(opts.file, opts.state);
  const legacy = location.legacy ?? opts.legacyState;
  return {
    stateDir: location.dir,
    ...(legacy ? { legacyStateDir: legacy } : {}),
    meshFile: opts.file,
    keys,
    meshDir: dirname(resolve(opts.file)),
    clock: opts.clock ?? (() => new Date()),
    ...(opts.passphrase !== undefined ? { passphrase: opts.passphrase } : {}),
    ...(opts.progress ? { progress: opts.progress } : {}),
  };
}

/** The diagnostics with the certificate stage's findings placed among them. */
function withCertFindings(v: ValidateResult, findings: readonly Finding[]): Diagnostic[] {
  return findings.length === 0 ? v.diagnostics : sortDiagnostics([...v.diagnostics, ...findings.map((f) => locate(v.source!, f))]);
}

/**
 * Whether the last build of `out` was made from exactly these inputs and left untouched (see
 * isUpToDate), with that build's diagnostics. Meshes naming supplied certificate files never take
 * it: those files are inputs too, read only by the certificate stage.
 */
async function upToDate(meshBytes: Buffer, stateDir: string, out: string, targets: string[], now: Date): Promise<Diagnostic[] | undefined> {
  if (meshBytes.length > MAX_SOURCE_BYTES || meshBytes.includes('certFile')) return undefined;
  const stamp = await readStamp(stateDir, out);
  // A stamp without the build's diagnostics (an older meshc's) cannot repeat its warnings.
  if (!stamp?.diagnostics) return undefined;
  const stateText = readStateFingerprint(stateDir);
  return stateText !== undefined && (await isUpToDate(out, stamp, await inputFingerprint(meshBytes, stateText, targets), now)) ? stamp.diagnostics : undefined;
}
