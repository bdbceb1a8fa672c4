import { execa } from 'execa';
import { readdirSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * Every invalid fixture through the built CLI, as a user meets it: `meshc build` exits 1 with a
 * `file:line:col` diagnostic and a hint, prints no stack trace, and writes nothing (no output
 * directory, no state directory).
 */
const bin = new URL('../../bin/meshc.js', import.meta.url).pathname;
const root = new URL('../../fixtures/invalid/', import.meta.url).pathname;
const cases = readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

describe('meshc build on every invalid fixture', () => {
  it.each(cases)('%s: exit 1, a positioned diagnostic, no stack, nothing written', async (name) => {
    const dir = await mkdtemp(join(tmpdir(), 'meshc-invalid-'));
    dirs.push(dir);
    const file = join(root, name, 'mesh.yaml');
    const r = await execa('node', [bin, 'build', '-f', file, '-o', join(dir, 'out'), '--state', join(dir, 'state')], { reject: false, env: { NO_COLOR: '1' } });
    expect(r.exitCode, r.stdout + r.stderr).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+ {2}error {2}[a-z0-9-]+ {2}\\S`));
    expect(r.stderr).toContain('hint:');
    expect(r.stdout + r.stderr).not.toMatch(/\n\s+at |internal error/);
    expect(await readdir(dir)).toEqual([]);
  });
});
