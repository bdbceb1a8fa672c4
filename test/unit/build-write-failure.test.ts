/**
 * A write that fails in the middle of a build (several batches are written at once, see
 * writeBatches in src/output/writer.ts): the build fails, and the previous output and the
 * certificate state are exactly as they were, with no staging directory left behind.
 */
import { readdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { buildInto, fixturePath, readTree } from '../support/build.js';
import { build } from '../../src/pipeline/build.js';

/** Writes through fs.writeFile (the callback form the writer uses) fail from the `failAt`-th on, while set. */
const failing = { failAt: 0, seen: 0 };
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  const writeFile = (...args: unknown[]) => {
    if (failing.failAt > 0 && ++failing.seen >= failing.failAt) {
      const done = args[args.length - 1] as (e: Error) => void;
      setTimeout(() => done(Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' })), 1);
      return;
    }
    return (fs.writeFile as (...a: unknown[]) => void)(...args);
  };
  return { ...fs, default: { ...fs, writeFile }, writeFile };
});

describe('a write failing in the middle of a build', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => Promise.all(cleanups.map((c) => c())));

  it('fails the build and leaves the previous output and the state as they were', async () => {
    const first = await buildInto(fixturePath('shop'));
    cleanups.push(first.cleanup);
    expect(first.result.ok).toBe(true);
    const before = await readTree(first.out);
    const stateBefore = await readTree(first.state);
    expect(before.size).toBeGreaterThan(100); // several batches of 32

    failing.failAt = 40; // in the second batch, with later batches already being written
    failing.seen = 0;
    try {
      // Another target set: a real rebuild, not the up-to-date shortcut.
      await expect(build({ file: fixturePath('shop'), out: first.out, state: first.state, targets: ['envoy', 'nginx', 'haproxy', 'k8s', 'istio'] })).rejects.toThrow(/EIO/);
    } finally {
      failing.failAt = 0;
    }
    expect(failing.seen).toBeGreaterThanOrEqual(40);
    expect(await readTree(first.out)).toEqual(before);
    expect(await readTree(first.state)).toEqual(stateBefore);
    expect((await readdir(dirname(first.out))).filter((n) => n.includes('staging'))).toEqual([]);
    expect(await readFile(`${first.out}/meshc-manifest.json`, 'utf8')).toBe(before.get('meshc-manifest.json'));
  });
});
