/**
 * `meshc verify` for the Envoy target: every bootstrap under `<outDir>/envoy/` loaded by the real
 * binary with `envoy --mode validate` (which reads the certificate and key files the bootstrap
 * names, so it runs with its working directory at the output root, like the sidecars do). It
 * binds no port and makes no DNS query.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadExeca } from '../../process.js';
import { verifyEach, type Verifier, type VerifyResult } from '../verifier.js';

/** Validates every `envoy/*.yaml` in `outDir`, sorted by path; an empty list when there are none. */
export function verifyEnvoy(outDir: string, envoyPath: string): Promise<VerifyResult[]> {
  return verifyEach(outDir, 'envoy', '.yaml', async (file) => {
    const execa = await loadExeca();
    const run = await execa(envoyPath, ['--mode', 'validate', '-c', file, '--log-level', 'error', '--use-dynamic-base-id'], { cwd: outDir, reject: false, all: true, timeout: 60_000 });
    return { file, ok: run.exitCode === 0, output: (run.all ?? '').trim() };
  });
}

/** A folder and every folder above it. */
function upward(from: string): string[] {
  const dirs: string[] = [];
  for (let d = from; dirs.at(-1) !== d; d = dirname(d)) dirs.push(d);
  return dirs;
}

export const envoyVerifier: Verifier = {
  binary: 'envoy',
  // The project-local virtual environment scripts/install-proxies.sh creates: in the mesh file's
  // repository (its folder or one above), or in meshc's own checkout.
  search: {
    dirs: (meshDir) => [...upward(meshDir), fileURLToPath(new URL('../../../', import.meta.url))].map((d) => join(d, '.venv', 'envoy', 'bin')),
    said: '.venv/envoy/bin beside the mesh file or above it, as scripts/install-proxies.sh installs it',
  },
  verify: verifyEnvoy,
};
