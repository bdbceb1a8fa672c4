/**
 * `meshc diff`: what a build would change, without writing anything.
 *
 * Two comparisons share one report:
 *  - against the output directory (`diffOutput`): the file list comes from `planOutput`, the same
 *    byte comparison `meshc build --check` uses, so the two always agree;
 *  - against a git revision (`diffAgainstRef`): mesh.yaml at that revision and the working copy are
 *    both compiled in memory with the same certificate state, and the two file sets compared.
 *
 * The report is a per-resource summary (summarize.ts) and per-file unified diffs (jsdiff). Key
 * material never appears in it: files under `secrets/` get no diff, every PEM block is replaced by
 * a one-line placeholder, the base64 of every known key (as a Kubernetes Secret would hold it) and
 * every other long base64 run are replaced too.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import { chmod, copyFile, lstat, mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { UserError } from '../errors.js';
import type { Diagnostic } from '../model/diagnostic.js';
import { cmp, type Mesh } from '../model/mesh.js';
import { compile } from '../pipeline/build.js';
import { stateLocation } from '../certs/location.js';
import { ENCRYPTED_KEYS_FILE, hasState, PLAIN_KEYS_FILE, PRIVATE_DIR, STATE_FILE } from '../certs/state.js';
import { compilePartial, type PartialCompile } from '../pipeline/partial.js';
import type { OutputFile } from '../targets/target.js';
import { MANIFEST_NAME, modeOf, sha256 } from './manifest.js';
import { meshFromSummary, summarizeFile, summarizeMeshes, type SummaryItem } from './summarize.js';
import { currentTree, emptyPlan, exists, listFiles, planOutput, settlePlan, type OutputPlan } from './writer.js';
import { loadExeca } from '../process.js';

export type { SummaryItem } from './summarize.js';

export type FileStatus = 'added' | 'changed' | 'removed';

export interface FileChange {
  path: string;
  status: FileStatus;
  /** Unified diff, redacted; absent for private keys, binary files, mode-only changes and with `stat`. */
  diff?: string;
  /** Why there is no diff, or what else changed: `private key: not shown`, `mode 644 → 600`. */
  note?: string;
}

export interface DiffReport {
  /** True when a build would change anything. */
  changed: boolean;
  /** Per resource, in words: mesh-level lines first, then per-file lines in path order. */
  summary: SummaryItem[];
  /** Every file that differs, sorted by path. */
  files: FileChange[];
  /** What could not be compared (for example no summary/mesh.json in the old output). */
  notes: string[];
}

export interface DiffOptions {
  /** Path of mesh.yaml. */
  file: string;
  /** Output directory compared against (ignored with `against`). */
  out: string;
  /** State directory. Default: certs/location.ts. */
  state?: string;
  targets?: string[];
  passphrase?: string;
  /** Injected clock (tests); default the real time. Both sides of `against` use the same instant. */
  clock?: () => Date;
  /** Summary and file list only: no unified diffs. */
  stat?: boolean;
}

export interface DiffResult {
  ok: boolean;
  diagnostics: Diagnostic[];
  report?: DiffReport;
  /** How out/ was compared: `incremental` (src/pipeline/partial.ts) or the whole mesh compiled. */
  path?: 'incremental' | 'full';
}

// ---------------------------------------------------------------------------------------------
// Redaction

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;
const LONG_BASE64 = /[A-Za-z0-9+/_-]{60,}={0,2}/g;

function pemPlaceholder(label: string, block: string): string {
  if (/KEY/.test(label)) return '<private key: redacted>';
  if (label === 'CERTIFICATE') {
    try {
      const c = new X509Certificate(block.replace(/\\r/g, '').replace(/\\n/g, '\n'));
      return `<certificate ${c.subject.split('\n').join(', ')}, serial ${c.serialNumber.toLowerCase()}, expires ${new Date(c.validTo).toISOString().slice(0, 10)}>`;
    } catch {
      /* fall through */
    }
  }
  return `<${label.toLowerCase()}: sha256 ${sha256(block).slice(0, 16)}>`;
}

/**
 * The strings of one secret file that must never be printed: the body lines of its PEM, the PEM
 * and its DER as base64 (how a Kubernetes Secret or an inline config would carry them), and any
 * base64 payload it holds.
 */
