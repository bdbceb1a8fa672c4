import { execa } from 'execa';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixturePath, tmp } from '../support/build.js';

/** Consistent commands, through the built binary as a user runs them. */
const repo = new URL('../..', import.meta.url).pathname;
const bin = join(repo, 'bin/meshc.js');
const meshc = (args: string[], opts: { cwd?: string; env?: Record<string, string>; input?: string; extendEnv?: boolean } = {}) =>
  execa('node', [bin, ...args], { reject: false, cwd: opts.cwd, env: { NO_COLOR: '1', ...opts.env }, extendEnv: opts.extendEnv ?? true, ...(opts.input !== undefined ? { input: opts.input } : {}) });
const ESC = '\u001b[';

let dir: string;
beforeAll(async () => {
  dir = await tmp('meshc-cli-commands-');
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('shared options', () => {
  it('graph takes -o for its output file, verify takes -f', async () => {
    const file = join(dir, 'g.html');
    const g = await meshc(['graph', '-f', fixturePath('shop'), '--format', 'html', '-o', file]);
    expect(g.exitCode, g.stderr).toBe(0);
    expect((await readFile(file, 'utf8')).startsWith('<!doctype html>')).toBe(true);
    const v = await meshc(['verify', '-f', fixturePath('minimal'), '-o', join(dir, 'nothing-here')]);
    expect(v.stderr).not.toContain('unknown option');
    expect(v.stderr).toContain('does not exist');
  });

  it('-f - reads the mesh from standard input and names it <stdin>', async () => {
    const ok = await meshc(['validate', '-f', '-'], { input: await readFile(fixturePath('minimal'), 'utf8') });
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout).toContain('<stdin> is valid');
    const bad = await meshc(['validate', '-f', '-'], { input: (await readFile(fixturePath('minimal'), 'utf8')).replace('upstreams: [api]', 'upstreams: [apii]') });
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout).toMatch(/^<stdin>:\d+:\d+ {2}error {2}unknown-service .*"apii"/m);
    const built = await meshc(['build', '-f', '-', '-o', 'out'], { cwd: dir, input: await readFile(fixturePath('minimal'), 'utf8') });
    expect(built.exitCode, built.stderr).toBe(0);
    expect(await readdir(join(dir, 'out'))).toContain('envoy');
    const init = await meshc(['init', '-f', '-']);
    expect(init.stdout.split('\n')[0]).toMatch(/^# yaml-language-server: \$schema=/);
  });

  it('-f <(…) (a pipe the shell names) builds, with its state where -f - keeps it', async () => {
    const cwd = await mkdtemp(join(dir, 'pipe-'));
    const r = await execa('bash', ['-c', `node ${JSON.stringify(bin)} build -f <(cat ${JSON.stringify(fixturePath('minimal'))}) -o out`], { cwd, reject: false, timeout: 120_000, env: { NO_COLOR: '1' } });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(await readdir(join(cwd, 'out'))).toContain('envoy');
    expect(await readdir(join(cwd, '.meshc', '<stdin>'))).toContain('state.json');
  }, 150_000);

  it('meshc version prints what --version prints', async () => {
    const [a, b] = [await meshc(['version']), await meshc(['--version'])];
    expect(a.exitCode).toBe(0);
    expect(a.stdout).toMatch(/^\d+\.\d+\.\d+$/);
    expect(a.stdout).toBe(b.stdout);
  });

  it('colour: FORCE_COLOR turns it on in a pipe, --no-color and NO_COLOR turn it off', async () => {
    const args = ['validate', '-f', fixturePath('shop')];
    const plainEnv = { NO_COLOR: '', FORCE_COLOR: '' };
    const forced = await execa('node', [bin, ...args], { reject: false, env: { FORCE_COLOR: '1' }, extendEnv: true });
    expect(forced.stdout).toContain(ESC);
    expect((await execa('node', [bin, ...args, '--no-color'], { reject: false, env: { FORCE_COLOR: '1' }, extendEnv: true })).stdout).not.toContain(ESC);
    expect((await execa('node', [bin, '--no-color', ...args], { reject: false, env: { FORCE_COLOR: '1' }, extendEnv: true })).stdout).not.toContain(ESC);
    expect((await meshc(args)).stdout).not.toContain(ESC); // NO_COLOR=1
    expect((await execa('node', [bin, ...args, '--color'], { reject: false, env: { ...plainEnv, NO_COLOR: '1' }, extendEnv: true })).stdout).toContain(ESC);
    expect((await execa('node', [bin, ...args], { reject: false, env: { FORCE_COLOR: '0' }, extendEnv: true })).stdout).not.toContain(ESC);
  }, 120_000);
});

describe('verify finds the right proxy or says why not', () => {
  it('a named binary that is not there is an error (exit 2), not a skip', async () => {
    const out = join(dir, 'v-out');
    expect((await meshc(['build', '-f', fixturePath('minimal'), '-o', out, '--state', join(dir, 'v-state'), '-q', '--targets', 'envoy'])).exitCode).toBe(0);
    const r = await meshc(['verify', '-o', out, '--envoy', '/nonexistent/envoy']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('--envoy /nonexistent/envoy: no executable there');
  });

  it('without --envoy, it uses .venv/envoy/bin/envoy of the mesh file\'s repository', async () => {
    const envoy = join(repo, '.venv', 'envoy', 'bin', 'envoy');
    const installed = await execa(envoy, ['--version'], { reject: false }).then((r) => r.exitCode === 0, () => false);
    if (!installed && process.env.CI === 'true') throw new Error('Envoy is not installed (CI=true): run `bash scripts/install-proxies.sh`');
    if (!installed) return console.warn('verify test skipped: Envoy not installed; run `bash scripts/install-proxies.sh`');
    // A repository of the user's with the install script's layout, the mesh in a subfolder.
    const project = join(dir, 'project');
    await mkdir(join(project, '.venv', 'envoy', 'bin'), { recursive: true });
    await symlink(envoy, join(project, '.venv', 'envoy', 'bin', 'envoy'));
    await mkdir(join(project, 'deploy'));
    await cp(fixturePath('minimal'), join(project, 'deploy', 'mesh.yaml'));
    expect((await meshc(['build', '-q', '--targets', 'envoy', '-f', 'deploy/mesh.yaml', '-o', 'out'], { cwd: project })).exitCode).toBe(0);
    // PATH without any envoy on it.
    const r = await meshc(['verify', '-f', 'deploy/mesh.yaml', '-o', 'out', '--format', 'json'], { cwd: project, env: { PATH: '/usr/bin:/bin' } });
    const j = JSON.parse(r.stdout) as { ok: boolean; binaries: Record<string, string>; results: { ok: boolean }[]; skipped: string[] };
    expect(j.binaries.envoy).toBe(join(project, '.venv', 'envoy', 'bin', 'envoy'));
    expect(j.results.length).toBeGreaterThan(0);
    expect(j.ok, r.stdout).toBe(true);
    expect(r.exitCode).toBe(0);
  });
});

describe('certificate rotation messages name the step that works', () => {
  it('--ca says what comes next and not "no certificate was due"; status shows the issuer and the next step of each phase', { timeout: 120_000 }, async () => {
    const work = join(dir, 'rotation');
    await mkdir(work);
    await cp(fixturePath('minimal'), join(work, 'mesh.yaml'));
    const run = (args: string[]) => meshc(args, { cwd: work });
    expect((await run(['build', '-q'])).exitCode).toBe(0);
    const start = await run(['certs', 'rotate', '--ca']);
    expect(start.exitCode).toBe(0);
    expect(start.stdout).toContain('CA rotation started');
    expect(start.stdout).not.toContain('no certificate was due');

    const phase1 = await run(['certs', 'status']);
    expect(phase1.stdout).toMatch(/^CA phase: ca-rotation: .*still issued by the old one: next .*`meshc certs rotate --all && meshc build`/m);
    expect(phase1.stdout).not.toContain('--finish');
    expect(phase1.stdout.split('\n').find((l) => l.startsWith('KIND'))).toMatch(/ISSUER/);
    expect(phase1.stdout).toMatch(/^workload +web +.* ca-previous /m);
    const j1 = JSON.parse((await run(['certs', 'status', '--format', 'json'])).stdout) as { next: string; rows: { name: string; issuer?: string }[] };
    expect(j1.next).toBe('meshc certs rotate --all');
    expect(j1.rows.find((r) => r.name === 'web')?.issuer).toBe('ca-previous');
    // What it advises is what works: --finish is refused now.
    expect((await run(['certs', 'rotate', '--finish'])).exitCode).toBe(2);

    expect((await run(['certs', 'rotate', '--all'])).exitCode).toBe(0);
    const phase2 = await run(['certs', 'status']);
    expect(phase2.stdout).toMatch(/every leaf is issued by the new one: next, `meshc certs rotate --finish && meshc build`/);
    expect(phase2.stdout).toMatch(/^workload +web +.* ca +[0-9a-f]/m);
    const finish = await run(['certs', 'rotate', '--finish']);
    expect(finish.exitCode).toBe(0);
    expect(finish.stdout).not.toContain('no certificate was due');
    expect((await run(['certs', 'status'])).stdout).toMatch(/^CA phase: stable/);
  });
});

describe('meshc completion', () => {
  const script = async (shell: string) => {
    const r = await meshc(['completion', shell]);
    expect(r.exitCode).toBe(0);
    const file = join(dir, `completion.${shell}`);
    await writeFile(file, r.stdout);
    return file;
  };

  it('bash: commands, subcommands, options and their values', async () => {
    const file = await script('bash');
    const complete = async (...words: string[]) => {
      const r = await execa('bash', ['-c', `source ${file}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _meshc; printf '%s\\n' "\${COMPREPLY[@]}"`], { reject: false });
      expect(r.exitCode, r.stderr).toBe(0);
      return r.stdout.split('\n').filter(Boolean);
    };
    expect(await complete('meshc', '')).toEqual(expect.arrayContaining(['build', 'certs', 'completion', 'graph', 'validate', 'version']));
    expect(await complete('meshc', 'ce')).toEqual(['certs']);
    expect(await complete('meshc', 'certs', '')).toEqual(expect.arrayContaining(['rotate', 'status']));
    expect(await complete('meshc', 'certs', 'rotate', '--')).toEqual(expect.arrayContaining(['--all', '--ca', '--finish', '--service', '--file', '--state']));
    expect(await complete('meshc', 'build', '--format', '')).toEqual(['text', 'json']);
    expect(await complete('meshc', 'graph', '--format', '')).toEqual(['mermaid', 'dot', 'json', 'html']);
    expect(await complete('meshc', 'completion', '')).toEqual(expect.arrayContaining(['bash', 'zsh', 'fish']));
  });

  // zsh and fish come from scripts/install-test-tools.sh; without them these are skipped with a
  // message, and under CI=true they fail.
  const has = async (shell: string) => execa(shell, ['--version'], { reject: false }).then((r) => r.exitCode === 0, () => false);
  for (const shell of ['zsh', 'fish']) {
    it(`${shell}: the same completions`, async () => {
      if (!(await has(shell))) {
        if (process.env.CI === 'true') throw new Error(`${shell} is not installed (CI=true): run \`bash scripts/install-test-tools.sh\` as root`);
        return console.warn(`${shell} completion test skipped: ${shell} not found; install it with \`sudo bash scripts/install-test-tools.sh\``);
      }
      const file = await script(shell);
      const run = async (line: string): Promise<string[]> => {
        const cmd =
          shell === 'zsh'
            ? // Outside a completion widget: compadd and compdef stand in, printing what would be offered.
              `compdef(){}; compadd(){ [[ $1 == -- ]] && shift; print -rl -- "$@"; }; _files(){ print -r -- FILES; }; source ${file}; words=(${line.split(' ').map((w) => `'${w}'`).join(' ')}); CURRENT=\${#words}; _meshc`
            : `source ${file}; complete -C '${line}'`;
        const r = await execa(shell, ['-c', cmd], { reject: false });
        expect(r.exitCode, r.stderr).toBe(0);
        expect(r.stderr).toBe('');
        return r.stdout.split('\n').map((l) => l.split('\t')[0]).filter(Boolean);
      };
      expect(await run('meshc certs ')).toEqual(expect.arrayContaining(['rotate', 'status']));
      expect((await run('meshc build --format ')).sort()).toEqual(['json', 'text']);
      expect(await run('meshc ')).toEqual(expect.arrayContaining(['build', 'certs', 'completion', 'graph']));
      expect(await run('meshc completion ')).toEqual(expect.arrayContaining(['bash', 'fish', 'zsh']));
    });
  }
});

describe('the output tree', () => {
  it('has a README naming each folder and how to use it, and every proxy file one run line', async () => {
    const out = join(dir, 'tree');
    expect((await meshc(['build', '-q', '-f', fixturePath('shop'), '-o', out, '--state', join(dir, 'tree-state')])).exitCode).toBe(0);
    const readme = await readFile(join(out, 'README.md'), 'utf8');
    for (const folder of ['certs', 'secrets', 'envoy', 'nginx', 'haproxy', 'k8s', 'istio', 'summary']) expect(readme).toContain(`| \`${folder}/\` |`);
    expect(readme).toContain('`cd <out> && envoy -c envoy/<workload>.yaml`');
    for (const [folder, ext] of [['envoy', 'yaml'], ['nginx', 'conf'], ['haproxy', 'cfg']]) {
      for (const f of (await readdir(join(out, folder))).filter((x) => x.endsWith(ext))) {
        const text = await readFile(join(out, folder, f), 'utf8');
        const runLines = text.split('\n').filter((l) => l.startsWith('# Run: '));
        expect(runLines, `${folder}/${f}`).toHaveLength(1);
        expect(runLines[0]).toMatch(new RegExp(`^# Run: cd <out> && ${folder === 'envoy' ? 'envoy -c ' : folder === 'haproxy' ? 'haproxy -db -f ' : 'nginx -p <runtime>/ -c "\\$PWD/'}${folder}/${f.replace(/\./g, '\\.')}`));
      }
    }
    // nginx: the prefix is not the output tree (which each build replaces), in the file and the README.
    const nginx = await readFile(join(out, 'nginx', 'cart.conf'), 'utf8');
    expect(nginx).toContain('<runtime>/ is a writable folder outside <out>');
    expect(nginx).not.toContain('-p <out>');
  });
});
