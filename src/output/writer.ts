import { randomBytes } from 'node:crypto';
import { chmod, copyFile, link, lstat, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { existsSync, lstatSync, renameSync, rmSync, writeFile as writeFileCallback } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { InternalError, UserError } from '../errors.js';
import type { OutputFile } from '../targets/target.js';
import { MANIFEST_NAME, manifestText, modeOf, parseManifest, sha256, type BuildStamp, type FileRecord, type Manifest } from './manifest.js';
import { crashPoint, isAlive } from '../process.js';

/** An empty plan. */
export function emptyPlan(): OutputPlan {
  return { added: [], changed: [], removed: [], modeChanged: [], upToDate: true };
}

/** Sorts the plan's lists and says whether it has nothing to do. */
export function settlePlan(plan: OutputPlan): OutputPlan {
  for (const list of [plan.added, plan.changed, plan.removed, plan.modeChanged]) list.sort();
  plan.upToDate = !plan.added.length && !plan.changed.length && !plan.removed.length && !plan.modeChanged.length;
  return plan;
}

/** How the output directory on disk differs from what a build produces. */
export interface OutputPlan {
  added: string[];
  changed: string[];
  removed: string[];
  /** Files whose content is identical but whose mode differs. */
  modeChanged: string[];
  /** Nothing to do. */
  upToDate: boolean;
}

/** Checks the records themselves: relative paths inside the tree, no duplicates. */
export function checkRecords(files: readonly OutputFile[]): void {
  const seen = new Set<string>();
  for (const f of files) checkPath(f.path, seen);
}

/** An empty, `.` or `..` segment (a leading or trailing `/`, or `//`, makes an empty one). */
const BAD_SEGMENT = /(?:^|\/)\.{0,2}(?:\/|$)/;

/** One record's path: clean, relative, not the manifest, not seen before (added to `seen`). */
function checkPath(path: string, seen: Set<string>): void {
  if (path === '' || BAD_SEGMENT.test(path) || path.includes('\\'))
    throw new InternalError(`output path "${path}" is not a clean relative path`);
  if (seen.has(path)) throw new InternalError(`two targets produced ${path}`);
  if (path === MANIFEST_NAME) throw new InternalError(`${MANIFEST_NAME} is reserved`);
  seen.add(path);
}

export async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** Every regular file under dir, as relative `/` paths. */
export async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listFiles(join(dir, entry.name), rel)));
    else out.push(rel);
  }
  return out;
}

/**
 * Compares what is on disk (the real bytes, not just the manifest, so hand edits count) with
 * what the build would write.
 *
 * `compare` (build --check, diff): an output tree with no `secrets/` at all is a git checkout of
 * a committed out/ (its .gitignore keeps the keys out of git), so the missing keys are not
 * drift. Keys that are present are compared like everything else, unless the comparison has no
 * keys (`keysLoaded: false`, only the public state is here): then `secrets/` is left out on both
 * sides. A real build always writes them.
 */
export async function planOutput(outDir: string, files: readonly OutputFile[], opts: { compare?: boolean; keysLoaded?: boolean } = {}): Promise<OutputPlan> {
  outDir = await currentTree(outDir);
  const plan = emptyPlan();
  const isSecret = (p: string) => p.startsWith('secrets/');
  const onDisk = new Set((await exists(outDir)) ? (await listFiles(outDir)).filter((p) => p !== MANIFEST_NAME && (opts.keysLoaded !== false || !isSecret(p))) : []);
  if (opts.keysLoaded === false) files = files.filter((f) => !isSecret(f.path));
  if (opts.compare && onDisk.size > 0 && ![...onDisk].some(isSecret)) files = files.filter((f) => !isSecret(f.path));
  await inParallel(files, async (f) => {
    if (!onDisk.has(f.path)) return void plan.added.push(f.path);
    onDisk.delete(f.path);
    const p = join(outDir, ...f.path.split('/'));
    const st = await lstat(p);
    // A link (or anything but a file) is never followed: it is not what meshc wrote.
    if (!st.isFile() || sha256(await readFile(p)) !== sha256(f.content)) plan.changed.push(f.path);
    else if ((st.mode & 0o777) !== modeOf(f)) plan.modeChanged.push(f.path);
  }, 64);
  plan.removed = [...onDisk];
  settlePlan(plan);
  if (plan.upToDate && (await exists(outDir)) && !(await exists(join(outDir, MANIFEST_NAME)))) plan.upToDate = false;
  return plan;
}

