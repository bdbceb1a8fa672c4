/**
 * Builds killed with SIGKILL at many points, before, during and just after the swap of out/ and
 * while the certificate state is committed. The child build stops itself at a named point
 * (MESHC_TEST_STOP_AT, see crashPoint) and the test kills it there, so every point is hit every run.
 * After each kill: the output is the previous tree or the complete new one, the state loads and
 * has a key for every certificate, git would stage no unencrypted key, and the next build leaves
 * nothing behind.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

// Each test runs several meshc processes (and git): minutes on a loaded machine, not seconds.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 });
import { fixturePath, readTree, tmp } from '../support/build.js';
import { git, meshc, stageable } from '../support/meshc-cli.js';

const bin = new URL('../../bin/meshc.js', import.meta.url).pathname;

const POINTS = ['writing', 'staged', 'keys-written', 'state-written', 'state-committed', 'between-renames', 'swapped', 'old-removed'];

/** Starts a build that stops itself at `point`, and kills it there (SIGKILL, or `signal` then SIGCONT). */
async function killAt(cwd: string, point: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<NodeJS.Signals | number | null> {
  const env: Record<string, string> = { ...(process.env as Record<string, string>), NO_COLOR: '1', MESHC_TEST_STOP_AT: point };
  delete env.MESHC_STATE_PASSPHRASE;
  const child = spawn(process.execPath, [bin, 'build'], { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  let stderr = '';
  const stopped = await new Promise<boolean>((resolve) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.includes(`meshc-test-stopped-at ${point}\n`)) resolve(true);
    });
    child.once('exit', () => resolve(false));
  });
  if (stopped && signal !== 'SIGKILL') {
    // The child names the point just before it stops itself: a SIGCONT sent in between is lost.
    while (!/^\d+ \(.*\) T/.test(await readFile(`/proc/${child.pid}/stat`, 'utf8'))) await new Promise((r) => setTimeout(r, 20));
    child.kill(signal);
    child.kill('SIGCONT');
  } else if (stopped) child.kill('SIGKILL');
  const end = await exited;
  expect(stopped, `the build never reached ${point}: ${stderr}`).toBe(true);
  if (signal === 'SIGKILL') expect(end).toBe('SIGKILL');
  return end;
}

/** Every certificate of state.json has its key in the key store (the two files are written apart). */
async function stateComplete(stateDir: string): Promise<void> {
  const state = JSON.parse(await readFile(join(stateDir, 'state.json'), 'utf8'));
  const keys = JSON.parse(await readFile(join(stateDir, 'private/keys.json'), 'utf8')).keys as Record<string, string>;
  const certs = [...state.cas, ...Object.values(state.workloads), ...Object.values(state.ingress)] as { certPem: string }[];
  for (const c of certs) expect(keys[createHash('sha256').update(c.certPem).digest('hex')], 'a certificate without its key').toMatch(/^-----BEGIN PRIVATE KEY-----/);
}

/** The tree a reader sees: out/, or where a build killed between its renames left the previous one. */
async function visibleTree(d: string): Promise<Map<string, string>> {
  const names = await readdir(d);
  if (names.includes('out')) return readTree(join(d, 'out'));
  const work = names.find((n) => n.startsWith('.out.meshc-'));
  expect(work, 'out/ is gone and no previous tree is left').toBeDefined();
  return readTree(join(d, work!, 'old'));
}

function complete(tree: Map<string, string>): boolean {
  const manifest = JSON.parse(tree.get('meshc-manifest.json') ?? '{"files":{}}') as { files: Record<string, { sha256: string }> };
  const listed = Object.keys(manifest.files);
  return listed.length === tree.size - 1 && listed.every((p) => tree.has(p) && createHash('sha256').update(tree.get(p)!).digest('hex') === manifest.files[p]!.sha256);
}

let d: string;
let base: string;
const changed = (text: string) =>
  text.replace('      upstreams: [api]\n', '      upstreams: [api, extra]\n').replace('  services:\n', '  services:\n    extra:\n      port: 8080\n      image: ghcr.io/acme/extra:1.0.0\n      allowFrom: [web]\n');

beforeAll(async () => {
  d = await tmp('meshc-crash-');
  await git(d, 'init', '-q');
  await copyFile(fixturePath('minimal'), join(d, 'mesh.yaml'));
  base = await readFile(join(d, 'mesh.yaml'), 'utf8');
});
afterAll(async () => rm(d, { recursive: true, force: true }));

describe('a build killed with SIGKILL', () => {
  it.each(POINTS)('at "%s" leaves the previous or the complete new output, a loadable state, and nothing stageable that holds a key', async (point) => {
    await writeFile(join(d, 'mesh.yaml'), base);
    const setup = await meshc(['build'], { cwd: d });
    expect(setup.exitCode, setup.stderr).toBe(0);
    const previous = await readTree(join(d, 'out'));

    await writeFile(join(d, 'mesh.yaml'), changed(base));
    await killAt(d, point);

    expect((await stageable(d)).plainKeys).toEqual([]);
    const seen = await visibleTree(d);
    const isPrevious = JSON.stringify([...seen]) === JSON.stringify([...previous]);
    expect(isPrevious || (complete(seen) && seen.has('envoy/extra.yaml')), 'neither the previous nor a complete new output').toBe(true);
    const status = await meshc(['certs', 'status'], { cwd: d });
    expect(status.exitCode, status.stdout + status.stderr).toBe(0);
    await stateComplete(join(d, '.meshc/mesh'));

    const next = await meshc(['build'], { cwd: d });
    expect(next.exitCode, next.stderr).toBe(0);
    expect((await readdir(d)).sort()).toEqual(['.git', '.meshc', 'mesh.yaml', 'out']);
    expect((await stageable(d)).plainKeys).toEqual([]);
    expect((await meshc(['build', '--check'], { cwd: d })).exitCode).toBe(0);
    await stateComplete(join(d, '.meshc/mesh'));
  });
});

describe('a build interrupted with SIGINT or SIGTERM', () => {
  // Past the state commit the swap may finish before the signal is handled: then the new output stands.
  it.each([
    ['SIGTERM', 'writing', 'previous'],
    ['SIGINT', 'staged', 'previous'],
    ['SIGTERM', 'between-renames', 'previous or new'],
  ] as const)('by %s at "%s" leaves the %s output and no work directory, without waiting for the next build', async (signal, point, expected) => {
    await writeFile(join(d, 'mesh.yaml'), base);
    const setup = await meshc(['build'], { cwd: d });
    expect(setup.exitCode, setup.stderr).toBe(0);
    const previous = await readTree(join(d, 'out'));

    await writeFile(join(d, 'mesh.yaml'), changed(base));
    const end = await killAt(d, point, signal);
    expect(end).toBe(signal === 'SIGINT' ? 130 : 143);

    expect((await readdir(d)).sort()).toEqual(['.git', '.meshc', 'mesh.yaml', 'out']);
    const seen = await readTree(join(d, 'out'));
    const isPrevious = JSON.stringify([...seen]) === JSON.stringify([...previous]);
    if (expected === 'previous') expect(isPrevious).toBe(true);
    else expect(isPrevious || (complete(seen) && seen.has('envoy/extra.yaml'))).toBe(true);
    expect((await stageable(d)).plainKeys).toEqual([]);
    await stateComplete(join(d, '.meshc/mesh'));
  });
});