export function keyTokens(keyFileContent: string): string[] {
  const tokens = new Set<string>();
  tokens.add(Buffer.from(keyFileContent).toString('base64'));
  for (const m of keyFileContent.matchAll(PEM_BLOCK)) {
    tokens.add(Buffer.from(m[0]).toString('base64'));
    tokens.add(Buffer.from(m[0] + '\n').toString('base64'));
    const body = m[0].split('\n').filter((l) => l && !l.startsWith('-----') && !l.includes(':'));
    tokens.add(body.join(''));
    for (const l of body) if (l.trim().length >= 16) tokens.add(l.trim());
  }
  // Base64 payloads of a secret file that is not a PEM (a Kubernetes Secret manifest).
  for (const m of keyFileContent.matchAll(/[A-Za-z0-9+/]{40,}={0,2}/g)) tokens.add(m[0]);
  return [...tokens].filter((t) => t.length >= 16);
}

/**
 * Makes a file's text safe to show: PEM blocks become one line (a certificate by subject, serial
 * and expiry; a key by nothing at all), known key strings and any other long base64 run become
 * placeholders. Hex strings (content hashes) are kept.
 */
export function redact(text: string, known: readonly string[] = []): string {
  let t = text.replace(PEM_BLOCK, (block, label: string) => pemPlaceholder(label, block));
  // A key block without its END line (truncated file): drop everything after its BEGIN.
  t = t.replace(/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*/g, '<private key: redacted>');
  for (const k of [...known].sort((a, b) => b.length - a.length)) if (t.includes(k)) t = t.split(k).join('<redacted>');
  t = t.replace(LONG_BASE64, (tok) => {
    if (/^[0-9a-fA-F]+$/.test(tok) || !/[A-Z]/.test(tok) || !/[a-z]/.test(tok) || !/[0-9]/.test(tok)) return tok;
    return `<base64: ${tok.length} chars, sha256 ${sha256(tok).slice(0, 16)}>`;
  });
  return t;
}

// ---------------------------------------------------------------------------------------------
// Comparing two file sets

export interface Side {
  /** Content of the files the report needs (every changed or removed path, and secrets). */
  read(path: string): Promise<string | Buffer | undefined>;
  /** File mode (for mode-only changes), when known. */
  mode?(path: string): Promise<number | undefined>;
  /** The normalized mesh of that side, when known. */
  mesh?: Mesh;
}

/** Same shape as `planOutput`, for two in-memory file sets. */
export function compareFiles(oldFiles: readonly OutputFile[], newFiles: readonly OutputFile[]): OutputPlan {
  const old = new Map(oldFiles.map((f) => [f.path, f]));
  const plan = emptyPlan();
  for (const f of newFiles) {
    const o = old.get(f.path);
    if (!o) plan.added.push(f.path);
    else if (o.content !== f.content) plan.changed.push(f.path);
    else if (modeOf(o) !== modeOf(f)) plan.modeChanged.push(f.path);
    old.delete(f.path);
  }
  plan.removed = [...old.keys()];
  return settlePlan(plan);
}

const isSecret = (path: string) => path === 'secrets' || path.startsWith('secrets/');
const asText = (c: string | Buffer | undefined): string | undefined => (c === undefined ? undefined : typeof c === 'string' ? c : c.toString('utf8'));
const isBinary = (c: string | undefined) => c !== undefined && c.includes('\u0000');

/** jsdiff's patch without its `====` banner and trailing tabs; `/dev/null` for a missing side. */
async function unified(path: string, a: string | undefined, b: string | undefined): Promise<string> {
  const { createTwoFilesPatch } = await import('diff'); // on first use: only patches need it
  const patch = createTwoFilesPatch(a === undefined ? '/dev/null' : `a/${path}`, b === undefined ? '/dev/null' : `b/${path}`, a ?? '', b ?? '', undefined, undefined, { context: 3 });
  return patch
    .split('\n')
    .filter((l) => !/^={10,}$/.test(l))
    .map((l) => (l.startsWith('--- ') || l.startsWith('+++ ') ? l.replace(/\t$/, '') : l))
    .join('\n')
    .replace(/\n*$/, '\n');
}

/**
 * The report for a plan between two sides. `opts.secrets` holds the content of every file under
 * `secrets/` on either side (for redaction), also of those that did not change.
 */
