import { execa } from 'execa';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EARLY_WORKER_MIN_BYTES } from '../../src/pipeline/emit.js';
import { fixturePath, readModes, readTree, tmp } from '../support/build.js';

/**
 * The built CLI emits large meshes' envoy, k8s and summary targets in a worker thread (src/pipeline/emit.ts).
 * MESHC_PARALLEL forces either way (and the write thread with it, src/output/write-thread.ts), so a
 * small fixture proves the two give the same bytes and modes.
 */
const bin = new URL('../../bin/meshc.js', import.meta.url).pathname;
let dir: string;
afterAll(async () => dir && rm(dir, { recursive: true, force: true }));

describe('emitting in a worker thread', () => {
  it('writes exactly what one thread writes', async () => {
    dir = await tmp('meshc-parallel-');
    const state = join(dir, 'state');
    const run = (out: string, parallel: '0' | '1', lowMemory: '0' | '1' = '0') =>
      execa('node', [bin, 'build', '-f', fixturePath('shop'), '-o', join(dir, out), '--state', state], { env: { MESHC_PARALLEL: parallel, MESHC_LOW_MEMORY: lowMemory, NO_COLOR: '1' }, reject: false });
    expect((await run('one', '0')).exitCode).toBe(0);
    const two = await run('two', '1');
    expect(two.exitCode, two.stderr).toBe(0);
    // Low-memory mode (very large meshes): one thread and a tight heap, the same bytes.
    const low = await run('low', '1', '1');
    expect(low.exitCode, low.stderr).toBe(0);
    const a = await readTree(join(dir, 'one'));
    const b = await readTree(join(dir, 'two'));
    const c = await readTree(join(dir, 'low'));
    expect([...b.keys()]).toEqual([...a.keys()]);
    expect([...c.keys()]).toEqual([...a.keys()]);
    expect([...a.keys()].some((p) => p.startsWith('k8s/')) && [...a.keys()].some((p) => p.startsWith('istio/'))).toBe(true);
    for (const [p, content] of a) {
      expect(b.get(p), p).toBe(content);
      expect(c.get(p), p).toBe(content);
    }
    // Forced parallel, both write through the write thread: the same modes too (keys 0600).
    const modes = await readModes(join(dir, 'one'));
    expect(modes.get('secrets/frontend.key')).toBe(0o600);
    expect([...(await readModes(join(dir, 'two'))).entries()]).toEqual([...modes.entries()]);
    expect([...(await readModes(join(dir, 'low'))).entries()]).toEqual([...modes.entries()]);
    // build --check compares in memory: the worker's files come as text there, and match.
    const check = await execa('node', [bin, 'build', '--check', '-f', fixturePath('shop'), '-o', join(dir, 'one'), '--state', state], { env: { MESHC_PARALLEL: '1', NO_COLOR: '1' }, reject: false });
    expect(check.exitCode, check.stdout + check.stderr).toBe(0);
  });

  it('ends, with the same report as on one thread, when the mesh fails validation after the worker started', async () => {
    // The worker starts once the mesh parses; the rule error is found later, and the build stops it.
    dir ??= await tmp('meshc-parallel-');
    const run = (parallel: '0' | '1') =>
      execa('node', [bin, 'build', '-f', fixturePath('invalid/unknown-upstream'), '-o', join(dir, `bad-${parallel}`), '--state', join(dir, 'bad-state')], { env: { MESHC_PARALLEL: parallel, NO_COLOR: '1' }, reject: false, timeout: 30_000 });
    const [one, two] = [await run('0'), await run('1')];
    expect(two.timedOut).toBe(false);
    expect(two.exitCode).toBe(1);
    expect(two.stdout + two.stderr).toBe(one.stdout + one.stderr);
    expect(two.stderr).toMatch(/11:19.*unknown-service/s); // build: diagnostics on stderr
  });

  it('stops the worker it started for a large file that holds few services, valid or not', async () => {
    // A file of EARLY_WORKER_MIN_BYTES or more may hold enough services for the worker, so the
    // build starts it before parsing (on a machine with more than one core); these hold a few
    // services, and the build stops it once the mesh is parsed, or when the file fails.
    dir ??= await tmp('meshc-parallel-');
    const padding = '\n# ' + 'padding '.repeat(12) + '\n';
    const padded = async (name: string) => {
      const file = join(dir, `${name.replace('/', '-')}.yaml`);
      const text = (await readFile(fixturePath(name), 'utf8')) + padding.repeat(Math.ceil(EARLY_WORKER_MIN_BYTES / padding.length));
      expect(Buffer.byteLength(text)).toBeGreaterThanOrEqual(EARLY_WORKER_MIN_BYTES);
      await writeFile(file, text);
      return file;
    };
    const run = (file: string, out: string, env: Record<string, string> = {}) =>
      execa('node', [bin, 'build', '-f', file, '-o', join(dir, out), '--state', join(dir, 'early-state')], { env: { NO_COLOR: '1', ...env }, reject: false, timeout: 30_000 });
    const good = await padded('shop');
    const one = await run(good, 'early-one', { MESHC_PARALLEL: '0' });
    const early = await run(good, 'early');
    expect(early.timedOut).toBe(false);
    expect(early.exitCode, early.stderr).toBe(0);
    expect(one.exitCode, one.stderr).toBe(0);
    const a = await readTree(join(dir, 'early-one'));
    const b = await readTree(join(dir, 'early'));
    expect([...b.keys()]).toEqual([...a.keys()]);
    for (const [p, content] of a) expect(b.get(p), p).toBe(content);
    const bad = await padded('invalid/unknown-upstream');
    const [badEarly, badOne] = [await run(bad, 'bad-early'), await run(bad, 'bad-early-one', { MESHC_PARALLEL: '0' })];
    expect(badEarly.timedOut).toBe(false);
    expect(badEarly.exitCode).toBe(1);
    expect(badEarly.stdout + badEarly.stderr).toBe(badOne.stdout + badOne.stderr);
    expect(badEarly.stderr).toMatch(/11:19.*unknown-service/s);
  });
});
