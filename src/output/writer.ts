import { randomBytes } from 'node:crypto';
import { chmod, link, lstat, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import { UserError } from '../errors.js';
import type { OutputFile } from '../targets/target.js';
import { contentHash, MANIFEST_NAME, manifestFile, modeOf, parseManifest, sha256, type BuildStamp, type Manifest } from './manifest.js';
import { isAlive } from '../process.js';

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
  for (const f of files) {
    if (f.path === '' || f.path.startsWith('/') || f.path.split('/').some((s) => s === '..' || s === '.' || s === '') || f.path.includes('\\'))
      throw new Error(`internal: output path "${f.path}" is not a clean relative path`);
    if (seen.has(f.path)) throw new Error(`internal: two targets produced ${f.path}`);
    if (f.path === MANIFEST_NAME) throw new Error(`internal: ${MANIFEST_NAME} is reserved`);
    seen.add(f.path);
  }
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
 * drift. Keys that are present are compared like everything else. A real build always writes them.
 */
export async function planOutput(outDir: string, files: readonly OutputFile[], opts: { compare?: boolean; trustManifest?: boolean } = {}): Promise<OutputPlan> {
  await recoverInterruptedSwap(outDir);
  const plan: OutputPlan = { added: [], changed: [], removed: [], modeChanged: [], upToDate: true };
  const onDisk = new Set((await exists(outDir)) ? (await listFiles(outDir)).filter((p) => p !== MANIFEST_NAME) : []);
  const isSecret = (p: string) => p.startsWith('secrets/');
  if (opts.compare && onDisk.size > 0 && ![...onDisk].some(isSecret)) files = files.filter((f) => !isSecret(f.path));
  // A build (not --check, not diff) may take a file's hash from the manifest instead of reading
  // it, when the file has the manifest's size and was not modified after the manifest was written
  // (the same rule as the rebuild shortcut); anything else is read and hashed.
  const manifest = opts.trustManifest ? await readManifestWithTime(outDir) : undefined;
  const CONCURRENCY = 64;
  let next = 0;
  const work = async () => {
    for (let f = files[next++]; f; f = files[next++]) {
      if (!onDisk.has(f.path)) {
        plan.added.push(f.path);
        continue;
      }
      onDisk.delete(f.path);
      const p = join(outDir, ...f.path.split('/'));
      const st = await lstat(p);
      const known = manifest?.m.files[f.path];
      const diskHash = known && untouched(st, known, manifest!.mtimeMs) ? known.sha256 : sha256(await readFile(p));
      if (diskHash !== contentHash(f)) plan.changed.push(f.path);
      else if ((st.mode & 0o777) !== modeOf(f)) plan.modeChanged.push(f.path);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, work));
  plan.removed = [...onDisk];
  for (const list of [plan.added, plan.changed, plan.removed, plan.modeChanged]) list.sort();
  plan.upToDate = !plan.added.length && !plan.changed.length && !plan.removed.length && !plan.modeChanged.length;
  if (plan.upToDate && (await exists(outDir)) && !(await exists(join(outDir, MANIFEST_NAME)))) plan.upToDate = false;
  return plan;
}

/**
 * The one writer. Writes the whole tree into a sibling temporary directory, then swaps it in with
 * two renames, so a failed or interrupted build leaves the previous output intact. Files the new
 * build no longer produces disappear with the old tree. Writes nothing when the tree is up to date.
 * `beforeSwap` runs after staging and before the swap (the build commits certificate state there).
 */
export async function writeOutput(outDir: string, files: readonly OutputFile[], hooks: { beforeSwap?: () => Promise<void> } = {}): Promise<OutputPlan & { manifestSha256: string }> {
  checkRecords(files);
  const plan = await planOutput(outDir, files, { trustManifest: true });
  const manifest = manifestFile(files);
  const done = { ...plan, manifestSha256: sha256(manifest.content) };
  if (plan.upToDate) {
    await hooks.beforeSwap?.();
    // Same files; rewrite the manifest alone if it was lost or differs (an older meshc wrote it).
    const current = await readFile(join(outDir, MANIFEST_NAME), 'utf8').catch(() => '');
    if (current !== manifest.content) await writeFileAtomic(join(outDir, MANIFEST_NAME), manifest.content);
    return done;
  }
  await guardForeignDirectory(outDir);
  const parent = dirname(outDir);
  await mkdir(parent, { recursive: true });
  await removeAbandonedStaging(parent, basename(outDir));
  const tag = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const staging = join(parent, `.${basename(outDir)}.staging-${tag}`);
  const old = join(parent, `.${basename(outDir)}.old-${tag}`);
  try {
    await mkdir(staging, { mode: 0o755 });
    const dirs = new Set<string>();
    for (const f of files) {
      const parts = f.path.split('/');
      for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
    }
    for (const d of [...dirs].sort()) {
      const secret = d === 'secrets' || d.startsWith('secrets/');
      await mkdir(join(staging, ...d.split('/')), { mode: secret ? 0o700 : 0o755 });
      if (secret) await chmod(join(staging, ...d.split('/')), 0o700);
    }
    // Files whose bytes and mode are unchanged are hard-linked from the current tree rather than
    // written again: the new tree is still complete and swapped in at once, at a fraction of the
    // I/O (a one-service change in a 1,000-service mesh rewrites a handful of files, not 9,000).
    const changed = new Set([...plan.added, ...plan.changed, ...plan.modeChanged]);
    const umask = currentUmask();
    const queue = [...files];
    let next = 0;
    const work = async () => {
      for (let f = queue[next++]; f; f = queue[next++]) {
        const rel = f.path.split('/');
        const p = join(staging, ...rel);
        if (f !== manifest && !changed.has(f.path)) {
          try {
            await link(join(outDir, ...rel), p);
            continue;
          } catch {
            // another file system, or a file that vanished: write it
          }
        }
        await writeFile(p, f.content, { mode: modeOf(f) });
        // The umask must not narrow what the target asked (0644 stays 0644, keys stay 0600).
        if ((modeOf(f) & umask) !== 0) await chmod(p, modeOf(f));
      }
    };
    await Promise.all(Array.from({ length: 16 }, work));
    // The manifest last, on a later clock tick than every file (file times are coarse, a few ms):
    // a file is "untouched since the build" exactly when it is older than the manifest.
    await new Promise((r) => setTimeout(r, 25));
    await writeFile(join(staging, MANIFEST_NAME), manifest.content, { mode: 0o644 });
    await hooks.beforeSwap?.();
    const hadOld = await exists(outDir);
    if (hadOld) await rename(outDir, old);
    try {
      await rename(staging, outDir);
    } catch (e) {
      if (hadOld) await rename(old, outDir);
      throw e;
    }
    if (hadOld) await rm(old, { recursive: true, force: true });
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return done;
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
  if (!stamp || stamp.inputs !== inputs || !(Date.parse(stamp.validUntil) > now.getTime())) return false;
  const manifest = await readManifestWithTime(outDir);
  if (!manifest || manifest.sha256 !== stamp.manifestSha256) return false;
  const { m, mtimeMs: manifestMtime } = manifest;
  const onDisk = (await listFiles(outDir)).filter((p) => p !== MANIFEST_NAME);
  const expected = Object.keys(m.files);
  if (onDisk.length !== expected.length) return false;
  const stats = await Promise.all(onDisk.map((p) => (m.files[p] ? lstat(join(outDir, ...p.split('/'))) : undefined)));
  return onDisk.every((p, i) => {
    const st = stats[i];
    const want = m.files[p];
    return st !== undefined && want !== undefined && st.isFile() && untouched(st, want, manifestMtime) && (st.mode & 0o777).toString(8) === want.mode;
  });
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

/** A build killed while staging leaves `.out.staging-<pid>-…` behind: remove those of dead processes. */
async function removeAbandonedStaging(parent: string, base: string): Promise<void> {
  const prefix = `.${base}.staging-`;
  for (const name of await readdir(parent).catch(() => [] as string[])) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length).split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !isAlive(pid)) await rm(join(parent, name), { recursive: true, force: true });
  }
}


/**
 * If a previous build died between its two renames, the output directory is missing and the old
 * tree sits beside it: put it back.
 */
async function recoverInterruptedSwap(outDir: string): Promise<void> {
  if (await exists(outDir)) return;
  const parent = dirname(outDir);
  if (!(await exists(parent))) return;
  const prefix = `.${basename(outDir)}.old-`;
  const olds = (await readdir(parent)).filter((n) => n.startsWith(prefix)).sort();
  if (olds.length) await rename(join(parent, olds[olds.length - 1]), outDir);
}

export const _internal = { listFiles, sep };