export async function buildReport(plan: OutputPlan, oldSide: Side, newSide: Side, opts: { stat?: boolean; secrets: string[]; notes?: string[]; perFile?: boolean }): Promise<DiffReport> {
  const known = [...new Set(opts.secrets.flatMap(keyTokens))];
  const notes = [...(opts.notes ?? [])];
  const summary: SummaryItem[] = [];
  if (oldSide.mesh && newSide.mesh) {
    try {
      summary.push(...summarizeMeshes(oldSide.mesh, newSide.mesh));
    } catch {
      // An old summary/mesh.json of another shape (another meshc version): files still compare.
      notes.push('the previous summary/mesh.json has another shape (written by another meshc version?): no service-level summary');
    }
  }

  const entries: [string, FileStatus][] = [
    ...plan.added.map((p) => [p, 'added'] as [string, FileStatus]),
    ...plan.changed.map((p) => [p, 'changed'] as [string, FileStatus]),
    ...plan.removed.map((p) => [p, 'removed'] as [string, FileStatus]),
    ...plan.modeChanged.map((p) => [p, 'changed'] as [string, FileStatus]),
  ].sort((x, y) => cmp(x[0], y[0]));
  const modeOnly = new Set(plan.modeChanged);
  const files: FileChange[] = [];
  const fileSummary: SummaryItem[] = [];
  for (const [path, status] of entries) {
    const a = status === 'added' ? undefined : asText(await oldSide.read(path));
    const b = status === 'removed' ? undefined : asText(await newSide.read(path));
    const change: FileChange = { path, status };
    if (modeOnly.has(path)) {
      const [ma, mb] = [await oldSide.mode?.(path), await newSide.mode?.(path)];
      change.note = ma !== undefined && mb !== undefined ? `mode ${ma.toString(8)} → ${mb.toString(8)}` : 'mode changed';
      fileSummary.push({ scope: 'file', subject: path, text: `${path}: ${change.note}` });
    } else if (isSecret(path)) change.note = path.endsWith('.key') ? 'private key: not shown' : 'secret: not shown';
    else if (isBinary(a) || isBinary(b)) change.note = 'binary file: not shown';
    else {
      if (opts.perFile !== false) fileSummary.push(...summarizeFile(path, a, b));
      if (!opts.stat) change.diff = await unified(path, a === undefined ? undefined : redact(a, known), b === undefined ? undefined : redact(b, known));
    }
    files.push(change);
  }
  summary.push(...fileSummary);
  return { changed: !plan.upToDate || files.length > 0, summary, files, notes };
}

// ---------------------------------------------------------------------------------------------
// Against the output directory

/** Every file under `<dir>/secrets/`, as output-relative paths. */
async function listKeyFiles(dir: string): Promise<string[]> {
  const abs = join(dir, 'secrets');
  return (await exists(abs)) ? (await listFiles(abs)).map((p) => `secrets/${p}`) : [];
}

/**
 * What `meshc build` would change in the output directory. Compiles in memory (certificates a
 * build would issue are issued in memory only and show as added), commits no state, writes nothing.
 */
