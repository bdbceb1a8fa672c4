import { readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ignoreCaches } from '../certs/state.js';
import type { BuildStamp } from './manifest.js';

/** The build stamps of output directories, by absolute path: a cache, safe to delete. */
const STAMPS_FILE = 'builds.json';
/** Stamps kept, oldest dropped first: a CI job building into fresh directories would grow the file without end. */
export const MAX_STAMPS = 32;

export async function readStamp(stateDir: string, out: string): Promise<BuildStamp | undefined> {
  const all = await readStamps(stateDir);
  return all[resolve(out)];
}

async function readStamps(stateDir: string): Promise<Record<string, BuildStamp>> {
  try {
    return JSON.parse(await readFile(join(stateDir, STAMPS_FILE), 'utf8')) as Record<string, BuildStamp>;
  } catch {
    return {};
  }
}

/** Records the stamp of `out`, written last so the oldest stamps are the first to go. */
export async function writeStamp(stateDir: string, out: string, stamp: BuildStamp): Promise<void> {
  const all = await readStamps(stateDir);
  delete all[resolve(out)];
  const kept = Object.keys(all).slice(-(MAX_STAMPS - 1));
  const next = Object.fromEntries([...kept.map((k) => [k, all[k]!] as const), [resolve(out), stamp]]);
  const tmp = join(stateDir, `.${STAMPS_FILE}.${process.pid}`);
  try {
    await writeFile(tmp, JSON.stringify(next, null, 2) + '\n', { mode: 0o600 });
    await rename(tmp, join(stateDir, STAMPS_FILE));
    await ignoreCaches(stateDir);
  } catch {
    // a cache: a build that cannot record its stamp just takes the full path next time
  }
}