/** What a finished write did. */
export type WriteResult = OutputPlan & { manifestSha256: string; fileCount: number };

/**
 * The one writer, fed as the targets produce: `put` each batch of files, then `commit` (or
 * `abort`). Files go into a sibling staging directory, swapped in with two renames at commit, so a
 * failed or interrupted build leaves the previous output intact, and files the build no longer
 * produces disappear with the old tree. A file's bytes are written and dropped as soon as it is
 * put, so a large mesh never holds its whole output in memory. Unchanged files (same bytes and
 * mode as the current tree) are hard-linked instead of written, and when nothing differs no
 * staging directory is made at all: the tree is left exactly as it was.
 */
export interface OutputSink {
  /** The build's work directory beside the output (see workPrefix), made on the first write. */
  readonly workDir: string;
  put(files: readonly OutputFile[]): Promise<void>;
  /** `beforeSwap` runs after staging and before the swap (the build commits certificate state there). */
  commit(hooks?: { beforeSwap?: () => Promise<void> }): Promise<WriteResult>;
  /** Removes the staging directory; the current tree is untouched. */
  abort(): Promise<void>;
}

export async function openOutput(outDir: string): Promise<OutputSink> {
  await cleanLeftovers(outDir);
  await guardForeignDirectory(outDir);
  const onDisk = new Set((await exists(outDir)) ? (await listFiles(outDir)).filter((p) => p !== MANIFEST_NAME) : []);
  // A file's hash may come from the manifest instead of reading it, when the file has the
  // manifest's size and was not modified after the manifest was written (see untouched).
  const manifest = await readManifestWithTime(outDir);
  const parent = dirname(outDir);
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  // The staging tree and the previous one live in a directory git ignores from its first moment.
  const work = join(parent, `${workPrefix(outDir)}${tag}`);
  const stagingDir = join(work, 'staging');
  const umask = currentUmask();
  const seen = new Set<string>();
  const records: FileRecord[] = [];
  const plan = emptyPlan();
  let deferred: FileRecord[] = [];
  // `root`: the staging directory exists; `staging`: and the unchanged files put before it existed are linked.
  let root: Promise<void> | undefined;
  let staging: Promise<void> | undefined;
  const dirs = new Map<string, Promise<void>>();

  const ensureDir = (rel: string): Promise<void> => {
    if (rel === '') return root!;
    let made = dirs.get(rel);
    if (!made) {
      const secret = rel === 'secrets' || rel.startsWith('secrets/');
      const up = rel.includes('/') ? rel.slice(0, rel.lastIndexOf('/')) : '';
      made = ensureDir(up).then(async () => {
        const p = join(stagingDir, ...rel.split('/'));
        await mkdir(p, { mode: secret ? 0o700 : 0o755 });
        if (secret) await chmod(p, 0o700);
      });
      dirs.set(rel, made);
    }
    return made;
  };
  const parentOf = (path: string) => (path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '');
  const writeOne = async (path: string, bytes: Uint8Array, mode: number): Promise<void> => {
    await ensureStaging();
    await ensureDir(parentOf(path));
    return writeNow(path, bytes, mode);
  };
  const writeNow = (path: string, bytes: Uint8Array, mode: number): Promise<void> => {
    const p = join(stagingDir, ...path.split('/'));
    const written = new Promise<void>((done, fail) => writeFileCallback(p, bytes, { mode }, (e) => (e ? fail(e) : done())));
    // The umask must not narrow what the target asked (0644 stays 0644, keys stay 0600).
    return (mode & umask) !== 0 ? written.then(() => chmod(p, mode)) : written;
  };
  const linkOne = async (r: FileRecord) => {
    await ensureDir(parentOf(r.path));
    const from = join(outDir, ...r.path.split('/'));
    const to = join(stagingDir, ...r.path.split('/'));
    try {
      await link(from, to);
    } catch {
      // another file system: copy the identical bytes
      await copyFile(from, to);
      await chmod(to, r.mode);
    }
  };
  const ensureStaging = (): Promise<void> => {
    root ??= (async () => {
      await mkdir(parent, { recursive: true });
      await makeWorkDir(work);
      await mkdir(stagingDir, { mode: 0o755 });
    })();
    staging ??= root.then(() => {
      const waiting = deferred;
      deferred = [];
      return inParallel(waiting, linkOne);
    });
    return staging;
  };
  const putOne = async (f: OutputFile) => {
    const bytes = Buffer.from(f.content);
    const r: FileRecord = { path: f.path, sha256: sha256(bytes), size: bytes.length, mode: modeOf(f) };
    records.push(r);
    if (!onDisk.has(f.path)) {
      plan.added.push(f.path);
      return writeOne(f.path, bytes, r.mode);
    }
    onDisk.delete(f.path);
    const p = join(outDir, ...f.path.split('/'));
    const st = await lstat(p);
    const known = manifest?.m.files[f.path];
    // A link is replaced, never followed (nor hard-linked into the new tree).
    const diskHash = !st.isFile() ? undefined : known && untouched(st, known, manifest!.mtimeMs) ? known.sha256 : sha256(await readFile(p));
    if (diskHash !== r.sha256) plan.changed.push(f.path);
    else if ((st.mode & 0o777) !== r.mode) plan.modeChanged.push(f.path);
    else if (staging) return staging.then(() => linkOne(r));
    else return void deferred.push(r);
    return writeOne(f.path, bytes, r.mode);
  };

  return {
    workDir: work,
    async put(files) {
      for (const f of files) checkPath(f.path, seen);
      // Every write of the batch settles before an error is reported: abort then finds no write in flight.
      const failed = (await Promise.allSettled(files.map(putOne))).find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      crashPoint('writing');
    },
    commit: commitStaged,
    async abort() {
      await Promise.allSettled([root, staging]);
      // The error that aborted is the one to report; a work directory that could not be made is no leftover.
      if (root) await removeWorkDir(work).catch(() => undefined);
    },
  };

  async function commitStaged(hooks: { beforeSwap?: () => Promise<void> } = {}): Promise<WriteResult> {
    plan.removed = [...onDisk];
    const text = manifestText(records);
    plan.upToDate = settlePlan(plan).upToDate && manifest !== undefined;
    const done: WriteResult = { ...plan, manifestSha256: sha256(text), fileCount: records.length };
    if (plan.upToDate) {
      await hooks.beforeSwap?.();
      // Same files; rewrite the manifest alone if it differs (an older meshc wrote it).
      const current = await readFile(join(outDir, MANIFEST_NAME), 'utf8').catch(() => '');
      if (current !== text) await writeFileAtomic(join(outDir, MANIFEST_NAME), text);
      return done;
    }
    const old = join(work, 'old');
    try {
      await ensureStaging();
      await writeManifestLast(join(stagingDir, MANIFEST_NAME), text);
      crashPoint('staged');
      await hooks.beforeSwap?.();
      crashPoint('state-committed');
      const hadOld = await exists(outDir);
      if (hadOld) await rename(outDir, old);
      crashPoint('between-renames');
      try {
        await rename(stagingDir, outDir);
      } catch (e) {
        if (hadOld) await rename(old, outDir);
        throw e;
      }
      crashPoint('swapped');
    } finally {
      await removeWorkDir(work);
    }
    return done;
  }
}

