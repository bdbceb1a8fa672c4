import { execa } from 'execa';
import { cp, mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixturePath, tmp } from '../support/build.js';

/** These run the built binary (npm test builds first), as a user would. */
const bin = new URL('../../bin/meshc.js', import.meta.url).pathname;
const meshc = (args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) =>
  execa('node', [bin, ...args], { reject: false, cwd: opts.cwd, env: { NO_COLOR: '1', ...opts.env }, extendEnv: true });

let dir: string;
beforeAll(async () => {
  dir = await tmp('meshc-cli-');
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('meshc CLI', () => {
  it('prints its version and help with examples, exit 0', async () => {
    const v = await meshc(['--version']);
    expect(v.exitCode).toBe(0);
    expect(v.stdout).toMatch(/^\d+\.\d+\.\d+$/);
    for (const cmd of [[], ['init'], ['validate'], ['build']]) {
      const h = await meshc([...cmd, '--help']);
      expect(h.exitCode, cmd.join(' ')).toBe(0);
      expect(h.stdout).toContain('Examples:');
      expect(h.stdout).toContain('Exit codes');
    }
  });

  it('exits 2 on a usage error', async () => {
    const r = await meshc(['validate', '--bogus']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain("unknown option '--bogus'");
    expect((await meshc(['validate', '--format', 'xml'])).exitCode).toBe(2);
    expect((await meshc(['build', '--targets', 'envoi', '-f', fixturePath('minimal')])).stderr).toContain('did you mean "envoy"?');
  });

  it('validates the fixtures: 0 for valid, 1 for invalid, 2 for an unreadable file', async () => {
    expect((await meshc(['validate', '-f', fixturePath('shop')])).exitCode).toBe(0);
    const bad = await meshc(['validate', '-f', new URL('../../fixtures/invalid/unknown-upstream/mesh.yaml', import.meta.url).pathname]);
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout).toMatch(/mesh\.yaml:11:19 {2}error {2}unknown-service {2}frontend\.upstreams names "catalgo"/);
    expect(bad.stdout).toContain('hint: did you mean "catalog"?');
    const missing = await meshc(['validate', '-f', join(dir, 'nope.yaml')]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain('no such file');
    expect(missing.stderr).not.toMatch(/\n\s+at /);
  });

  it('prints JSON diagnostics with --format json', async () => {
    const r = await meshc(['validate', '--format', 'json', '-f', new URL('../../fixtures/invalid/hash-without-key/mesh.yaml', import.meta.url).pathname]);
    expect(r.exitCode).toBe(1);
    const j = JSON.parse(r.stdout);
    expect(j.ok).toBe(false);
    expect(j.diagnostics[0]).toMatchObject({ code: 'hash-without-key', severity: 'error', pointer: '/spec/services/cart/loadBalancing/policy', line: 11, col: 32 });
  });

  it('init writes a commented example with the schema modeline, and refuses to overwrite without --force', async () => {
    // A project that has meshc as a dev dependency, with the mesh in a subfolder.
    const project = join(dir, 'init');
    await mkdir(join(project, 'deploy'), { recursive: true });
    await writeFile(join(project, 'package.json'), '{"name": "project", "devDependencies": {"meshc": "*"}}\n');
    await mkdir(join(project, 'node_modules'));
    await symlink(new URL('../..', import.meta.url).pathname, join(project, 'node_modules', 'meshc'));
    const file = join(project, 'deploy', 'mesh.yaml');
    const made = await meshc(['init', '-f', file]);
    expect(made.exitCode).toBe(0);
    expect(made.stderr).toBe(''); // the schema is where the modeline says
    const text = await readFile(file, 'utf8');
    // Relative to the mesh file, into the project's node_modules: the same for every clone.
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=../node_modules/meshc/schemas/mesh.schema.json');
    await stat(join(project, 'deploy', '../node_modules/meshc/schemas/mesh.schema.json'));
    // A teammate's clone at another path (meshc installed there too) resolves it the same way.
    const clone = join(dir, 'teammate', 'work', 'project');
    await cp(project, clone, { recursive: true, verbatimSymlinks: true });
    await stat(join(clone, 'deploy', text.split('\n')[0].split('$schema=')[1]));
    // Without meshc installed in the project, the same modeline, and a note saying what to install.
    const bare = join(dir, 'bare');
    await mkdir(bare);
    await writeFile(join(bare, 'package.json'), '{"name": "bare"}\n');
    const noted = await meshc(['init'], { cwd: bare });
    expect((await readFile(join(bare, 'mesh.yaml'), 'utf8')).split('\n')[0]).toBe('# yaml-language-server: $schema=./node_modules/meshc/schemas/mesh.schema.json');
    expect(noted.stderr).toContain('add meshc to the project\'s devDependencies');
    expect((await meshc(['validate', '-f', file])).exitCode).toBe(0);
    const again = await meshc(['init', '-f', file]);
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toContain('--force');
    expect((await meshc(['init', '-f', file, '--force'])).exitCode).toBe(0);
  });

  it('builds, reports up to date, and --check names stale files with exit 1', async () => {
    const out = join(dir, 'build-out');
    const state = join(dir, 'build-state');
    const args = ['-f', fixturePath('minimal'), '-o', out, '--state', state, '--targets', 'summary'];
    const first = await meshc(['build', ...args]);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^wrote .*: \d+ files/);
    expect((await meshc(['build', '--check', ...args])).exitCode).toBe(0);
    expect((await meshc(['build', ...args])).stdout).toContain('up to date');
    await writeFile(join(out, 'summary', 'mesh.json'), '{}\n');
    await writeFile(join(out, 'stray.txt'), 'x');
    const check = await meshc(['build', '--check', ...args]);
    expect(check.exitCode).toBe(1);
    expect(check.stdout).toContain('changed  summary/mesh.json');
    expect(check.stdout).toContain('extra    stray.txt');
    const json = JSON.parse((await meshc(['build', '--check', '--format', 'json', ...args])).stdout);
    expect(json).toMatchObject({ ok: true, upToDate: false, changed: ['summary/mesh.json'], removed: ['stray.txt'] });
    expect((await meshc(['build', ...args])).exitCode).toBe(0);
    await expect(stat(join(out, 'stray.txt'))).rejects.toThrow();
  });

  it('--check accepts a committed out/ without its git-ignored secrets/, but not a changed key', async () => {
    const out = join(dir, 'checkout-out');
    const args = ['-f', fixturePath('minimal'), '-o', out, '--state', join(dir, 'checkout-state'), '--targets', 'summary'];
    expect((await meshc(['build', ...args])).exitCode).toBe(0);
    const keys = (await readdir(join(out, 'secrets'))).filter((k) => k.endsWith('.key'));
    await writeFile(join(out, 'secrets', keys[0]), 'tampered\n', { mode: 0o600 });
    expect((await meshc(['build', '--check', ...args])).exitCode).toBe(1);
    await rm(join(out, 'secrets'), { recursive: true });
    const check = await meshc(['build', '--check', ...args]);
    expect(check.exitCode, check.stdout).toBe(0);
    expect((await meshc(['build', ...args])).exitCode).toBe(0); // a real build writes the keys back
    expect((await readdir(join(out, 'secrets'))).filter((k) => k.endsWith('.key'))).toEqual(keys);
  });

  it('a rebuild with nothing changed takes the shortcut; a changed mesh or a rotated certificate does not', async () => {
    const work = join(dir, 'shortcut');
    await mkdir(work);
    const file = join(work, 'mesh.yaml');
    await writeFile(file, await readFile(fixturePath('minimal'), 'utf8'));
    const args = ['-f', file, '-o', join(work, 'out'), '--targets', 'summary,envoy', '--format', 'json'];
    const run = async (extra: string[] = []) => JSON.parse((await meshc(['build', ...args, ...extra])).stdout);
    expect((await run()).cached).toBe(false);
    expect(await run()).toMatchObject({ cached: true, upToDate: true });
    await writeFile(file, (await readFile(file, 'utf8')).replace('replicas', 'replicas') + '\n# a comment\n');
    expect(await run()).toMatchObject({ cached: false, upToDate: true }); // new input bytes, same output
    expect((await run()).cached).toBe(true);
    expect((await meshc(['certs', 'rotate', '--service', 'api', '-f', file])).exitCode).toBe(0);
    const rotated = await run();
    expect(rotated.cached).toBe(false);
    expect(rotated.changed).toEqual(expect.arrayContaining(['certs/api.pem', 'secrets/api.key']));
  });

  it('reports an output directory it cannot write as an I/O error with a hint, not as a bug', async () => {
    // A path under a regular file: every user, root included, gets ENOTDIR.
    const blocker = join(dir, 'a-file');
    await writeFile(blocker, 'x');
    const r = await meshc(['build', '-f', fixturePath('minimal'), '-o', join(blocker, 'out'), '--state', join(dir, 'io-state')]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/^meshc: cannot read or write a file: ENOTDIR: not a directory, \w+ '.*a-file'/);
    expect(r.stderr).toContain('hint: check the path it names');
    expect(r.stderr).not.toMatch(/internal error|bug in meshc|\n\s+at /);
  });

  it('writes nothing, prints no stack and never a key when the mesh is invalid', async () => {
    const out = join(dir, 'bad-out');
    const r = await meshc(['build', '-f', new URL('../../fixtures/invalid/wrong-type/mesh.yaml', import.meta.url).pathname, '-o', out, '--state', join(dir, 'bad-state')]);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain('nothing was written');
    await expect(stat(out)).rejects.toThrow();
    await expect(stat(join(dir, 'bad-state'))).rejects.toThrow();
    expect(r.stdout + r.stderr).not.toMatch(/\n\s+at |PRIVATE KEY/);
  });

  it('keeps private keys out of every command output and writes them 0600', async () => {
    const out = join(dir, 'keys-out');
    const r = await meshc(['build', '-f', fixturePath('minimal'), '-o', out, '--state', join(dir, 'keys-state'), '--format', 'json']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toContain('PRIVATE KEY');
    const keys = await readdir(join(out, 'secrets'));
    expect(keys.length).toBeGreaterThan(0);
    for (const k of keys.filter((k) => k.endsWith('.key'))) expect((await stat(join(out, 'secrets', k))).mode & 0o777).toBe(0o600);
    expect(await readFile(join(out, '.gitignore'), 'utf8')).toContain('/secrets/');
  });
});
