import type { Diagnostic } from '../model/diagnostic.js';
import { createHash } from 'node:crypto';
import type { OutputFile } from '../targets/target.js';

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

const hashes = new WeakMap<OutputFile, string>();

/** The sha256 of a record's content, computed once per record (the plan and the manifest both need it). */
export function contentHash(f: OutputFile): string {
  let h = hashes.get(f);
  if (h === undefined) {
    h = sha256(f.content);
    hashes.set(f, h);
  }
  return h;
}

export function modeOf(f: { mode?: number | undefined }): number {
  return f.mode ?? 0o644;
}

/** What the manifest records of one file. */
export interface FileRecord {
  path: string;
  /** Lowercase hex, as `sha256` gives it (manifestText writes it unescaped). */
  sha256: string;
  size: number;
  mode: number;
}

/**
 * The manifest's text for these records (any order: entries are sorted by path): exactly what
 * `toJson` writes for the Manifest (test/unit/manifest.test.ts; output paths all have a folder or
 * an extension, so none is an array index, which JSON would put first), written out directly:
 * the generic sort of 9,000 entries' keys took 25 ms at the end of a 1,000-service build, and
 * this one 17 ms before it wrote the hashes and modes without JSON.stringify (11 ms).
 */
export function manifestText(records: readonly FileRecord[]): string {
  const byPath = new Map<string, FileRecord>();
  for (const r of records) byPath.set(r.path, r); // the last record of a path wins, as in an object
  // The default sort is code-unit order, without calling back into JavaScript (a comparator took
  // most of this function's 17 ms at the end of a 1,000-service build).
  const paths = [...byPath.keys()].sort();
  const entries: string[] = [];
  for (const path of paths) {
    const r = byPath.get(path)!;
    // Octal digits and a hex digest need no escaping (JSON.stringify for them, or a regular
    // expression to check the digest, took half the time).
    entries.push(`    ${JSON.stringify(path)}: {\n      "mode": "${r.mode.toString(8)}",\n      "sha256": "${r.sha256}",\n      "size": ${r.size}\n    }`);
  }
  const files = entries.length === 0 ? '{}' : `{\n${entries.join(',\n')}\n  }`;
  return `{\n  "files": ${files},\n  "formatVersion": 1,\n  "generator": "meshc"\n}\n`;
}

export function parseManifest(text: string): Manifest | undefined {
  try {
    const m = JSON.parse(text) as Manifest;
    return m && m.generator === 'meshc' && typeof m.files === 'object' ? m : undefined;
  } catch {
    return undefined;
  }
}
