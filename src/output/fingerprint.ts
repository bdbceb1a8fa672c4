import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * What a build's output depends on, hashed: meshc's own code (compiled JavaScript, schema,
 * templates), the mesh file's bytes, the certificate state after the build, and the targets.
 * Recorded in the manifest; when it matches and the output files are untouched, a rebuild has
 * nothing to do (see `isUpToDate`). Deterministic: no paths, no times.
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
    const h = createHash('sha256');
    for (const dir of ['dist', 'schemas', 'templates']) {
      for (const file of await walk(join(root, dir))) {
        if (file.endsWith('.map') || file.endsWith('.d.ts')) continue;
        h.update(file.slice(root.length)).update('\0').update(await readFile(file)).update('\0');
      }
    }
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
  const out: string[] = [];
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else out.push(p);
  }
  return out;
}