export async function diffOutput(opts: DiffOptions): Promise<DiffResult> {
  const partial = await compilePartial({ file: opts.file, out: opts.out, ...(opts.state ? { state: opts.state } : {}), ...(opts.targets ? { targets: opts.targets } : {}), ...(opts.clock ? { clock: opts.clock } : {}), ...(opts.passphrase !== undefined ? { passphrase: opts.passphrase } : {}) });
  if (partial) return diffPartial(partial, opts);
  // A comparison creates nothing, not even the state directory, and needs no private key.
  const c = await compile({ file: opts.file, out: opts.out, ...(opts.state ? { state: opts.state } : {}), targets: opts.targets, clock: opts.clock, ...(opts.passphrase !== undefined ? { passphrase: opts.passphrase } : {}) });
  try {
    if (!c.ok || !c.files) return { ok: false, diagnostics: c.diagnostics };
    const out = await currentTree(resolve(opts.out));
    const plan = await planOutput(out, c.files, { compare: true, keysLoaded: c.keysLoaded !== false });
    const byPath = new Map(c.files.map((f) => [f.path, f]));
    const notes: string[] = [];
    const outExists = await exists(out);
    if (!plan.upToDate && outExists && !(await exists(join(out, MANIFEST_NAME))) && !plan.added.length && !plan.changed.length && !plan.removed.length && !plan.modeChanged.length)
      plan.added.push(MANIFEST_NAME);
    const readOld = async (p: string) => {
      try {
        return await readFile(join(out, ...p.split('/')));
      } catch {
        return undefined;
      }
    };
    const oldMesh = meshFromSummary(asText(await readOld('summary/mesh.json')));
    const nothingBuilt = !outExists || plan.added.length === c.files.length;
    if (nothingBuilt) notes.push(`nothing built yet in ${opts.out}: ${c.files.length} files would be written`);
    if (c.keysLoaded === false) notes.push('no private keys here (only the public state): files under secrets/ were not compared');
    else if (!oldMesh) notes.push(`no readable summary/mesh.json in ${opts.out}: no service-level summary (build with the summary target)`);
    const secrets = [
      ...(await Promise.all((await listKeyFiles(out)).map(async (p) => asText(await readOld(p)) ?? ''))),
      ...c.files.filter((f) => isSecret(f.path)).map((f) => asText(f.content) ?? ''),
    ];
    const report = await buildReport(
      plan,
      { read: readOld, mode: async (p) => lstat(join(out, ...p.split('/'))).then((st) => st.mode & 0o777, () => undefined), ...(oldMesh ? { mesh: oldMesh } : {}) },
      { read: async (p) => byPath.get(p)?.content ?? (p === MANIFEST_NAME ? '' : undefined), mode: async (p) => (byPath.has(p) ? modeOf(byPath.get(p)!) : undefined), ...(c.mesh ? { mesh: c.mesh } : {}) },
      { stat: opts.stat, secrets, notes, perFile: !nothingBuilt },
    );
    return { ok: true, diagnostics: c.diagnostics, report, path: 'full' };
  } finally {
    await c.finish(false);
  }
}

/** The report from the incremental path: both sides are in memory, nothing is read from out/. */
async function diffPartial(p: PartialCompile, opts: DiffOptions): Promise<DiffResult> {
  if (!p.ok || !p.plan) return { ok: false, diagnostics: p.diagnostics, path: 'incremental' };
  const side = (files: ReadonlyMap<string, OutputFile>, mesh: Mesh | undefined): Side => ({
    read: async (path) => files.get(path)?.content,
    mode: async (path) => (files.has(path) ? modeOf(files.get(path)!) : undefined),
    ...(mesh ? { mesh } : {}),
  });
  const report = await buildReport(p.plan, side(p.oldFiles!, p.oldMesh), side(p.newFiles!, p.newMesh), { stat: opts.stat, secrets: p.keys ?? [], perFile: true });
  return { ok: true, diagnostics: p.diagnostics, report, path: 'incremental' };
}

// ---------------------------------------------------------------------------------------------
// Against a git revision

/** Reads `path` at `ref` from the repository that holds it. Errors are UserErrors (exit 2). */
export async function showAtRef(file: string, ref: string): Promise<{ text: string; repoPath: string }> {
  const abs = resolve(file);
  const dir = dirname(abs);
  const execa = await loadExeca();
  const top = await execa('git', ['rev-parse', '--show-toplevel'], { cwd: dir, reject: false });
  if (top.exitCode !== 0) throw new UserError(`--against needs a git repository: ${dir} is not inside one`, 2);
  const root = await realpath(top.stdout.trim());
  const real = await realpath(abs).catch(() => abs);
  const repoPath = relative(root, real).split(sep).join('/');
  if (repoPath.startsWith('..')) throw new UserError(`${file} is outside the git repository ${root}`, 2);
  const verify = await execa('git', ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], { cwd: root, reject: false });
  if (verify.exitCode !== 0) throw new UserError(`unknown git revision "${ref}"`, 2, 'fetch it first (for example `git fetch origin main`), or name a branch, tag or commit');
  const shown = await execa('git', ['show', `${ref}:${repoPath}`], { cwd: root, reject: false, stripFinalNewline: false });
  if (shown.exitCode !== 0) throw new UserError(`${repoPath} does not exist at ${ref}`, 2, shown.stderr.trim().split('\n')[0]);
  return { text: shown.stdout, repoPath };
}

/**
 * Compares the build of mesh.yaml at `ref` with the build of the working copy, both in memory.
 * Both use one temporary copy of the current certificate state: the old revision is compiled first
 * and its certificates committed to the copy, so a service present in both gets the same
 * certificate and only real changes show. The real state is never written.
 */
