import { execa } from 'execa';
import { X509Certificate } from 'node:crypto';
import { copyFile, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixturePath, readTree, tmp } from '../support/build.js';

/** These run the built binary (npm test builds first), as a user would. */
const bin = new URL('../../bin/meshc.js', import.meta.url).pathname;
const meshc = (args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) =>
  execa('node', [bin, ...args], { reject: false, cwd: opts.cwd, env: { NO_COLOR: '1', ...opts.env }, extendEnv: true });

/** Every private-key body line meshc has written: out/secrets/** and the keys kept in the state. */
async function keyLines(out: string, state: string): Promise<string[]> {
  const lines = new Set<string>();
  const addPem = (text: string) => {
    for (const m of text.replace(/\\n/g, '\n').matchAll(/-----BEGIN [A-Z ]*PRIVATE KEY-----([\s\S]*?)-----END/g))
      for (const l of m[1].split('\n').map((x) => x.trim())) if (l.length >= 16 && !l.includes(':')) lines.add(l);
  };
  const tree = await readTree(out).catch(() => new Map<string, string>());
  for (const [p, c] of tree) {
    if (!p.startsWith('secrets/')) continue;
    addPem(c);
    // Base64 payloads (Kubernetes Secrets under secrets/k8s/): their start must not appear either.
    for (const m of c.matchAll(/[A-Za-z0-9+/]{40,}={0,2}/g)) lines.add(m[0].slice(0, 40));
  }
  addPem(await readFile(join(state, 'private', 'keys.json'), 'utf8').catch(() => ''));
  expect(lines.size).toBeGreaterThan(0);
  return [...lines];
}

function expectNoKeyMaterial(text: string, lines: string[]): void {
  expect(text).not.toContain('PRIVATE KEY');
  for (const l of lines) expect(text.includes(l), `a key line leaked: ${l.slice(0, 12)}…`).toBe(false);
}

// The shop with a target list that stays stable while other targets are being written; one test
// below uses every target on the minimal fixture.
const TARGETS = ['--targets', 'summary,envoy'];

let dir: string;
let mesh: string;
let original: string;
let out: string;
let state: string;
const outputs: string[] = [];

async function diff(extra: string[] = []) {
  const r = await meshc(['diff', '-f', mesh, '-o', out, '--state', state, ...TARGETS, ...extra]);
  outputs.push(r.stdout, r.stderr);
  return r;
}
async function withMesh(edit: (text: string) => string) {
  const text = edit(original);
  expect(text, 'the edit applied').not.toBe(original);
  await writeFile(mesh, text);
}

