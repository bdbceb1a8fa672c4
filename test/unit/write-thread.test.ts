/**
 * The writer with its own thread (src/output/write-thread.ts), as large builds use it. A worker
 * thread runs compiled JavaScript only, so this imports the writer from dist/ (`npm test` builds
 * it first); the writer's other tests run the same code from src/ without the thread.
 */
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeBatch, openOutput, writeOutput } from '../../dist/output/writer.js';
import { WriteThread, writeThreadsStarted } from '../../dist/output/write-thread.js';
import { readModes, readTree, scratchDirs } from '../support/build.js';

const scratch = scratchDirs('meshc-write-thread-');

describe('the writer with its own thread', () => {
  it('writes the same tree, modes and manifest as without it, from text and from encoded batches', async () => {
    const parent = await scratch();
    const text = [
      { path: 'a/x.yaml', content: 'x: 1\n' },
      { path: 'a/ü.txt', content: 'grüße → ☃\n' },
      { path: 'secrets/k.key', content: 'key\n', mode: 0o600 },
      // Wider than the umask lets a new file be: the thread must widen it again.
      { path: 'b/open.txt', content: 'open\n', mode: 0o666 },
    ];
    const encoded = [{ path: 'c/empty.txt', content: '' }, { path: 'c/big.txt', content: 'line\n'.repeat(50_000) }];
    await writeOutput(join(parent, 'plain'), [...text, ...encoded]);
    const threads = writeThreadsStarted();
    const sink = await openOutput(join(parent, 'threaded'), { thread: true });
    await Promise.all([sink.put(text), sink.put(encodeBatch(encoded))]);
    await sink.commit();
    expect(writeThreadsStarted()).toBe(threads + 1);
    const [plain, threaded] = [join(parent, 'plain'), join(parent, 'threaded')];
    expect([...(await readTree(threaded)).entries()]).toEqual([...(await readTree(plain)).entries()]);
    expect([...(await readModes(threaded)).entries()]).toEqual([...(await readModes(plain)).entries()]);
    expect((await readModes(threaded)).get('secrets/k.key')).toBe(0o600);
    expect((await readModes(threaded)).get('b/open.txt')).toBe(0o666);
  });

  it('reports a failed write with the file system error, writes the rest, and a failed build loses nothing', async () => {
    const parent = await scratch();
    const out = join(parent, 'out');
    await writeOutput(out, [{ path: 'kept.txt', content: 'before\n' }]);
    const before = await readTree(out);
    const threads = writeThreadsStarted();
    const sink = await openOutput(out, { thread: true });
    // A name longer than any file system allows: open() fails in the thread.
    const tooLong = `a/${'n'.repeat(300)}.txt`;
    const put = sink.put([{ path: 'a/one.txt', content: '1' }, { path: tooLong, content: 'x' }, { path: 'a/two.txt', content: '2' }]);
    const e = await put.then(
      () => undefined,
      (x: NodeJS.ErrnoException) => x,
    );
    expect(writeThreadsStarted()).toBe(threads + 1);
    expect(e?.code).toBe('ENAMETOOLONG');
    expect(e?.syscall).toBe('open');
    expect(e?.path).toContain('n'.repeat(300));
    await sink.abort();
    expect(await readTree(out)).toEqual(before);
    expect((await readdir(parent)).filter((n) => n.includes('staging'))).toEqual([]);
  });

  it('writes many files in one batch, and refuses writes once it is closed', async () => {
    const dir = await scratch();
    await mkdir(join(dir, 'd'));
    const thread = new WriteThread();
    await Promise.all(Array.from({ length: 100 }, (_, i) => thread.write(join(dir, 'd', `f${i}`), Buffer.from(`${i}\n`), 0o644, false)));
    expect((await readdir(join(dir, 'd'))).length).toBe(100);
    await thread.close();
    await expect(thread.write(join(dir, 'late'), Buffer.from('x'), 0o644, false)).rejects.toThrow(/closed/);
    await expect(stat(join(dir, 'late'))).rejects.toThrow(/ENOENT/);
  });
});
