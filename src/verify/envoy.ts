/**
 * `meshc verify` for the Envoy target: every bootstrap under `<outDir>/envoy/` loaded by the real
 * binary with `envoy --mode validate` (which reads the certificate and key files the bootstrap
 * names, so it runs with its working directory at the output root, like the sidecars do). It
 * binds no port and makes no DNS query.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { loadExeca } from '../process.js';

export interface VerifyResult {
  /** Output-relative path (`envoy/cart.yaml`). */
  file: string;
  ok: boolean;
  /** What Envoy printed (stdout and stderr interleaved). */
  output: string;
}

/** Validates every `envoy/*.yaml` in `outDir`, sorted by path; an empty list when there are none. */
export async function verifyEnvoy(outDir: string, envoyPath: string): Promise<VerifyResult[]> {
  let names: string[];
  try {
    names = (await readdir(join(outDir, 'envoy'))).filter((n) => n.endsWith('.yaml')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const results: VerifyResult[] = [];
  for (const name of names) {
    const file = `envoy/${name}`;
    const execa = await loadExeca();
    const run = await execa(envoyPath, ['--mode', 'validate', '-c', file, '--log-level', 'error', '--use-dynamic-base-id'], {
      cwd: outDir,
      reject: false,
      all: true,
      timeout: 60_000,
    });
    results.push({ file, ok: run.exitCode === 0, output: (run.all ?? '').trim() });
  }
  return results;
}