beforeAll(async () => {
  dir = await tmp('meshc-cli-diff-');
  mesh = join(dir, 'mesh.yaml');
  out = join(dir, 'out');
  state = join(dir, '.meshc', 'mesh');
  await copyFile(fixturePath('shop'), mesh);
  original = await readFile(mesh, 'utf8');
  const b = await meshc(['build', '-f', mesh, '-o', out, ...TARGETS]);
  expect(b.exitCode, b.stdout + b.stderr).toBe(0);
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('meshc diff against the output directory', () => {
  it('says "no changes" and exits 0 right after a build; --help explains the exit codes', async () => {
    const r = await diff();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^no changes/);
    const h = await meshc(['diff', '--help']);
    expect(h.exitCode).toBe(0);
    expect(h.stdout).toContain('Examples:');
    expect(h.stdout).toMatch(/Exit codes: 0 no changes, 1 changes, 2 error/);
    expect(h.stdout).toContain('kubectl diff');
    expect(h.stdout).toContain('terraform');
  });

  it('a new service: service added, the caller gains an upstream, its certificate is issued (in memory)', async () => {
    await withMesh((t) =>
      t
        .replace('upstreams: [catalog, cart, search, users, recommendations]', 'upstreams: [catalog, cart, search, users, recommendations, wishlist]')
        .replace('    notifications:\n', '    wishlist:\n      port: 8080\n      image: ghcr.io/acme/wishlist:1.0.0\n      allowFrom: [frontend]\n    notifications:\n'),
    );
    const r = await diff();
    expect(r.exitCode, r.stderr).toBe(1);
    const lines = r.stdout.split('\n').map((l) => l.trim());
    expect(lines).toContain('service added: wishlist');
    expect(lines).toContain('frontend: upstream + wishlist');
    expect(lines).toContainEqual(expect.stringMatching(/^certificate wishlist: issued, serial [0-9a-f]+, expires \d{4}-\d\d-\d\d$/));
    expect(lines).toContain('envoy/frontend.yaml: cluster added: outbound|wishlist');
    expect(lines).toContain('envoy/wishlist.yaml: added');
    expect(r.stdout).toMatch(/^ {2}added {4}secrets\/wishlist\.key {2}\(private key: not shown\)$/m);
    expect(r.stdout).toContain('+++ b/envoy/wishlist.yaml');
    // Nothing was written: not the output, not the state.
    expect((await meshc(['build', '--check', '-f', mesh, '-o', out, ...TARGETS])).exitCode).toBe(1);
    expect(await readFile(join(state, 'state.json'), 'utf8')).not.toContain('wishlist');
  });

  it('a load-balancing change, in words and in the Envoy cluster', async () => {
    await withMesh((t) => t.replace('      image: ghcr.io/acme/users:5.0.1\n', '      image: ghcr.io/acme/users:5.0.1\n      loadBalancing:\n        policy: ring_hash\n        hashOn: { header: x-user-id }\n'));
    const r = await diff();
    expect(r.exitCode).toBe(1);
    const lines = r.stdout.split('\n').map((l) => l.trim());
    expect(lines).toContain('users: load balancing round_robin → ring_hash(header x-user-id)');
    expect(lines).toContain('envoy/frontend.yaml: cluster changed: outbound|users');
    expect(r.stdout).toMatch(/^\+.*ring_hash/m);
  });

  it('an egress domain added, with --stat: the summary and file list, no unified diffs', async () => {
    await withMesh((t) => t.replace('egress: [api.stripe.com, "*.stripe.network"]', 'egress: [api.stripe.com, "*.stripe.network", api.paypal.com]'));
    const r = await diff(['--stat']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain('payments: egress + api.paypal.com');
    expect(r.stdout).toContain('changed  envoy/payments.yaml');
    expect(r.stdout).not.toMatch(/^(---|\+\+\+|@@) /m);
  });

  it('an ingress host removed', async () => {
    await withMesh((t) => t.replace(/ {6}api\.shop\.example\.com:\n(?: {8}.*\n)+/, ''));
    const r = await diff();
    expect(r.exitCode).toBe(1);
    const lines = r.stdout.split('\n').map((l) => l.trim());
    expect(lines).toContain('ingress host removed: api.shop.example.com');
    expect(lines).toContainEqual(expect.stringMatching(/^certificate ingress\/api\.shop\.example\.com: removed/));
    expect(r.stdout).toMatch(/removed {2}secrets\/ingress\/api\.shop\.example\.com\.key/);
  });

  it('--format json: {changed, summary, files[{path, status, diff?}]}; the file list agrees with build --check', async () => {
    await withMesh((t) => t.replace('egress: [api.segment.io]', 'egress: [api.segment.io, api.mixpanel.com]').replace(/ {6}api\.shop\.example\.com:\n(?: {8}.*\n)+/, ''));
    const r = await diff(['--format', 'json']);
    expect(r.exitCode).toBe(1);
    const j = JSON.parse(r.stdout) as { changed: boolean; summary: { text: string }[]; files: { path: string; status: string; diff?: string }[] };
    expect(j.changed).toBe(true);
    expect(j.summary.map((s) => s.text)).toEqual(expect.arrayContaining(['frontend: egress + api.mixpanel.com', 'ingress host removed: api.shop.example.com']));
    for (const f of j.files) expect(['added', 'changed', 'removed']).toContain(f.status);
    expect(j.files.find((f) => f.path === 'envoy/frontend.yaml')?.diff).toMatch(/^--- a\/envoy\/frontend\.yaml\n\+\+\+ b\/envoy\/frontend\.yaml\n@@/);
    expect(j.files.find((f) => f.path.startsWith('secrets/'))?.diff).toBeUndefined();
    const check = JSON.parse((await meshc(['build', '--check', '--format', 'json', '-f', mesh, '-o', out, ...TARGETS])).stdout) as { added: string[]; changed: string[]; removed: string[]; modeChanged: string[] };
    expect(j.files.map((f) => f.path).sort()).toEqual([...check.added, ...check.changed, ...check.removed, ...check.modeChanged].sort());
  });

  it('a rotated certificate: old and new serial and expiry, no PEM body', async () => {
    await writeFile(mesh, original);
    const before = new X509Certificate(await readFile(join(out, 'certs', 'cart.pem')));
    const rot = await meshc(['certs', 'rotate', '--service', 'cart', '-f', mesh]);
    expect(rot.exitCode, rot.stdout + rot.stderr).toBe(0);
    const r = await diff();
    expect(r.exitCode).toBe(1);
    const line = r.stdout.split('\n').map((l) => l.trim()).find((l) => l.startsWith('certificate cart:'));
    expect(line).toMatch(new RegExp(`^certificate cart: rotated, serial ${before.serialNumber.toLowerCase()} → [0-9a-f]+, expires \\d{4}-\\d\\d-\\d\\d → \\d{4}-\\d\\d-\\d\\d$`));
    expect(r.stdout).toMatch(/^-<certificate .*CN=cart, serial /m);
    expect(r.stdout).not.toContain('BEGIN CERTIFICATE');
    expect(r.stdout).toMatch(/changed {2}secrets\/cart\.key {2}\(private key: not shown\)/);
    // Build, and the diff is empty again.
    expect((await meshc(['build', '-f', mesh, '-o', out, ...TARGETS])).exitCode).toBe(0);
    expect((await diff()).exitCode).toBe(0);
  });

  it('exits 2 on an invalid mesh or a missing file, with no stack', async () => {
    await writeFile(mesh, original.replace('port: 9090', 'port: "nine"'));
    const r = await diff();
    expect(r.exitCode).toBe(2);
    expect(r.stdout).toContain('nothing to compare');
    const missing = await meshc(['diff', '-f', join(dir, 'nope.yaml'), '-o', out]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).not.toMatch(/\n\s+at /);
    await writeFile(mesh, original);
  });

  it('reports a mode-only change (a hand chmod) like build --check does', async () => {
    const { chmod } = await import('node:fs/promises');
    await chmod(join(out, 'envoy', 'cart.yaml'), 0o600);
    const r = await diff();
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain('envoy/cart.yaml: mode 600 → 644');
    expect(r.stdout).toMatch(/changed {2}envoy\/cart\.yaml {2}\(mode 600 → 644\)/);
    await chmod(join(out, 'envoy', 'cart.yaml'), 0o644);
    expect((await diff()).exitCode).toBe(0);
  });

  it('is plain under NO_COLOR and not on a TTY', async () => {
    await withMesh((t) => t.replace('replicas: 3', 'replicas: 4'));
    const r = await diff();
    expect(r.stdout).toContain('frontend: replicas 3 → 4');
    // eslint-disable-next-line no-control-regex
    expect(r.stdout).not.toMatch(/\u001b\[/);
    await writeFile(mesh, original);
  });

  it('never prints key material, in any of the outputs above', async () => {
    const lines = await keyLines(out, state);
    for (const text of outputs) expectNoKeyMaterial(text, lines);
  });
});

describe('meshc diff with every target (minimal fixture)', () => {
  it('summarizes and diffs every target, and keeps keys out', { timeout: 120_000 }, async () => {
    const d = await tmp('meshc-cli-diff-all-');
    try {
      const f = join(d, 'mesh.yaml');
      await copyFile(fixturePath('minimal'), f);
      const o = join(d, 'out');
      // Before any build: everything would be added; nothing is written, not even the state directory.
      const first = await meshc(['diff', '--stat', '-f', f, '-o', o]);
      expect(first.exitCode, first.stderr).toBe(1);
      expect(first.stdout).toMatch(/note: nothing built yet in .*: \d+ files would be written/);
      expect(await readdir(d)).toEqual(['mesh.yaml']);
      expect((await meshc(['build', '-f', f, '-o', o])).exitCode).toBe(0);
      expect((await meshc(['diff', '-f', f, '-o', o])).exitCode).toBe(0);
      const text = await readFile(f, 'utf8');
      await writeFile(f, text.replace('upstreams: [db]', 'upstreams: [db, cache]').replace('  services:\n', '  services:\n    cache:\n      port: 6379\n      protocol: tcp\n      image: redis:7\n      allowFrom: [api]\n'));
      const r = await meshc(['diff', '-f', f, '-o', o]);
      expect(r.exitCode, r.stderr).toBe(1);
      expect(r.stdout).toContain('service added: cache');
      expect(r.stdout).toContain('api: upstream + cache');
      const json = await meshc(['diff', '-f', f, '-o', o, '--format', 'json']);
      const j = JSON.parse(json.stdout) as { files: { path: string }[] };
      const dirs = new Set(j.files.map((x) => x.path.split('/')[0]));
      for (const t of ['envoy', 'certs', 'secrets', 'summary']) expect(dirs).toContain(t);
      const lines = await keyLines(o, join(d, '.meshc', 'mesh'));
      for (const s of [r.stdout, r.stderr, json.stdout]) expectNoKeyMaterial(s, lines);
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });
});

describe('meshc diff --against a git revision', () => {
  it('compares two commits in memory, with the same certificates on both sides', async () => {
    const repo = await tmp('meshc-cli-diff-git-');
    try {
      const git = (...args: string[]) => execa('git', ['-c', 'user.name=meshc test', '-c', 'user.email=test@example.com', '-c', 'commit.gpgsign=false', ...args], { cwd: repo });
      await git('init', '-q');
      await execa('mkdir', ['-p', join(repo, 'deploy')]);
      const f = join(repo, 'deploy', 'mesh.yaml');
      await copyFile(fixturePath('shop'), f);
      await git('add', '.');
      await git('commit', '-q', '-m', 'one');
      await writeFile(f, original.replace('allowFrom: [frontend, search, recommendations]', 'allowFrom: [frontend, search]').replace('replicas: 3', 'replicas: 5'));
      await git('commit', '-q', '-a', '-m', 'two');
      // Run from the repository root with a relative path, as CI does.
      const r = await meshc(['diff', '--against', 'HEAD~1', '-f', 'deploy/mesh.yaml', ...TARGETS], { cwd: repo });
      expect(r.exitCode, r.stderr).toBe(1);
      const lines = r.stdout.split('\n').map((l) => l.trim());
      expect(lines[0]).toContain('HEAD~1');
      expect(lines).toContain('catalog: allowFrom − recommendations');
      expect(lines).toContain('frontend: replicas 3 → 5');
      // No state exists, yet no certificate differs: both sides share one temporary state.
      expect(r.stdout).not.toMatch(/^ *certificate /m);
      expect(r.stdout).not.toMatch(/certs\//);
      const same = await meshc(['diff', '--against', 'HEAD', '-f', 'deploy/mesh.yaml', ...TARGETS, '--format', 'json'], { cwd: repo });
      expect(same.exitCode, same.stderr).toBe(0);
      expect(JSON.parse(same.stdout)).toMatchObject({ changed: false, summary: [], files: [] });
      // A working-copy change counts too.
      await writeFile(f, original.replace('replicas: 3', 'replicas: 6'));
      const wc = await meshc(['diff', '--against', 'HEAD', '-f', f, ...TARGETS, '--stat'], { cwd: repo });
      expect(wc.exitCode).toBe(1);
      expect(wc.stdout).toContain('frontend: replicas 5 → 6');
      // Nothing left behind: no state, no temporary copy of the old mesh.
      expect((await readdir(join(repo, 'deploy'))).sort()).toEqual(['mesh.yaml']);
      const bad = await meshc(['diff', '--against', 'no-such-ref', '-f', f], { cwd: repo });
      expect(bad.exitCode).toBe(2);
      expect(bad.stderr).toContain('unknown git revision "no-such-ref"');
      for (const s of [r.stdout, same.stdout, wc.stdout]) expect(s).not.toContain('PRIVATE KEY');
    } finally {
      await rm(repo, { recursive: true, force: true });
    }
  });
});

describe('the CI examples (examples/ci, .pre-commit-hooks.yaml) use commands and options that exist', () => {
  it('every `meshc …` line in the workflow and the pre-commit files names real options', async () => {
    const { parse } = await import('yaml');
    const texts: string[] = [];
    for (const f of ['examples/ci/meshc.yml', 'examples/ci/meshc-comment.yml', '.pre-commit-hooks.yaml', 'examples/ci/pre-commit-config.yaml']) {
      const text = await readFile(new URL(`../../${f}`, import.meta.url), 'utf8');
      expect(() => parse(text), f).not.toThrow();
      texts.push(text);
    }
    const calls = new Map<string, Set<string>>();
    for (const text of texts)
      for (const line of text.split('\n')) {
        if (/^\s*#/.test(line)) continue;
        for (const m of line.matchAll(/\bmeshc ((?:certs )?[a-z]+)((?: +(?:--?[a-z-]+|"[^"]*"|[^\s|>&;`]+))*)/g)) {
          const flags = calls.get(m[1]) ?? new Set<string>();
          for (const f of m[2].matchAll(/ (--?[a-z][a-z-]*)/g)) flags.add(f[1]);
          calls.set(m[1], flags);
        }
      }
    for (const cmd of ['validate', 'build', 'diff', 'certs status']) expect([...calls.keys()], cmd).toContain(cmd);
    for (const [cmd, flags] of calls) {
      const help = await meshc([...cmd.split(' '), '--help']);
      expect(help.exitCode, `meshc ${cmd} --help`).toBe(0);
      for (const f of flags) expect(help.stdout, `meshc ${cmd} ${f}`).toMatch(new RegExp(`(^|[ ,])${f}\\b`, 'm'));
    }
    expect(calls.get('diff')).toContain('--against');
    expect(calls.get('certs status')).toContain('--warn-days');
  });
});

describe('a build that died between its two renames (out/ moved aside, not yet replaced)', () => {
  it('build --check and diff compare the tree where it was left and move nothing; the next build restores it', async () => {
    const d = await tmp('meshc-cli-swap-');
    try {
      const m = join(d, 'mesh.yaml');
      const o = join(d, 'out');
      const s = join(d, '.meshc');
      await copyFile(fixturePath('shop'), m);
      expect((await meshc(['build', '-f', m, '-o', o, '--state', s, ...TARGETS])).exitCode).toBe(0);
      const before = await readTree(o);
      await rename(o, join(d, '.out.old-1234-abcd'));
      const check = await meshc(['build', '--check', '-f', m, '-o', o, '--state', s, ...TARGETS]);
      expect(check.exitCode, check.stdout + check.stderr).toBe(0);
      const r = await meshc(['diff', '-f', m, '-o', o, '--state', s, ...TARGETS]);
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^no changes/);
      expect((await readdir(d)).sort()).toEqual(['.meshc', '.out.old-1234-abcd', 'mesh.yaml']);
      expect((await meshc(['build', '-f', m, '-o', o, '--state', s, ...TARGETS])).exitCode).toBe(0);
      expect((await readdir(d)).sort()).toEqual(['.meshc', 'mesh.yaml', 'out']);
      expect(await readTree(o)).toEqual(before);
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });
});
