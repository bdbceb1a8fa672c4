/**
 * `meshc verify` for the HAProxy target: every `<outDir>/haproxy/*.cfg` checked by the real binary
 * with `haproxy -c`, run with its working directory at the output root as the proxies are (it
 * reads the certificate bundles, the CA bundle and the crt-list). It contacts no nameserver:
 * DNS-named servers start with `init-addr ... none` and are resolved at run time.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { VerifyResult } from './envoy.js';
import { loadExeca } from '../process.js';

export type { VerifyResult } from './envoy.js';

/** Validates every `haproxy/*.cfg` in `outDir`, sorted by path; an empty list when there are none. */
export async function verifyHaproxy(outDir: string, haproxyPath: string): Promise<VerifyResult[]> {
  let names: string[];
  try {
    names = (await readdir(join(outDir, 'haproxy'))).filter((n) => n.endsWith('.cfg')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const results: VerifyResult[] = [];
  for (const name of names) {
    const file = `haproxy/${name}`;
    const execa = await loadExeca();
    const run = await execa(haproxyPath, ['-c', '-f', file], { cwd: outDir, reject: false, all: true, timeout: 60_000, stdin: 'ignore' });
    results.push({ file, ok: run.exitCode === 0, output: (run.all ?? '').trim() });
  }
  return results;
}
