import { chmod, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/**
 * A fresh directory under the OS temp dir, named meshc-<prefix>-XXXXXX; cleanup() removes it.
 * Mode 0755 (mkdtemp makes 0700): nginx started as root runs its workers as `nobody`, and they
 * must be able to reach the *_temp_path directories inside the prefix.
 */
export async function tempDir(prefix: string): Promise<{ path: string; cleanup(): Promise<void> }> {
  const safe = prefix.replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^meshc-/, '');
  const dir = await mkdtemp(path.join(os.tmpdir(), `meshc-${safe}-`));
  await chmod(dir, 0o755);
  return {
    path: dir,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