/**
 * The manifest last, on a later clock tick than every file: a file is "untouched since the build"
 * exactly when it is older than the manifest (see untouched). File times come from a coarse clock,
 * so the manifest is written again, after 1, 2, 4, ... ms, until its time has passed `filesDone`.
 * On a file system with still coarser times it gives up after about 60 ms: the next build then
 * compares bytes instead of taking the rebuild shortcut.
 */
async function writeManifestLast(path: string, text: string): Promise<void> {
  const filesDone = Date.now() + 1;
  for (let wait = 1; ; wait *= 2) {
    await writeFile(path, text, { mode: 0o644 });
    if ((await lstat(path)).mtimeMs >= filesDone || wait > 32) return;
    await new Promise((r) => setTimeout(r, wait));
  }
}

/** Runs `fn` over `items`, a bounded number at a time. */
async function inParallel<T>(items: readonly T[], fn: (item: T) => Promise<void>, width = 32): Promise<void> {
  let next = 0;
  const work = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, work));
}

/** Writes a whole set of files at once (see OutputSink). */
export async function writeOutput(outDir: string, files: readonly OutputFile[], hooks: { beforeSwap?: () => Promise<void> } = {}): Promise<WriteResult> {
  checkRecords(files);
  return writeBatches(outDir, [files], hooks);
}

