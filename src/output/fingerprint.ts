import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cmp } from '../model/mesh.js';

/**
 * What a build's output depends on, hashed: meshc's own code (compiled JavaScript, schema,
 * templates), the mesh file's bytes, the certificate state after the build, and the targets.
 * Recorded in the build stamp (output/stamp.ts); when it matches and the output files are
 * untouched, a rebuild has nothing to do (see `isUpToDate`). Deterministic: no paths, no times.
 */
export async function inputFingerprint(meshText: Buffer | string, stateText: string, targets: readonly string[]): Promise<string> {
  const h = createHash('sha256');
  h.update(await codeFingerprint());
  h.update('\0mesh\0').update(meshText);
  h.update('\0state\0').update(stateText);
  h.update('\0targets\0').update([...targets].sort().join(','));
  return h.digest('hex');
}

let code: Promise<string> | undefined;

/** A hash of meshc itself, so that an upgraded (or rebuilt) meshc never trusts an old output. */
export function codeFingerprint(): Promise<string> {
  code ??= (async () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const files = (await Promise.all(['dist', 'schemas', 'templates'].map((dir) => walk(join(root, dir))))).flat().filter((f) => !f.endsWith('.map') && !f.endsWith('.d.ts'));
    const contents = await Promise.all(files.map((f) => readFile(f)));
    const h = createHash('sha256');
    files.forEach((file, i) => h.update(file.slice(root.length)).update('\0').update(contents[i]!).update('\0'));
    return h.digest('hex');
  })();
  return code;
}

async function walk(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const sorted = entries.sort((a, b) => cmp(a.name, b.name));
  const inner = await Promise.all(sorted.map((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)])));
  return inner.flat();
}
