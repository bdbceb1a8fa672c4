import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { planOutput, writeOutput } from '../../src/output/writer.js';
import { UserError } from '../../src/errors.js';
import { readTree, tmp } from '../support/build.js';

const dirs: string[] = [];
afterEach(async () => Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true }))));
async function scratch() {
  const d = await tmp('meshc-writer-');
  dirs.push(d);
  return d;
}

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

  it('leaves the previous output intact when the build fails before the swap', async () => {
    const parent = await scratch();
    const out = join(parent, 'out');
    await writeOutput(out, [{ path: 'a.txt', content: 'old' }]);
    await expect(writeOutput(out, [{ path: 'a.txt', content: 'new' }], { beforeSwap: async () => { throw new Error('boom'); } })).rejects.toThrow('boom');
    expect(await readFile(join(out, 'a.txt'), 'utf8')).toBe('old');
    expect((await readdir(parent)).sort()).toEqual(['out']); // no staging directory left behind
  });

  it('restores the old tree when a build died between its two renames', async () => {
    const parent = await scratch();
    const out = join(parent, 'out');
    await writeOutput(out, [{ path: 'a.txt', content: 'old' }]);
    const { rename } = await import('node:fs/promises');
    await rename(out, join(parent, '.out.old-1234-abcd'));
    const plan = await planOutput(out, [{ path: 'a.txt', content: 'old' }]);
    expect(plan.upToDate).toBe(true);
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