/** Batches the writer may hold at once: one is written while the next is made, and memory stays bounded. */
const BATCHES_IN_FLIGHT = 3;

/**
 * Writes the batches as they come (see OutputSink), a few at a time, then commits; on any error the
 * staging tree is removed and out/ is left as it was.
 */
export async function writeBatches(outDir: string, batches: Iterable<readonly OutputFile[]>, hooks: { beforeSwap?: () => Promise<void>; progress?: (files: number) => void } = {}): Promise<WriteResult> {
  const sink = await openOutput(outDir);
  const stopWatching = cleanUpOnSignal(outDir, sink.workDir);
  const writing: Promise<void>[] = [];
  let files = 0;
  try {
    for (const batch of batches) {
      if (writing.length === BATCHES_IN_FLIGHT) await writing.shift();
      files += batch.length;
      hooks.progress?.(files);
      const put = sink.put(batch);
      put.catch(() => undefined); // awaited below; never an unhandled rejection meanwhile
      writing.push(put);
    }
    while (writing.length > 0) await writing.shift();
    return await sink.commit(hooks);
  } catch (e) {
    await Promise.allSettled(writing); // no write in flight while the staging tree is removed
    await sink.abort();
    throw e;
  } finally {
    stopWatching();
  }
}

/** The work directories of the builds writing now, with their output directories. */
const buildsWriting = new Map<string, string>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * While a build writes, SIGINT, SIGTERM and SIGHUP finish it as the next build would
 * (cleanLeftovers): the previous tree put back if the swap was cut between its two renames, and
 * the work directory, which may hold keys, removed. Then the process exits as the signal asks,
 * unless the program has its own handler for it.
 */
function cleanUpOnSignal(outDir: string, work: string): () => void {
  if (buildsWriting.size === 0) for (const s of SIGNALS) process.on(s, onSignal);
  buildsWriting.set(work, outDir);
  return () => {
    buildsWriting.delete(work);
    if (buildsWriting.size === 0) for (const s of SIGNALS) process.off(s, onSignal);
  };
}

function onSignal(signal: NodeJS.Signals): void {
  for (const [work, outDir] of buildsWriting) {
    try {
      const old = join(work, 'old');
      if (!existsSync(outDir) && existsSync(old)) renameSync(old, outDir);
      for (const tree of ['staging', 'old']) rmSync(join(work, tree, 'secrets'), { recursive: true, force: true });
      rmSync(work, { recursive: true, force: true });
    } catch {
      // the next build finishes it (cleanLeftovers)
    }
  }
  if (process.listenerCount(signal) === 1) process.exit(128 + (osConstants.signals[signal] ?? 0));
}

