/**
 * The pull-request jobs of examples/ci/meshc.yml, run as written: every `run:` step of `check` and
 * `diff` (but the one that installs meshc, which needs the network: the built meshc is on PATH
 * instead), in a fresh clone of a scratch repository with a base branch, with only the public
 * certificate state and no MESHC_STATE_PASSPHRASE, as a pull request from a fork gets it.
 */
import { execa } from 'execa';
import { copyFile, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

// Each test runs several meshc processes (and git): minutes on a loaded machine, not seconds.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 });
import { parse } from 'yaml';
import { fixturePath, tmp } from '../support/build.js';
import { git, meshc } from '../support/meshc-cli.js';

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  env?: Record<string, string>;
}
interface Workflow {
  env: Record<string, string>;
  jobs: Record<string, { steps: Step[]; env?: Record<string, string> }>;
}

/** What GitHub puts in for the expressions the steps use; any other expression fails the test. */
const EXPRESSIONS: Record<string, string> = {
  'github.base_ref': 'main',
  'github.event.pull_request.number': '7',
};
function expand(value: string): string {
  return String(value).replace(/\$\{\{\s*([^}]+?)\s*\}\}/g, (_, expr: string) => {
    expect(EXPRESSIONS, `an expression the test does not know: ${expr}`).toHaveProperty([expr]);
    return EXPRESSIONS[expr]!;
  });
}

let root: string;
let repo: string;
let pathDir: string;
let workflow: Workflow;

beforeAll(async () => {
  workflow = parse(await readFile(new URL('../../examples/ci/meshc.yml', import.meta.url), 'utf8')) as Workflow;
  root = await tmp('meshc-ci-example-');
  // The built meshc as `meshc` on PATH.
  pathDir = join(root, 'bin');
  await mkdir(pathDir);
  await symlink(new URL('../../bin/meshc.js', import.meta.url).pathname, join(pathDir, 'meshc'));
  // The project: mesh.yaml, its output in deploy/generated and the state, on main; a pull request adds a service.
  const origin = join(root, 'origin');
  await mkdir(origin);
  await git(origin, 'init', '-q', '-b', 'main');
  await copyFile(fixturePath('minimal'), join(origin, 'mesh.yaml'));
  // The expectations the check job's `meshc test` reads beside the mesh.
  await writeFile(join(origin, 'mesh.test.yaml'), (await readFile(new URL('../../fixtures/minimal/mesh.test.yaml', import.meta.url), 'utf8')).replace(/^# yaml-language-server.*\n/, ''));
  const build = async () => {
    const b = await meshc(['build', '-f', 'mesh.yaml', '-o', 'deploy/generated'], { cwd: origin, passphrase: 'the team secret' });
    expect(b.exitCode, b.stderr).toBe(0);
    await git(origin, 'add', '-A');
  };
  await build();
  await git(origin, 'commit', '-qm', 'the mesh');
  await git(origin, 'checkout', '-q', '-b', 'add-extra');
  const text = await readFile(join(origin, 'mesh.yaml'), 'utf8');
  await writeFile(
    join(origin, 'mesh.yaml'),
    text.replace('      upstreams: [api]\n', '      upstreams: [api, extra]\n').replace('  services:\n', '  services:\n    extra:\n      port: 8080\n      image: ghcr.io/acme/extra:1.0.0\n      allowFrom: [web]\n'),
  );
  await build();
  await git(origin, 'commit', '-qm', 'add extra');
  // What the runner checks out: a clone at the pull request, the base branch fetched.
  repo = join(root, 'checkout');
  await git(root, 'clone', '-q', '--branch', 'add-extra', origin, repo);
});
afterAll(async () => rm(root, { recursive: true, force: true }));

async function runJob(job: string): Promise<void> {
  const steps = workflow.jobs[job]!.steps;
  expect(steps.some((s) => s.name === 'install meshc' && /npm install --global "\$MESHC_PACKAGE"/.test(s.run ?? ''))).toBe(true);
  for (const step of steps) {
    if (!step.run || step.name === 'install meshc') continue;
    const env: Record<string, string> = { ...(process.env as Record<string, string>), PATH: `${pathDir}:${process.env.PATH}` };
    delete env.MESHC_STATE_PASSPHRASE;
    for (const [k, v] of Object.entries({ ...workflow.env, ...workflow.jobs[job]!.env, ...step.env })) env[k] = expand(v);
    expect(env.MESHC_STATE_PASSPHRASE ?? '', `${job}: ${step.name}`).toBe('');
    // As GitHub runs a `run:` step on Linux: bash, -e and pipefail.
    const r = await execa('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', step.run], { cwd: repo, env, extendEnv: false, reject: false });
    expect(r.exitCode, `${job}: ${step.name}\n${r.stdout}\n${r.stderr}`).toBe(0);
  }
}

describe('examples/ci/meshc.yml on a pull request, with the public state only', () => {
  it('the checkout holds no private key and no plain key store', async () => {
    const files = (await git(repo, 'ls-files')).split('\n');
    expect(files).toEqual(expect.arrayContaining(['.meshc/mesh/state.json', '.meshc/mesh/keys.encrypted.json', 'deploy/generated/certs/ca-bundle.pem']));
    expect(files.filter((f) => /private\/|secrets\//.test(f))).toEqual([]);
  });

  it('check: validate and build --check pass', async () => {
    await runJob('check');
  });

  it('diff: the comment says what the pull request changes, and names the pull request', async () => {
    await runJob('diff');
    const comment = await readFile(join(repo, 'meshc-comment/comment.md'), 'utf8');
    expect(comment).toContain('### meshc diff against `origin/main`');
    expect(comment).toContain('service added: extra');
    expect(comment).toContain('+++ b/envoy/extra.yaml');
    expect(comment).not.toContain('PRIVATE KEY');
    expect((await readFile(join(repo, 'meshc-comment/pr-number'), 'utf8')).trim()).toBe('7');
  });
});
