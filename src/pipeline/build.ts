import { dirname, join, resolve } from 'node:path';
import { certOutputFiles, prepareCerts } from '../certs/index.js';
import { hasErrors, type Diagnostic } from '../model/diagnostic.js';
import type { Mesh } from '../model/mesh.js';
import { locate } from '../source/parse.js';
import { checkRecords, planOutput, writeOutput, type OutputPlan } from '../output/writer.js';
import type { OutputFile } from '../targets/target.js';
import { sortDiagnostics, validate } from './validate.js';

export interface BuildOptions {
  /** Path of mesh.yaml. */
  file: string;
  /** Output directory. Default `out` (the CLI resolves it). */
  out: string;
  /** State directory. Default `.meshc` beside the mesh file. */
  state?: string;
  /** Target names; default all. */
  targets?: string[];
  /** Compare only: write nothing, commit no state. */
  check?: boolean;
  /** Injected clock (tests); default the real time. */
  clock?: () => Date;
  /** Passphrase for private keys in the state (MESHC_STATE_PASSPHRASE). */
  passphrase?: string;
  progress?: (done: number, total: number) => void;
}

export interface BuildResult {
  ok: boolean;
  diagnostics: Diagnostic[];
  /** What differs between out/ and this build (for --check: what would be written). */
  plan?: OutputPlan;
  /** Every file of the build, sorted by path (not written with --check). */
  files?: OutputFile[];
  mesh?: Mesh;
}

export function defaultStateDir(file: string): string {
  return join(dirname(resolve(file)), '.meshc');
}

/**
 * Everything a build produces, in memory: validate, prepare certificates, run every selected
 * target. The caller decides whether to write (build) or compare (check, diff). The state lock is
 * held until `finish` is called.
 */
export async function compile(opts: BuildOptions): Promise<BuildResult & { finish(commit: boolean): Promise<void> }> {
  const noop = async () => {};
  const v = await validate({ file: opts.file, targets: opts.targets });
  if (!v.ok || !v.mesh || !v.source) return { ok: false, diagnostics: v.diagnostics, finish: noop };
  const mesh = v.mesh;
  const certs = await prepareCerts(mesh, {
    stateDir: opts.state ?? defaultStateDir(opts.file),
    meshDir: dirname(resolve(opts.file)),
    clock: opts.clock ?? (() => new Date()),
    ...(opts.passphrase !== undefined ? { passphrase: opts.passphrase } : {}),
    ...(opts.progress ? { progress: opts.progress } : {}),
  });
  const finish = async (commit: boolean) => {
    try {
      if (commit) await certs.commit();
    } finally {
      await certs.release();
    }
  };
  try {
    const certDiagnostics = certs.findings.map((f) => locate(v.source!, f));
    const diagnostics = sortDiagnostics([...v.diagnostics, ...certDiagnostics]);
    if (hasErrors(diagnostics)) {
      await finish(false);
      return { ok: false, diagnostics, mesh, finish: noop };
    }
    const files = [...certOutputFiles(certs.material), ...v.targets.flatMap((t) => t.emit(mesh, certs.material))].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    checkRecords(files);
    return { ok: true, diagnostics, files, mesh, finish };
  } catch (e) {
    await finish(false);
    throw e;
  }
}

/**
 * `meshc build`: compile, then write out/ atomically and commit certificate state just before
 * the swap. With `check`, compare only. A failed build leaves out/ and the state as they were.
 */
export async function build(opts: BuildOptions): Promise<BuildResult> {
  const c = await compile(opts);
  if (!c.ok || !c.files) return { ok: c.ok, diagnostics: c.diagnostics, ...(c.mesh ? { mesh: c.mesh } : {}) };
  let committed = false;
  try {
    const plan = opts.check
      ? await planOutput(opts.out, c.files, { compare: true })
      : await writeOutput(opts.out, c.files, {
          beforeSwap: async () => {
            await c.finish(true);
            committed = true;
          },
        });
    return { ok: true, diagnostics: c.diagnostics, plan, files: c.files, mesh: c.mesh };
  } finally {
    if (!committed) await c.finish(false);
  }
}
