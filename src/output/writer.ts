import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import { UserError } from '../errors.js';
import type { OutputFile } from '../targets/target.js';
import { MANIFEST_NAME, manifestFile, modeOf, parseManifest, sha256 } from './manifest.js';

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

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** Every regular file under dir, as relative `/` paths. */
async function listFiles(dir: string, prefix = ''): Promise<string[]> {
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
export async function planOutput(outDir: string, files: readonly OutputFile[], opts: { compare?: boolean } = {}): Promise<OutputPlan> {
  await recoverInterruptedSwap(outDir);
  const plan: OutputPlan = { added: [], changed: [], removed: [], modeChanged: [], upToDate: true };
  const onDisk = new Set((await exists(outDir)) ? (await listFiles(outDir)).filter((p) => p !== MANIFEST_NAME) : []);
  const isSecret = (p: string) => p.startsWith('secrets/');
  if (opts.compare && onDisk.size > 0 && ![...onDisk].some(isSecret)) files = files.filter((f) => !isSecret(f.path));
  const CONCURRENCY = 64;
  const queue = [...files];
  const work = async () => {
    for (let f = queue.shift(); f; f = queue.shift()) {
      if (!onDisk.has(f.path)) {
        plan.added.push(f.path);
        continue;
      }
      onDisk.delete(f.path);
      const p = join(outDir, ...f.path.split('/'));
      const [content, st] = await Promise.all([readFile(p), lstat(p)]);
      if (sha256(content) !== sha256(f.content)) plan.changed.push(f.path);
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
export async function writeOutput(outDir: string, files: readonly OutputFile[], hooks: { beforeSwap?: () => Promise<void> } = {}): Promise<OutputPlan> {
  checkRecords(files);
  const plan = await planOutput(outDir, files);
  if (plan.upToDate) {
    await hooks.beforeSwap?.();
    return plan;
  }
  await guardForeignDirectory(outDir);
  const parent = dirname(outDir);
  await mkdir(parent, { recursive: true });
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
    const queue = [...files, manifestFile(files)];
    const work = async () => {
      for (let f = queue.shift(); f; f = queue.shift()) {
        const p = join(staging, ...f.path.split('/'));
        await writeFile(p, f.content, { mode: modeOf(f) });
        await chmod(p, modeOf(f)); // the umask must not widen or narrow what the target asked
      }
    };
    await Promise.all(Array.from({ length: 32 }, work));
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
  return plan;
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
