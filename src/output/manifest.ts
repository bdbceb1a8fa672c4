import type { Diagnostic } from '../model/diagnostic.js';
import { createHash } from 'node:crypto';
import { toJson } from './yaml.js';

/** Written at the output root, last: what this build wrote and each file's content hash. */
export const MANIFEST_NAME = 'meshc-manifest.json';

export interface Manifest {
  generator: 'meshc';
  formatVersion: 1;
  files: Record<string, { sha256: string; mode: string; size: number }>;
}

/**
 * What the last build of an output directory was made from, kept in the state directory (not in
 * the output, which stays a pure function of mesh.yaml and the certificates).
 */
export interface BuildStamp {
  /** See output/fingerprint.ts. */
  inputs: string;
  /** The earliest expiry of a shipped certificate: a build after it must issue again. */
  validUntil: string;
  /** sha256 of the manifest that build wrote. */
  manifestSha256: string;
  /** What meshc diff's incremental path checks (src/pipeline/partial.ts); absent in older stamps. */
  code?: string;
  targets?: string[];
  /** sha256 of the certificate state after that build. */
  state?: string;
  /**
   * That build's diagnostics (warnings: it succeeded), so a rebuild that takes the shortcut reports
   * the same; absent in older stamps, which then take the full path.
   */
  diagnostics?: Diagnostic[];
}

export function sha256(content: string | Uint8Array): string {
  return createHash('sha256').update(content).digest('hex');
}

export function modeOf(f: { mode?: number | undefined }): number {
  return f.mode ?? 0o644;
}

/** What the manifest records of one file. */
export interface FileRecord {
  path: string;
  sha256: string;
  size: number;
  mode: number;
}

/** The manifest's text for these records (the last record of a path wins). */
export function manifestText(records: readonly FileRecord[]): string {
  const files: Manifest['files'] = {};
  for (const r of records) files[r.path] = { sha256: r.sha256, mode: r.mode.toString(8), size: r.size };
  return toJson({ generator: 'meshc', formatVersion: 1, files } satisfies Manifest);
}

export function parseManifest(text: string): Manifest | undefined {
  try {
    const m = JSON.parse(text) as Manifest;
    return m && m.generator === 'meshc' && typeof m.files === 'object' ? m : undefined;
  } catch {
    return undefined;
  }
}
