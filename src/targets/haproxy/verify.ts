/**
 * `meshc verify` for the HAProxy target: every `<outDir>/haproxy/*.cfg` checked by the real binary
 * with `haproxy -c`, run with its working directory at the output root as the proxies are (it
 * reads the certificate bundles, the CA bundle and the crt-list). It contacts no nameserver:
 * DNS-named servers start with `init-addr ... none` and are resolved at run time.
 */
import { loadExeca } from '../../process.js';
import { verifyEach, type Verifier, type VerifyResult } from '../verifier.js';

/** Validates every `haproxy/*.cfg` in `outDir`, sorted by path; an empty list when there are none. */
export function verifyHaproxy(outDir: string, haproxyPath: string): Promise<VerifyResult[]> {
  return verifyEach(outDir, 'haproxy', '.cfg', async (file) => {
    const execa = await loadExeca();
    const run = await execa(haproxyPath, ['-c', '-f', file], { cwd: outDir, reject: false, all: true, timeout: 60_000, stdin: 'ignore' });
    return { file, ok: run.exitCode === 0, output: (run.all ?? '').trim() };
  });
}

export const haproxyVerifier: Verifier = { binary: 'haproxy', verify: verifyHaproxy };