export async function diffAgainstRef(opts: DiffOptions & { against: string }): Promise<DiffResult> {
  const { text, repoPath } = await showAtRef(opts.file, opts.against);
  const abs = resolve(opts.file);
  const now = (opts.clock ?? (() => new Date()))();
  const clock = () => new Date(now.getTime());
  const location = stateLocation(opts.file, opts.state);
  const tmpState = await mkdtemp(join(tmpdir(), 'meshc-diff-state-'));
  await chmod(tmpState, 0o700);
  // The old mesh goes to a temporary directory, unless it names supplied ingress files
  // (`certFile`/`keyFile`, relative to the mesh file): then beside the real file, briefly, so they
  // resolve the same way. Either way it is removed below.
  const tmpMesh = join(tmpState, 'old', basename(abs));
  let oldFile = /\b(certFile|keyFile)\b/.test(text) ? join(dirname(abs), `.${basename(abs)}.meshc-diff-${process.pid}-${randomBytes(4).toString('hex')}.yaml`) : tmpMesh;
  try {
    // The copy: the mesh's state, or an older meshc's shared one (adopted in the copy if it is this mesh's).
    let legacyCopy: string | undefined;
    if (hasState(location.dir)) await copyState(location.dir, tmpState);
    else if (location.legacy && hasState(location.legacy)) await copyState(location.legacy, (legacyCopy = join(tmpState, 'legacy')));
    await mkdir(dirname(tmpMesh), { mode: 0o700 });
    try {
      await writeFile(oldFile, text, { mode: 0o600 });
    } catch {
      oldFile = tmpMesh;
      await writeFile(oldFile, text, { mode: 0o600 });
    }
    const common = { out: opts.out, state: tmpState, ...(legacyCopy ? { legacyState: legacyCopy } : {}), targets: opts.targets, clock, ...(opts.passphrase !== undefined ? { passphrase: opts.passphrase } : {}) };
    const before = await compile({ ...common, file: oldFile });
    const label = `${opts.against}:${repoPath}`;
    if (!before.ok || !before.files) {
      const diagnostics = before.diagnostics.map((d) => ({ ...d, file: label }));
      throw new AgainstInvalid(label, diagnostics);
    }
    await before.finish(true);
    const after = await compile({ ...common, file: opts.file });
    try {
      if (!after.ok || !after.files) return { ok: false, diagnostics: after.diagnostics };
      const plan = compareFiles(before.files, after.files);
      const oldBy = new Map(before.files.map((f) => [f.path, f]));
      const newBy = new Map(after.files.map((f) => [f.path, f]));
      const secrets = [...before.files, ...after.files].filter((f) => isSecret(f.path)).map((f) => asText(f.content) ?? '');
      const report = await buildReport(
        plan,
        { read: async (p) => oldBy.get(p)?.content, mode: async (p) => (oldBy.has(p) ? modeOf(oldBy.get(p)!) : undefined), ...(before.mesh ? { mesh: before.mesh } : {}) },
        { read: async (p) => newBy.get(p)?.content, mode: async (p) => (newBy.has(p) ? modeOf(newBy.get(p)!) : undefined), ...(after.mesh ? { mesh: after.mesh } : {}) },
        { stat: opts.stat, secrets },
      );
      return { ok: true, diagnostics: after.diagnostics, report };
    } finally {
      await after.finish(false);
    }
  } finally {
    await rm(oldFile, { force: true });
    await rm(tmpState, { recursive: true, force: true });
  }
}

/** Copies a state (public part and whichever key stores are there) into a new directory. */
async function copyState(from: string, to: string): Promise<void> {
  await mkdir(join(to, PRIVATE_DIR), { recursive: true, mode: 0o700 });
  for (const name of [STATE_FILE, ENCRYPTED_KEYS_FILE, PLAIN_KEYS_FILE]) {
    await copyFile(join(from, ...name.split('/')), join(to, ...name.split('/'))).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
  }
}

/** The mesh at the compared revision does not compile: nothing to compare against (exit 2). */
export class AgainstInvalid extends UserError {
  constructor(
    public label: string,
    public diagnostics: Diagnostic[],
  ) {
    super(`${label} is invalid, so there is nothing to compare against`, 2);
  }
}
