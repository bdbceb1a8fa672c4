import { accessSync, constants } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/** One file checked by a real proxy (`meshc verify`). */
export interface VerifyResult {
  /** Output-relative path (`envoy/cart.yaml`). */
  file: string;
  ok: boolean;
  /** What the proxy printed (stdout and stderr interleaved). */
  output: string;
}

/** How `meshc verify` checks a target's files with the real proxy (see Target.verifier). */
export interface Verifier {
  /** The proxy's binary name, and the `--<binary> <path>` option of `meshc verify`. */
  binary: string;
  /** Where to look for it after PATH and the system folders, for a mesh file in `meshDir`, and those places in words. */
  search?: { dirs(meshDir: string): string[]; said: string };
  /** Checks every file of the target in `outDir` with the binary at `bin`, sorted by path. */
  verify(outDir: string, bin: string): Promise<VerifyResult[]>;
}

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where a proxy binary is: the explicit path, then PATH, then the system folders, then `searchDirs`. */
export function findProxy(name: string, explicit?: string, searchDirs: readonly string[] = []): string | undefined {
  if (explicit) return executable(explicit) ? explicit : undefined;
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), '/usr/sbin', '/usr/local/sbin', ...searchDirs];
  for (const d of dirs) if (executable(join(d, name))) return join(d, name);
  return undefined;
}

/** Runs `check` on every `<folder>/*<ext>` in `outDir`, in path order; none when the folder is absent. */
export async function verifyEach(outDir: string, folder: string, ext: string, check: (file: string) => Promise<VerifyResult>): Promise<VerifyResult[]> {
  let names: string[];
  try {
    names = (await readdir(join(outDir, folder))).filter((n) => n.endsWith(ext)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const results: VerifyResult[] = [];
  for (const name of names) results.push(await check(`${folder}/${name}`));
  return results;
}