async function readManifestWithTime(outDir: string): Promise<{ m: Manifest; mtimeMs: number; sha256: string } | undefined> {
  try {
    const p = join(outDir, MANIFEST_NAME);
    const text = await readFile(p, 'utf8');
    const m = parseManifest(text);
    return m ? { m, mtimeMs: (await lstat(p)).mtimeMs, sha256: sha256(text) } : undefined;
  } catch {
    return undefined;
  }
}

let umaskValue: number | undefined;
function currentUmask(): number {
  if (umaskValue === undefined) {
    umaskValue = process.umask(0);
    process.umask(umaskValue);
  }
  return umaskValue;
}

async function writeFileAtomic(path: string, content: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, content, { mode: 0o644 });
  await rename(tmp, path);
}

/**
 * The rebuild shortcut: the output is up to date when the last build's stamp (kept in the state
 * directory) has the same input fingerprint, no certificate it shipped has expired, its manifest
 * is the one in the output, and every file is exactly as meshc left it: the same set
 * of files, each with the manifest's size and mode, none modified after the manifest (which is
 * written last, so a later edit shows as a newer mtime). Anything else takes the full path, which
 * compares bytes. Never used by --check, whose checkout has no meaningful mtimes.
 */
export async function isUpToDate(outDir: string, stamp: BuildStamp | undefined, inputs: string, now: Date): Promise<boolean> {
  if (!stamp || stamp.inputs !== inputs) return false;
  return (await untouchedOutput(outDir, stamp, now)) !== undefined;
}

/**
 * The output exactly as the build of `stamp` left it (see isUpToDate), its certificates still
 * valid at `now`: that build's manifest, or undefined.
 */
export async function untouchedOutput(outDir: string, stamp: BuildStamp, now: Date): Promise<Manifest | undefined> {
  if (!(Date.parse(stamp.validUntil) > now.getTime())) return undefined;
  const manifest = await readManifestWithTime(outDir);
  if (!manifest || manifest.sha256 !== stamp.manifestSha256) return undefined;
  const { m, mtimeMs: manifestMtime } = manifest;
  const onDisk = (await listFiles(outDir)).filter((p) => p !== MANIFEST_NAME);
  const expected = Object.keys(m.files);
  if (onDisk.length !== expected.length) return undefined;
  // One synchronous lstat per file: for thousands of files, several times faster than as promises.
  const stats = onDisk.map((p) => (m.files[p] ? lstatSync(join(outDir, ...p.split('/')), { throwIfNoEntry: false }) : undefined));
  const intact = onDisk.every((p, i) => {
    const st = stats[i];
    const want = m.files[p];
    return st !== undefined && want !== undefined && st.isFile() && untouched(st, want, manifestMtime) && (st.mode & 0o777).toString(8) === want.mode;
  });
  return intact ? m : undefined;
}

/**
 * A file is as meshc left it when it has the size the manifest recorded and is older than the
 * manifest, which the writer puts down last, on a later clock tick than every file.
 */
function untouched(st: { size: number; mtimeMs: number }, entry: { size: number }, manifestMtimeMs: number): boolean {
  return st.size === entry.size && st.mtimeMs < manifestMtimeMs;
}

/** Refuses to replace a non-empty directory that meshc did not write. */
async function guardForeignDirectory(outDir: string): Promise<void> {
  if (!(await exists(outDir))) return;
  const st = await lstat(outDir);
  if (!st.isDirectory()) throw new UserError(`${outDir} exists and is not a directory`, 2, 'choose another --out');
  const entries = await readdir(outDir);
  if (entries.length === 0) return;
  let manifest;
  try {
    manifest = parseManifest(await readFile(join(outDir, MANIFEST_NAME), 'utf8'));
  } catch {
    manifest = undefined;
  }
  if (!manifest) throw new UserError(`refusing to replace ${outDir}: it is not empty and has no ${MANIFEST_NAME}, so meshc did not write it`, 2, `remove it or choose another --out`);
}

