import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openOutput, planOutput, writeOutput } from '../../src/output/writer.js';
import { sha256 } from '../../src/output/manifest.js';
import { UserError } from '../../src/errors.js';
import { readTree, scratchDirs } from '../support/build.js';

const scratch = scratchDirs('meshc-writer-');

describe('the writer', () => {
  it('writes files with their modes and a manifest, and removes files no longer produced', async () => {
    const out = join(await scratch(), 'out');
    await writeOutput(out, [{ path: 'a/x.yaml', content: 'x' }, { path: 'secrets/k.key', content: 'k', mode: 0o600 }, { path: 'old.txt', content: 'o' }]);
    expect((await stat(join(out, 'secrets', 'k.key'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(out, 'secrets'))).mode & 0o777).toBe(0o700);
    const plan = await writeOutput(out, [{ path: 'a/x.yaml', content: 'x2' }, { path: 'secrets/k.key', content: 'k', mode: 0o600 }]);
    expect(plan).toMatchObject({ changed: ['a/x.yaml'], removed: ['old.txt'], added: [] });
    expect([...(await readTree(out)).keys()]).toEqual(['a/x.yaml', 'meshc-manifest.json', 'secrets/k.key']);
  });

  it('writes nothing when the output is up to date', async () => {
    const out = join(await scratch(), 'out');
    const files = [{ path: 'a.txt', content: 'a' }];
    await writeOutput(out, files);
    const before = (await stat(join(out, 'a.txt'))).mtimeMs;
    const plan = await writeOutput(out, files);
    expect(plan.upToDate).toBe(true);
    expect((await stat(join(out, 'a.txt'))).mtimeMs).toBe(before);
  });

  it('notices a hand edit that keeps the size, even right after the build', async () => {
    const out = join(await scratch(), 'out');
    const files = [{ path: 'a.txt', content: 'aaaa' }, { path: 'b.txt', content: 'bbbb' }];
    await writeOutput(out, files);
    await writeFile(join(out, 'a.txt'), 'AAAA'); // same size, immediately
    const plan = await writeOutput(out, files);
    expect(plan.changed).toEqual(['a.txt']);
    expect(await readFile(join(out, 'a.txt'), 'utf8')).toBe('aaaa');
  });

  it('links unchanged files from the previous tree instead of writing them again', async () => {
    const out = join(await scratch(), 'out');
    await writeOutput(out, [{ path: 'same.txt', content: 'same' }, { path: 'moves.txt', content: 'v1' }]);
    const before = await stat(join(out, 'same.txt'));
    await writeOutput(out, [{ path: 'same.txt', content: 'same' }, { path: 'moves.txt', content: 'v2' }]);
    const after = await stat(join(out, 'same.txt'));
    expect(after.ino).toBe(before.ino);
    expect(await readFile(join(out, 'moves.txt'), 'utf8')).toBe('v2');
  });

  it('takes files batch by batch: the tree is the same as in one go, and unchanged files put before the first change are linked too', async () => {
    const parent = await scratch();
    const files = Array.from({ length: 70 }, (_, i) => ({ path: `d${i % 3}/f${i}.txt`, content: `v${i}`, ...(i % 7 === 0 ? { mode: 0o600 } : {}) }));
    await writeOutput(join(parent, 'whole'), files);
    const sink = await openOutput(join(parent, 'batched'));
    for (let i = 0; i < files.length; i += 16) await sink.put(files.slice(i, i + 16));
    expect((await sink.commit()).fileCount).toBe(70);
    const whole = await readTree(join(parent, 'whole'));
    expect(await readTree(join(parent, 'batched'))).toEqual(whole);
    // Rebuild with only the last file changed: the 69 earlier ones are linked, not written.
    const before = await stat(join(parent, 'batched', 'd0', 'f0.txt'));
    const again = await openOutput(join(parent, 'batched'));
    for (let i = 0; i < files.length; i += 16) await again.put(files.slice(i, i + 16).map((f) => (f.path === 'd0/f69.txt' ? { ...f, content: 'new' } : f)));
    expect(await again.commit()).toMatchObject({ changed: ['d0/f69.txt'], added: [], removed: [], upToDate: false });
    expect((await stat(join(parent, 'batched', 'd0', 'f0.txt'))).ino).toBe(before.ino);
    expect((await stat(join(parent, 'batched', 'd0', 'f0.txt'))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(parent, 'batched', 'd0', 'f69.txt'), 'utf8')).toBe('new');
  });

  it('makes no staging directory when nothing differs, and an aborted stream leaves the tree and no staging behind', async () => {
    const parent = await scratch();
    const out = join(parent, 'out');
    const files = [{ path: 'a/x.txt', content: 'x' }, { path: 'b.txt', content: 'b' }];
    await writeOutput(out, files);
    const dirIno = (await stat(out)).ino;
    const same = await openOutput(out);
    await same.put(files);
    expect(await readdir(parent)).toEqual(['out']);
    expect((await same.commit()).upToDate).toBe(true);
    expect((await stat(out)).ino).toBe(dirIno); // not swapped
    const failing = await openOutput(out);
    await failing.put([{ path: 'a/x.txt', content: 'changed' }]);
    expect((await readdir(parent)).length).toBe(2); // the staging directory
    await expect(failing.put([{ path: 'a/x.txt', content: 'again' }])).rejects.toThrow(/two targets/);
    await failing.abort();
    expect(await readdir(parent)).toEqual(['out']);
    expect(await readFile(join(out, 'a', 'x.txt'), 'utf8')).toBe('x');
  });

  it('leaves the previous output intact when the build fails before the swap', async () => {
    const parent = await scratch();
    const out = join(parent, 'out');
    await writeOutput(out, [{ path: 'a.txt', content: 'old' }]);
    await expect(writeOutput(out, [{ path: 'a.txt', content: 'new' }], { beforeSwap: async () => { throw new Error('boom'); } })).rejects.toThrow('boom');
    expect(await readFile(join(out, 'a.txt'), 'utf8')).toBe('old');
    expect((await readdir(parent)).sort()).toEqual(['out']); // no staging directory left behind
  });

  it('removes the staging directory a killed build left behind, not that of a live one', async () => {
    const parent = await scratch();
    const out = join(parent, 'out');
    const dead = join(parent, '.out.staging-999999999-dead');
    const live = join(parent, `.out.staging-${process.ppid}-live`);
    await mkdir(dead);
    await mkdir(live);
    await writeOutput(out, [{ path: 'a.txt', content: 'a' }]);
    expect((await readdir(parent)).sort()).toEqual(['.out.staging-' + process.ppid + '-live', 'out'].sort());
  });

  it('compares the old tree where a build that died between its two renames left it, and a build restores it', async () => {
    const parent = await scratch();
    const out = join(parent, 'out');
    await writeOutput(out, [{ path: 'a.txt', content: 'old' }]);
    const { rename } = await import('node:fs/promises');
    await rename(out, join(parent, '.out.old-1234-abcd'));
    // Planning (build --check, diff) compares the old tree where it is and moves nothing.
    const plan = await planOutput(out, [{ path: 'a.txt', content: 'old' }]);
    expect(plan.upToDate).toBe(true);
    expect((await readdir(parent)).sort()).toEqual(['.out.old-1234-abcd']);
    const changed = await planOutput(out, [{ path: 'a.txt', content: 'new' }]);
    expect(changed.changed).toEqual(['a.txt']);
    // A real build puts it back first, then writes.
    await writeOutput(out, [{ path: 'a.txt', content: 'old' }, { path: 'b.txt', content: 'b' }]);
    expect((await readdir(parent)).sort()).toEqual(['out']);
    expect(await readFile(join(out, 'a.txt'), 'utf8')).toBe('old');
  });

  it('refuses to replace a directory meshc did not write, and rejects bad or duplicate paths', async () => {
    const out = join(await scratch(), 'out');
    await mkdir(out);
    await writeFile(join(out, 'precious.txt'), 'mine');
    await expect(writeOutput(out, [{ path: 'a.txt', content: 'a' }])).rejects.toBeInstanceOf(UserError);
    expect(await readFile(join(out, 'precious.txt'), 'utf8')).toBe('mine');
    await expect(writeOutput(join(out, 'x'), [{ path: '../escape', content: '' }])).rejects.toThrow(/clean relative path/);
    await expect(writeOutput(join(out, 'x'), [{ path: 'a', content: '' }, { path: 'a', content: '' }])).rejects.toThrow(/two targets/);
  });
});

describe('the rebuild shortcut', () => {
  it('trusts an untouched output, and nothing else', async () => {
    const { isUpToDate } = await import('../../src/output/writer.js');
    const out = join(await scratch(), 'out');
    const files = [{ path: 'a.txt', content: 'aaaa' }, { path: 'secrets/k.key', content: 'k', mode: 0o600 }];
    const now = new Date('2026-01-01T00:00:00Z');
    const w = await writeOutput(out, files);
    const stamp = { inputs: 'x', validUntil: '2026-06-01T00:00:00.000Z', manifestSha256: w.manifestSha256 };
    expect(await isUpToDate(out, stamp, 'x', now)).toBe(true);
    expect(await isUpToDate(out, undefined, 'x', now)).toBe(false); // never built here
    expect(await isUpToDate(out, stamp, 'y', now)).toBe(false); // other inputs
    expect(await isUpToDate(out, stamp, 'x', new Date('2026-06-02T00:00:00Z'))).toBe(false); // a certificate expired since
    expect(await isUpToDate(out, { ...stamp, manifestSha256: 'other' }, 'x', now)).toBe(false); // another build's output
    await writeFile(join(out, 'a.txt'), 'AAAA'); // same size, right away
    expect(await isUpToDate(out, stamp, 'x', now)).toBe(false);
    await writeOutput(out, files);
    expect(await isUpToDate(out, stamp, 'x', now)).toBe(true);
    await writeFile(join(out, 'extra.txt'), '');
    expect(await isUpToDate(out, stamp, 'x', now)).toBe(false);
  });
});
