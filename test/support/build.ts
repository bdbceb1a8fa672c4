import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { build, type BuildOptions } from '../../src/pipeline/build.js';

/** A fixed clock so certificate dates are the same in every run. */
export const FIXED_CLOCK = () => new Date('2026-01-15T12:00:00Z');

export const VALID_FIXTURES = ['minimal', 'shop', 'edge-cases'] as const;
export const fixturePath = (name: string) => new URL(`../../fixtures/${name}/mesh.yaml`, import.meta.url).pathname;

export async function tmp(prefix = 'meshc-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/**
 * Makes a fresh temporary directory per call; all of them are removed after each test of the file
 * (call it at the file's top level).
 */
export function scratchDirs(prefix: string): () => Promise<string> {
  const dirs: string[] = [];
  afterEach(async () => {
    await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
  });
  return async () => {
    const d = await tmp(prefix);
    dirs.push(d);
    return d;
  };
}

/** Builds a mesh file into a fresh temporary out/ and state/. */
export async function buildInto(file: string, extra: Partial<BuildOptions> = {}) {
  const dir = await tmp();
  const out = join(dir, 'out');
  const state = join(dir, 'state');
  const result = await build({ file, out, state, clock: FIXED_CLOCK, ...extra });
  return { dir, out, state, result, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Every file under dir: relative path → content. */
export async function readTree(dir: string, prefix = ''): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    const p = join(dir, e.name);
    if (e.isDirectory()) for (const [k, v] of await readTree(p, rel)) out.set(k, v);
    else out.set(rel, await readFile(p, 'utf8'));
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Every file's mode under dir: relative path → mode bits. */
export async function readModes(dir: string, prefix = ''): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) for (const [k, v] of await readModes(join(dir, e.name), rel)) out.set(k, v);
    else out.set(rel, (await stat(join(dir, e.name))).mode & 0o777);
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
}

export async function modeOf(p: string): Promise<number> {
  return (await stat(p)).mode & 0o777;
}

/**
 * Replaces what legitimately differs between two fresh builds (keys, certificate bodies, their
 * hashes and serials) with placeholders, so golden files compare the rest byte for byte.
 */
export function scrub(text: string): string {
  return text
    .replace(/-----BEGIN ([A-Z ]+)-----[\s\S]*?-----END \1-----/g, '<PEM $1>')
    .replace(/"?\b[0-9a-f]{64}\b"?/g, "<sha256>")
    .replace(/\b[A-Za-z0-9+/]{200,}={0,2}/g, '<base64>');
}
