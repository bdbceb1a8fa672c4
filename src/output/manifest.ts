import { createHash } from 'node:crypto';
import type { OutputFile } from '../targets/target.js';
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
}

export function sha256(content: string | Buffer): string {
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

export function modeOf(f: OutputFile): number {
  return f.mode ?? 0o644;
}

export function buildManifest(files: readonly OutputFile[]): Manifest {
  const entries: Manifest['files'] = {};
  for (const f of files) entries[f.path] = { sha256: contentHash(f), mode: modeOf(f).toString(8), size: Buffer.byteLength(f.content) };
  return { generator: 'meshc', formatVersion: 1, files: entries };
}

export function manifestFile(files: readonly OutputFile[]): OutputFile {
  return { path: MANIFEST_NAME, content: toJson(buildManifest(files)) };
}

export function parseManifest(text: string): Manifest | undefined {
  try {
    const m = JSON.parse(text) as Manifest;
    return m && m.generator === 'meshc' && typeof m.files === 'object' ? m : undefined;
  } catch {
    return undefined;
  }
}
