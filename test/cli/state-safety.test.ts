/**
 * The certificate state as a platform team keeps it in git and CI: one CA per mesh, public and
 * secret parts apart, comparisons without keys, nothing left behind that holds a key. These run
 * the built binary (npm test builds first), as a user would.
 */
import { X509Certificate } from 'node:crypto';
import { copyFile, lstat, mkdir, readdir, readFile, rename, rm, stat, symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';

// Each test runs several meshc processes (and git): minutes on a loaded machine, not seconds.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 180_000 });
import { fixturePath, readTree, tmp } from '../support/build.js';
import { git, meshc, stageable } from '../support/meshc-cli.js';

const dirs: string[] = [];
async function scratch(): Promise<string> {
  const d = await tmp('meshc-state-safety-');
  dirs.push(d);
  return d;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

const subjectOf = async (pem: string) => new X509Certificate(await readFile(pem)).subject.split('\n').join(', ');
const certsOf = async (out: string) => [...(await readTree(out))].filter(([p]) => p.startsWith('certs/'));

/** A new service `extra` that `web` calls (minimal fixture). */
const addService = (text: string) =>
  text.replace('      upstreams: [api]\n', '      upstreams: [api, extra]\n').replace('  services:\n', '  services:\n    extra:\n      port: 8080\n      image: ghcr.io/acme/extra:1.0.0\n      allowFrom: [web]\n');

describe('one mesh, one CA', () => {
  it('two meshes in one directory get two state directories and two CAs; alternating builds re-issue nothing', async () => {
    const d = await scratch();
    await copyFile(fixturePath('shop'), join(d, 'shop.yaml'));
    await copyFile(fixturePath('minimal'), join(d, 'bank.yaml'));
    const build = async (mesh: string) => {
      const r = await meshc(['build', '-f', `${mesh}.yaml`, '-o', `out-${mesh}`, '--targets', 'summary'], { cwd: d });
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);
      return r;
    };
    await build('shop');
    await build('bank');
    const shopCerts = await certsOf(join(d, 'out-shop'));
    const bankCerts = await certsOf(join(d, 'out-bank'));
    const shopState = await readFile(join(d, '.meshc/shop/state.json'), 'utf8');
    const bankState = await readFile(join(d, '.meshc/bank/state.json'), 'utf8');
    expect(await subjectOf(join(d, 'out-shop/certs/ca-bundle.pem'))).toBe('O=shop.example, CN=shop mesh CA');
    expect(await subjectOf(join(d, 'out-bank/certs/ca-bundle.pem'))).toBe('O=minimal.example, CN=minimal mesh CA');
    // Each mesh's leaves are issued by its own CA.
    const bankCa = new X509Certificate(await readFile(join(d, 'out-bank/certs/ca-bundle.pem')));
    expect(new X509Certificate(await readFile(join(d, 'out-bank/certs/api.pem'))).checkIssued(bankCa)).toBe(true);
    expect(JSON.parse(shopState).mesh).toEqual({ name: 'shop', trustDomain: 'shop.example' });
    for (let round = 0; round < 2; round++) {
      expect((await build('shop')).stdout).toContain('is up to date');
      expect((await build('bank')).stdout).toContain('is up to date');
    }
    expect(await certsOf(join(d, 'out-shop'))).toEqual(shopCerts);
    expect(await certsOf(join(d, 'out-bank'))).toEqual(bankCerts);
    expect(await readFile(join(d, '.meshc/shop/state.json'), 'utf8')).toBe(shopState);
    expect(await readFile(join(d, '.meshc/bank/state.json'), 'utf8')).toBe(bankState);
  });

  it('a state made for another mesh is an error (exit 2) naming both and what to do, for build, check and diff alike', async () => {
    const d = await scratch();
    await copyFile(fixturePath('shop'), join(d, 'shop.yaml'));
    await copyFile(fixturePath('minimal'), join(d, 'bank.yaml'));
    expect((await meshc(['build', '-f', 'shop.yaml', '-o', 'out-shop', '--targets', 'summary'], { cwd: d })).exitCode).toBe(0);
    const before = await readFile(join(d, '.meshc/shop/state.json'), 'utf8');
    for (const args of [['build'], ['build', '--check'], ['diff']]) {
      const r = await meshc([...args, '-f', 'bank.yaml', '-o', 'out-bank', '--state', '.meshc/shop', '--targets', 'summary'], { cwd: d });
      expect(r.exitCode, args.join(' ')).toBe(2);
      expect(r.stderr).toContain(`certificate state ${join(d, '.meshc/shop')} belongs to mesh "shop" (trust domain shop.example), not to mesh "minimal" (trust domain minimal.example) of bank.yaml`);
      expect(r.stderr).toContain('hint: give each mesh its own state');
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(await readFile(join(d, '.meshc/shop/state.json'), 'utf8')).toBe(before);
    await expect(stat(join(d, 'out-bank'))).rejects.toThrow();
  });

  it('a renamed mesh file does not get a second CA without a word: the build names the state to move (exit 2)', async () => {
    const d = await scratch();
    await copyFile(fixturePath('minimal'), join(d, 'mesh.yaml'));
    expect((await meshc(['build'], { cwd: d })).exitCode).toBe(0);
    await rename(join(d, 'mesh.yaml'), join(d, 'minimal.yaml'));
    const r = await meshc(['build', '-f', 'minimal.yaml'], { cwd: d });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`${join(d, '.meshc/mesh')} already holds the certificate state of mesh "minimal" (trust domain minimal.example), made for another mesh file`);
    expect(r.stderr).toContain(`hint: if the mesh file was renamed, move ${join(d, '.meshc/mesh')} to ${join(d, '.meshc/minimal')}`);
    expect(await readdir(join(d, '.meshc'))).toEqual(['mesh']);
    await rename(join(d, '.meshc/mesh'), join(d, '.meshc/minimal'));
    const moved = await meshc(['build', '-f', 'minimal.yaml'], { cwd: d });
    expect(moved.exitCode, moved.stderr).toBe(0);
    expect(moved.stdout).toContain('out is up to date');
  });

  it("an older meshc's shared .meshc/ keeps working: the mesh it was made for takes it over without a re-issue, another mesh gets its own CA", async () => {
    const d = await scratch();
    await copyFile(fixturePath('shop'), join(d, 'shop.yaml'));
    await copyFile(fixturePath('minimal'), join(d, 'bank.yaml'));
    expect((await meshc(['build', '-f', 'shop.yaml', '-o', 'out-shop', '--targets', 'summary'], { cwd: d })).exitCode).toBe(0);
    const shopCerts = await certsOf(join(d, 'out-shop'));
    // The state as an older meshc kept it: one file in .meshc/ itself, keys inside, no mesh named.
    const state = JSON.parse(await readFile(join(d, '.meshc/shop/state.json'), 'utf8'));
    const keys = JSON.parse(await readFile(join(d, '.meshc/shop/private/keys.json'), 'utf8')).keys as Record<string, string>;
    const { createHash } = await import('node:crypto');
    const withKey = (c: { certPem: string }) => ({ certPem: c.certPem, keyPem: keys[createHash('sha256').update(c.certPem).digest('hex')] });
    const mapKeys = (r: Record<string, { certPem: string }>) => Object.fromEntries(Object.entries(r).map(([k, c]) => [k, withKey(c)]));
    const v1 = { format: 'meshc-cert-state', version: 1, phase: state.phase, keysEncrypted: false, cas: state.cas.map(withKey), workloads: mapKeys(state.workloads), ingress: mapKeys(state.ingress), suppliedIngress: {} };
    await rm(join(d, '.meshc'), { recursive: true });
    await mkdir(join(d, '.meshc'), { mode: 0o700 });
    await writeFile(join(d, '.meshc/state.json'), JSON.stringify(v1, null, 2) + '\n', { mode: 0o600 });

    // Status of either mesh file reads it before any build moved it.
    expect((await meshc(['certs', 'status', '-f', 'shop.yaml'], { cwd: d })).exitCode).toBe(0);
    // Another mesh beside it does not use shop's CA: it starts its own, and leaves the old state alone.
    const bank = await meshc(['build', '-f', 'bank.yaml', '-o', 'out-bank', '--targets', 'summary'], { cwd: d });
    expect(bank.exitCode, bank.stderr).toBe(0);
    expect(await subjectOf(join(d, 'out-bank/certs/ca-bundle.pem'))).toBe('O=minimal.example, CN=minimal mesh CA');
    expect((await readdir(join(d, '.meshc'))).sort()).toEqual(['bank', 'state.json']);
    // The mesh it was made for takes it over: same certificates, state moved, keys out of state.json.
    const shop = await meshc(['build', '-f', 'shop.yaml', '-o', 'out-shop', '--targets', 'summary'], { cwd: d });
    expect(shop.exitCode, shop.stderr).toBe(0);
    expect(await certsOf(join(d, 'out-shop'))).toEqual(shopCerts);
    expect((await readdir(join(d, '.meshc'))).sort()).toEqual(['bank', 'shop']);
    const moved = await readFile(join(d, '.meshc/shop/state.json'), 'utf8');
    expect(JSON.parse(moved).mesh).toEqual({ name: 'shop', trustDomain: 'shop.example' });
    expect(moved).not.toContain('PRIVATE KEY');
  });
});

describe('keys that cannot be committed by accident', () => {
  it.each(['plain', 'encrypted'] as const)('with only the public state and no passphrase (%s keys): build --check, diff, diff --against and certs status work; a real build asks for the keys', async (kind) => {
    const origin = await scratch();
    await git(origin, 'init', '-q', '-b', 'main');
    await copyFile(fixturePath('minimal'), join(origin, 'mesh.yaml'));
    const passphrase = kind === 'encrypted' ? 'correct horse' : undefined;
    const b = await meshc(['build', '-o', 'out'], { cwd: origin, ...(passphrase ? { passphrase } : {}) });
    expect(b.exitCode, b.stderr).toBe(0);
    await git(origin, 'add', '-A');
    await git(origin, 'commit', '-qm', 'mesh');
    const tracked = (await git(origin, 'ls-files')).split('\n');
    expect(tracked).toContain('.meshc/mesh/state.json');
    expect(tracked.filter((p) => p.includes('private/') || p.includes('secrets/'))).toEqual([]);
    expect(tracked.includes('.meshc/mesh/keys.encrypted.json')).toBe(kind === 'encrypted');
    for (const p of tracked) expect(await readFile(join(origin, p), 'utf8'), p).not.toContain('BEGIN PRIVATE KEY');

    // A fresh clone: what CI sees.
    const clone = join(await scratch(), 'c');
    await git(origin, 'clone', '-q', origin, clone);
    const check = await meshc(['build', '--check', '-o', 'out'], { cwd: clone });
    expect(check.exitCode, check.stdout + check.stderr).toBe(0);
    const diff = await meshc(['diff', '-o', 'out'], { cwd: clone });
    expect(diff.exitCode, diff.stdout + diff.stderr).toBe(0);
    expect((await meshc(['certs', 'status'], { cwd: clone })).exitCode).toBe(0);
    await writeFile(join(clone, 'mesh.yaml'), addService(await readFile(join(clone, 'mesh.yaml'), 'utf8')));
    const against = await meshc(['diff', '--against', 'origin/main'], { cwd: clone });
    expect(against.exitCode, against.stderr).toBe(1);
    expect(against.stdout).toContain('service added: extra');
    expect(against.stdout).toMatch(/certificate extra: issued/);
    const stale = await meshc(['build', '--check', '-o', 'out'], { cwd: clone });
    expect(stale.exitCode, stale.stderr).toBe(1);
    expect(stale.stdout).toContain('missing  envoy/extra.yaml');
    for (const r of [check, diff, against, stale]) expect(r.stdout + r.stderr).not.toMatch(/PRIVATE KEY|MESHC_STATE_PASSPHRASE|meshc-diff-state/);
    // Nothing of that wrote a thing.
    expect(await git(clone, 'status', '--porcelain')).toBe(' M mesh.yaml');

    // A real build needs the keys, and says which and where.
    const real = await meshc(['build', '-o', 'out'], { cwd: clone });
    expect(real.exitCode).toBe(2);
    if (kind === 'plain') expect(real.stderr).toContain(`certificate state ${join(clone, '.meshc/mesh')} has no private key for the CA: only its public part is here`);
    else expect(real.stderr).toContain('keeps its private keys encrypted (keys.encrypted.json); set MESHC_STATE_PASSPHRASE');
    expect(await git(clone, 'status', '--porcelain')).toBe(' M mesh.yaml');
    if (kind === 'encrypted') {
      const withKeys = await meshc(['build', '-o', 'out'], { cwd: clone, passphrase: 'correct horse' });
      expect(withKeys.exitCode, withKeys.stderr).toBe(0);
    }
  });

  it('a plain build with a wrong, missing or empty passphrase for encrypted keys exits 2, even when nothing changed', async () => {
    const d = await scratch();
    await copyFile(fixturePath('minimal'), join(d, 'mesh.yaml'));
    expect((await meshc(['build'], { cwd: d, passphrase: 'pw' })).exitCode).toBe(0);
    const same = await meshc(['build'], { cwd: d, passphrase: 'pw' });
    expect(same.stdout).toContain('out is up to date (mesh.yaml, certificates and meshc unchanged since the last build)');
    for (const passphrase of ['wrong', '', undefined]) {
      const r = await meshc(['build'], { cwd: d, ...(passphrase !== undefined ? { passphrase } : {}) });
      expect(r.exitCode, `passphrase ${JSON.stringify(passphrase)}: ${r.stdout}`).toBe(2);
      expect(r.stderr).toMatch(passphrase === 'wrong' ? /wrong MESHC_STATE_PASSPHRASE for certificate state/ : /set MESHC_STATE_PASSPHRASE to its passphrase/);
    }
  });

  it('meshc init and a build leave a git repository safe: git add -A stages no unencrypted key, and the build says the keys are unencrypted', async () => {
    const d = await scratch();
    await git(d, 'init', '-q');
    expect((await meshc(['init'], { cwd: d })).exitCode).toBe(0);
    const b = await meshc(['build'], { cwd: d });
    expect(b.exitCode, b.stderr).toBe(0);
    expect(b.stderr).toContain(`warning: the private keys of ${join(d, '.meshc/mesh')} are stored unencrypted`);
    const { paths, plainKeys } = await stageable(d);
    expect(plainKeys).toEqual([]);
    expect(paths).toEqual(expect.arrayContaining(['mesh.yaml', '.meshc/mesh/state.json', 'out/certs/ca-bundle.pem', 'out/.gitignore']));
    expect(paths.filter((p) => /private|secrets\/|\.key$/.test(p))).toEqual([]);
    // The keys are there all the same, 0600, for the next build.
    expect((await stat(join(d, '.meshc/mesh/private/keys.json'))).mode & 0o777).toBe(0o600);
    // Encrypted, they are committable, and nothing is said.
    const enc = await meshc(['build'], { cwd: d, passphrase: 'pw' });
    expect(enc.exitCode, enc.stderr).toBe(0);
    expect(enc.stderr).not.toContain('unencrypted');
    const after = await stageable(d);
    expect(after.plainKeys).toEqual([]);
    expect(after.paths).toContain('.meshc/mesh/keys.encrypted.json');
    expect(await readdir(join(d, '.meshc/mesh/private'))).toEqual(['.gitignore']);
  });
});

describe('nothing left behind', () => {
  it('a failed build creates no state directory: invalid TLS files, an output that is not a directory', async () => {
    const d = await scratch();
    const text = (await readFile(fixturePath('minimal'), 'utf8')) + '  ingress:\n    hosts:\n      web.example.com:\n        tls: { certFile: missing.pem, keyFile: missing.key }\n        routes:\n          - { pathPrefix: /, service: web }\n';
    await writeFile(join(d, 'mesh.yaml'), text);
    const tls = await meshc(['build'], { cwd: d });
    expect(tls.exitCode, tls.stdout).toBe(1);
    expect(tls.stderr).toContain('ingress-tls-unreadable'); // build: diagnostics on stderr
    await copyFile(fixturePath('minimal'), join(d, 'mesh.yaml'));
    await writeFile(join(d, 'out'), 'a file, not a directory');
    const notDir = await meshc(['build'], { cwd: d });
    expect(notDir.exitCode).toBe(2);
    expect(notDir.stderr).toContain('exists and is not a directory');
    expect((await readdir(d)).sort()).toEqual(['mesh.yaml', 'out']);
  });

  it('a dangling symlink at an output key path is replaced, never followed: check reports it, build mends it', async () => {
    const d = await scratch();
    await copyFile(fixturePath('minimal'), join(d, 'mesh.yaml'));
    expect((await meshc(['build'], { cwd: d })).exitCode).toBe(0);
    const key = join(d, 'out/secrets/api.key');
    const original = await readFile(key, 'utf8');
    await unlink(key);
    await symlink(join(d, 'nowhere.key'), key);
    const check = await meshc(['build', '--check'], { cwd: d });
    expect(check.exitCode, check.stderr).toBe(1);
    expect(check.stdout).toContain('changed  secrets/api.key');
    const b = await meshc(['build'], { cwd: d });
    expect(b.exitCode, b.stderr).toBe(0);
    const st = await lstat(key);
    expect(st.isFile()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect(await readFile(key, 'utf8')).toBe(original);
    await expect(stat(join(d, 'nowhere.key'))).rejects.toThrow();
    expect((await meshc(['build', '--check'], { cwd: d })).exitCode).toBe(0);
    // A link pointing at a file elsewhere is not written through either.
    await writeFile(join(d, 'elsewhere'), 'untouched');
    await unlink(key);
    await symlink(join(d, 'elsewhere'), key);
    expect((await meshc(['build'], { cwd: d })).exitCode).toBe(0);
    expect(await readFile(join(d, 'elsewhere'), 'utf8')).toBe('untouched');
    expect((await lstat(key)).isFile()).toBe(true);
  });

  it("a killed build's leftovers (an older meshc's .out.old-*, a work directory) are never stageable by git with a plain key, check moves nothing, and the next build removes them even when nothing changed", async () => {
    const d = await scratch();
    await git(d, 'init', '-q');
    await copyFile(fixturePath('minimal'), join(d, 'mesh.yaml'));
    expect((await meshc(['build'], { cwd: d })).exitCode).toBe(0);
    const key = await readFile(join(d, 'out/secrets/api.key'), 'utf8');
    // A pid above the kernel's maximum: never a live process.
    const dead = 4194305;
    const work = join(d, `.out.meshc-${dead}-abcd`);
    await mkdir(join(work, 'old/secrets'), { recursive: true });
    await writeFile(join(work, '.gitignore'), '*\n');
    await writeFile(join(work, 'old/secrets/api.key'), key, { mode: 0o600 });
    expect((await stageable(d)).plainKeys).toEqual([]);
    expect((await meshc(['build', '--check'], { cwd: d })).exitCode).toBe(0);
    expect(await readdir(work)).toContain('old');
    // The shape the issue found: an older meshc's tree, its .gitignore already deleted.
    const legacy = join(d, `.out.old-${dead}-abcd`);
    await mkdir(join(legacy, 'secrets'), { recursive: true });
    await writeFile(join(legacy, 'secrets/api.key'), key, { mode: 0o600 });
    const b = await meshc(['build'], { cwd: d });
    expect(b.exitCode, b.stderr).toBe(0);
    expect(b.stdout).toContain('unchanged since the last build');
    expect((await readdir(d)).sort()).toEqual(['.git', '.meshc', 'mesh.yaml', 'out']);
    expect((await stageable(d)).plainKeys).toEqual([]);
  });
});
