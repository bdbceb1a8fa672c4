/**
 * `meshc install`: copies what one workload's proxy reads (its config, the SDS files, certificates
 * and keys they name) from a built output tree into a stable runtime directory, with the layout
 * the kubelet gives a Secret volume:
 *
 *   <dir>/..g-<hash>/...          this generation's files (keys 0600 under secrets/)
 *   <dir>/..data -> ..g-<hash>    swapped atomically (a symlink renamed over the old one)
 *   <dir>/envoy -> ..data/envoy   one symlink per top-level folder, made once
 *
 * A build replaces the output tree by renaming it, which a running proxy never sees; an install
 * replaces `..data` inside a directory that stays. Envoy, run from <dir>, watches it (SDS
 * `watched_directory: .`) and re-reads its certificates; nginx and HAProxy read the new files at
 * their next graceful reload. The previous generation is removed after the swap.
 */
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, readFile, readdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { UserError } from '../errors.js';
import { MANIFEST_NAME, parseManifest } from './manifest.js';

/** A workload's own config file in each proxy target's folder. */
const CONFIG_OF: Record<string, (workload: string) => string> = {
  envoy: (w) => `envoy/${w}.yaml`,
  haproxy: (w) => `haproxy/${w}.cfg`,
  nginx: (w) => `nginx/${w}.conf`,
};
export const INSTALL_TARGETS = Object.keys(CONFIG_OF);

export interface InstallOptions {
  /** The built output directory. */
  out: string;
  /** A service, `ingress-gateway` or `egress-gateway`. */
  workload: string;
  /** The stable runtime directory (created when missing). */
  to: string;
  /** Proxy targets to install (default: each of envoy, nginx, haproxy the output holds). */
  targets?: string[];
}

export interface InstallResult {
  /** Output-relative paths installed, sorted. */
  files: string[];
  /** The generation now behind `..data`. */
  generation: string;
  /** False when that generation was already current (nothing was swapped). */
  changed: boolean;
}

/** Installs `workload`'s files from `out` into `to` and swaps `to/..data` to them. */
export async function installWorkload(o: InstallOptions): Promise<InstallResult> {
  const manifestText = await readFile(join(o.out, MANIFEST_NAME), 'utf8').catch(() => undefined);
  const manifest = manifestText === undefined ? undefined : parseManifest(manifestText);
  if (!manifest) throw new UserError(`${o.out} holds no meshc output (no readable ${MANIFEST_NAME})`, 2, 'run `meshc build` first, or pass the output directory with -o');
  const modes = new Map(Object.entries(manifest.files).map(([p, f]) => [p, parseInt(f.mode, 8)]));
  const targets = o.targets ?? INSTALL_TARGETS;
  for (const t of targets) if (!CONFIG_OF[t]) throw new UserError(`install: unknown proxy target "${t}"`, 2, `choose from ${INSTALL_TARGETS.join(', ')}`);
  const roots = targets.map((t) => CONFIG_OF[t](o.workload)).filter((p) => modes.has(p));
  if (roots.length === 0) {
    const known = [...modes.keys()].flatMap((p) => targets.flatMap((t) => (p.startsWith(`${t}/`) && !p.slice(t.length + 1).includes('/') ? [p.slice(t.length + 1).replace(/\.[a-z]+$/, '')] : [])));
    throw new UserError(`${o.out} has no ${targets.join(', ')} config for workload "${o.workload}"`, 2, `workloads there: ${[...new Set(known)].sort().join(', ') || 'none'}`);
  }

  // The files the configs name, and the files those name (SDS files name certificates), by output-relative path.
  const contents = new Map<string, Buffer>();
  const queue = [...roots];
  while (queue.length > 0) {
    const p = queue.shift()!;
    if (contents.has(p)) continue;
    const data = await readFile(join(o.out, p));
    contents.set(p, data);
    if (p.endsWith('.key') || p.endsWith('.pem')) continue;
    const text = data.toString('utf8');
    for (const candidate of modes.keys()) if (!contents.has(candidate) && names(text, candidate)) queue.push(candidate);
  }
  const files = [...contents.keys()].sort();

  const hash = createHash('sha256');
  for (const p of files) hash.update(`${p}\0${modes.get(p)}\0`).update(contents.get(p)!).update('\0');
  const generation = `..g-${hash.digest('hex').slice(0, 16)}`;

  await mkdir(o.to, { recursive: true, mode: 0o755 });
  const current = await readlink(join(o.to, '..data')).catch(() => undefined);
  if (current === generation) return { files, generation, changed: false };

  // One symlink per top-level folder, through ..data, so paths stay the same across generations;
  // checked before anything is written, so a refused install leaves the directory as it was.
  const missing: string[] = [];
  for (const top of new Set(files.map((p) => p.split('/')[0]))) {
    const link = join(o.to, top);
    const existing = await lstat(link).catch(() => undefined);
    if (existing?.isSymbolicLink() && (await readlink(link)) === `..data/${top}`) continue;
    if (existing) throw new UserError(`${link} exists and is not meshc's symlink to ..data/${top}`, 2, 'install into an empty directory or one meshc installed before');
    missing.push(top);
  }
  const gen = join(o.to, generation);
  await rm(gen, { recursive: true, force: true });
  for (const p of files) {
    const dest = join(gen, p);
    const secret = p.startsWith('secrets/');
    await mkdir(dirname(dest), { recursive: true, mode: secret ? 0o700 : 0o755 });
    const mode = modes.get(p) ?? (secret ? 0o600 : 0o644);
    await writeFile(dest, contents.get(p)!, { mode });
    await chmod(dest, mode); // writeFile's mode is filtered by the umask
  }
  for (const top of missing) await symlink(`..data/${top}`, join(o.to, top));
  // The swap: one rename, seen by a watcher of the directory as a move into it.
  const tmp = join(o.to, '..data_tmp');
  await rm(tmp, { force: true });
  await symlink(generation, tmp);
  await rename(tmp, join(o.to, '..data'));
  for (const entry of await readdir(o.to)) {
    if (entry.startsWith('..g-') && entry !== generation) await rm(join(o.to, entry), { recursive: true, force: true });
  }
  return { files, generation, changed: true };
}

/** Whether a config names `path` (or `../path`, as nginx configs do) as a whole path, not inside a longer one. */
function names(text: string, path: string): boolean {
  for (let i = text.indexOf(path); i >= 0; i = text.indexOf(path, i + 1)) {
    const before = i === 0 ? '' : text[i - 1];
    const after = text[i + path.length] ?? '';
    if ((before === '' || /[\s"'=:/]/.test(before)) && (after === '' || /[\s"',;}\]]/.test(after))) {
      // `x/certs/a.pem` is not `certs/a.pem` unless the x is `..`.
      if (before === '/' && text.slice(Math.max(0, i - 3), i) !== '../') continue;
      return true;
    }
  }
  return false;
}