/**
 * A build's work directory beside the output: `.<out>.meshc-<pid>-<hex>/` holding `staging/` (the
 * new tree, renamed to out/) and `old/` (the previous tree, on its way out). Its `.gitignore`
 * ignores everything in it and is written before anything else, so a tree with keys in it is never
 * stageable, even when a build is killed halfway.
 */
const WORK_GITIGNORE = '# meshc: a build in progress, or what a killed one left (the next build removes it)\n*\n';

function workPrefix(outDir: string): string {
  return `.${basename(outDir)}.meshc-`;
}

async function makeWorkDir(work: string): Promise<void> {
  await mkdir(work, { mode: 0o700 });
  await writeFile(join(work, '.gitignore'), WORK_GITIGNORE, { mode: 0o644 });
}

/** Removes a tree, its `secrets/` first: a removal cut short never leaves keys beside a deleted `.gitignore`. */
async function removeTree(dir: string): Promise<void> {
  await rm(join(dir, 'secrets'), { recursive: true, force: true });
  await rm(dir, { recursive: true, force: true });
}

/** Removes a work directory: its trees first, its `.gitignore` last. */
async function removeWorkDir(work: string): Promise<void> {
  for (const name of await readdir(work).catch(() => [] as string[])) if (name !== '.gitignore') await removeTree(join(work, name));
  crashPoint('old-removed');
  await rm(join(work, '.gitignore'), { force: true });
  await rm(work, { recursive: true, force: true });
}

/** What killed builds left beside the output: work directories, and an older meshc's `.out.staging-*`, `.out.old-*`. */
async function leftovers(outDir: string): Promise<{ path: string; pid: number; old?: string; legacy: boolean }[]> {
  const parent = dirname(outDir);
  const base = basename(outDir);
  const found: { path: string; pid: number; old?: string; legacy: boolean }[] = [];
  const names = await readdir(parent).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [] as string[];
    throw e;
  });
  for (const name of names.sort()) {
    const pidOf = (rest: string) => Number(rest.split('-')[0]);
    const path = join(parent, name);
    if (name.startsWith(workPrefix(outDir))) {
      const old = join(path, 'old');
      found.push({ path, pid: pidOf(name.slice(workPrefix(outDir).length)), legacy: false, ...((await exists(old)) ? { old } : {}) });
    } else if (name.startsWith(`.${base}.old-`)) found.push({ path, pid: pidOf(name.slice(`.${base}.old-`.length)), old: path, legacy: true });
    else if (name.startsWith(`.${base}.staging-`)) found.push({ path, pid: pidOf(name.slice(`.${base}.staging-`.length)), legacy: true });
  }
  return found;
}

/**
 * Finishes what killed builds left: when one died between its two renames (out/ gone), its
 * previous tree is put back; then every leftover of a process no longer running is removed.
 * Every build runs this, the rebuild shortcut too.
 */
export async function cleanLeftovers(outDir: string): Promise<void> {
  const found = await leftovers(outDir);
  if (found.length === 0) return;
  const dead = (l: { pid: number }) => Number.isInteger(l.pid) && l.pid > 0 && l.pid !== process.pid && !isAlive(l.pid);
  if (!(await exists(outDir))) {
    const back = found.filter((l) => l.old && dead(l)).pop();
    if (back) await rename(back.old!, outDir);
  }
  for (const l of found) {
    if (!dead(l)) continue;
    if (l.legacy) await removeTree(l.path);
    else await removeWorkDir(l.path);
  }
}

/**
 * The tree to read as the current output: out/, or, when a build died between its two renames,
 * the previous tree where it was left. Read-only (build --check and diff change nothing); the next
 * real build puts it back (cleanLeftovers).
 */
export async function currentTree(outDir: string): Promise<string> {
  return (await interruptedSwap(outDir)) ?? outDir;
}

/** Where the previous tree is when a build died between its two renames (out/ gone); undefined when out/ exists or none is left. */
async function interruptedSwap(outDir: string): Promise<string | undefined> {
  if (await exists(outDir)) return undefined;
  return (await leftovers(outDir)).filter((l) => l.old).pop()?.old;
}

