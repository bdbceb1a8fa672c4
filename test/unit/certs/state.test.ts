import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { prepareCerts, type CertStageOptions } from '../../../src/certs/index.js';
import type { CertMaterial } from '../../../src/certs/material.js';
import { UserError } from '../../../src/errors.js';
import { fixedClock, later, meshFixture, tempDir } from './mesh-fixture.js';

let dir: string;
let stateDir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  stateDir = `${dir}/.meshc`;
});
afterEach(async () => cleanup());

const clock = fixedClock();

function options(extra: Partial<CertStageOptions> = {}): CertStageOptions {
  return { stateDir, meshDir: dir, clock, ...extra };
}

async function build(mesh = meshFixture(), extra: Partial<CertStageOptions> = {}) {
  const prepared = await prepareCerts(mesh, options(extra));
  try {
    await prepared.commit();
  } finally {
    await prepared.release();
  }
  return prepared;
}

/** Everything a target would see, as plain data. */
function snapshot(material: CertMaterial) {
  return {
    bundle: material.trustBundlePem,
    workloads: [...material.workloads].map(([name, c]) => [name, c.certPem, c.keyPem, c.serial]),
    ingress: [...material.ingressHosts].map(([host, c]) => [host, c.certPem, c.keyPem]),
  };
}

const stateFile = () => fs.readFile(`${stateDir}/state.json`, 'utf8');

async function rejection(promise: Promise<unknown>): Promise<UserError> {
  const e = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(UserError);
  return e as UserError;
}

describe('reuse', () => {
  test('a second build issues nothing and gives identical material and state bytes', async () => {
    const mesh = meshFixture({ hosts: { 'shop.example.com': { kind: 'generated' } } });
    const first = await build(mesh);
    expect(first.changed).toBe(true);
    expect(first.issued).toEqual(['cart', 'catalog', 'egress-gateway', 'frontend', 'ingress-gateway', 'ingress/shop.example.com']);
    const bytes = await stateFile();
    const second = await build(mesh);
    expect(second.changed).toBe(false);
    expect(second.issued).toEqual([]);
    expect(snapshot(second.material)).toEqual(snapshot(first.material));
    expect(await stateFile()).toBe(bytes);
  });

  test('a build re-issues only expired leaves, never still-valid ones (even inside the renewal window)', async () => {
    const first = await build(meshFixture(), { clock });
    const inWindow = await build(meshFixture(), { clock: later(clock, 80) });
    expect(inWindow.issued).toEqual([]);
    expect(inWindow.changed).toBe(false);
    const expired = await build(meshFixture(), { clock: later(clock, 91) });
    expect(expired.issued).toHaveLength(5);
    expect(expired.material.trustBundlePem).toBe(first.material.trustBundlePem);
    const cart = new X509Certificate(expired.material.workloads.get('cart')!.certPem);
    expect(new Date(cart.validTo).getTime()).toBe(later(clock, 91 + 90)().getTime());
  });

  test('a new service gets a leaf; a removed one is dropped from material and state', async () => {
    const first = await build(meshFixture({ services: ['cart', 'frontend'] }));
    const grown = await build(meshFixture({ services: ['cart', 'frontend', 'payments'] }));
    expect(grown.issued).toEqual(['payments']);
    expect(grown.material.workloads.get('cart')!.certPem).toBe(first.material.workloads.get('cart')!.certPem);
    const shrunk = await build(meshFixture({ services: ['frontend', 'payments'] }));
    expect(shrunk.changed).toBe(true);
    expect(shrunk.issued).toEqual([]);
    expect(shrunk.material.workloads.has('cart')).toBe(false);
    expect(JSON.parse(await stateFile()).workloads.cart).toBeUndefined();
  });

  test('a changed key algorithm re-issues leaves but keeps the CA', async () => {
    const first = await build(meshFixture());
    const rsa = await build(meshFixture({ keyAlgorithm: 'rsa-2048', services: [] }));
    expect(rsa.material.trustBundlePem).toBe(first.material.trustBundlePem);
    expect(rsa.issued).toEqual(['egress-gateway', 'ingress-gateway']);
    expect(rsa.findings.map((f) => [f.code, f.severity, f.pointer])).toEqual([['ca-key-algorithm-changed', 'warning', '/spec/pki/keyAlgorithm']]);
    expect(new X509Certificate(rsa.material.workloads.get('egress-gateway')!.certPem).publicKey.asymmetricKeyType).toBe('rsa');
  });
});

describe('the leaf facts cache', () => {
  const facts = async () => JSON.parse(await fs.readFile(`${stateDir}/leaf-facts.json`, 'utf8')) as { trust: string; leaves: Record<string, { serial: string; notAfter: string; trusted: boolean }> };

  test('a build records what it learnt of each reused leaf, and later builds reuse from it with the same result', async () => {
    const mesh = meshFixture();
    const first = await build(mesh);
    const second = await build(mesh); // parses the leaves, records their facts
    const cached = await facts();
    expect(Object.keys(cached.leaves).length).toBe(first.material.workloads.size);
    for (const c of first.material.workloads.values()) {
      const entry = Object.values(cached.leaves).find((f) => f.serial === c.serial)!;
      expect(entry.notAfter).toBe(c.notAfter.toISOString());
      expect(entry.trusted).toBe(true);
    }
    const third = await build(mesh);
    expect(third.issued).toEqual([]);
    expect(snapshot(third.material)).toEqual(snapshot(second.material));
  });

  test('a cache that says a leaf expired makes the build issue it again; an unreadable cache is ignored', async () => {
    const mesh = meshFixture();
    await build(mesh);
    await build(mesh);
    const cached = await facts();
    for (const f of Object.values(cached.leaves)) f.notAfter = '2000-01-01T00:00:00.000Z';
    await fs.writeFile(`${stateDir}/leaf-facts.json`, JSON.stringify(cached));
    expect((await build(mesh)).issued.length).toBe(Object.keys(cached.leaves).length);
    await fs.writeFile(`${stateDir}/leaf-facts.json`, '{ not json');
    expect((await build(mesh)).issued).toEqual([]);
  });

  test('the caches are git-ignored in the state directory; a .gitignore the user wrote is left alone', async () => {
    const mesh = meshFixture();
    await build(mesh);
    await build(mesh);
    const ignore = await fs.readFile(`${stateDir}/.gitignore`, 'utf8');
    expect(ignore.split('\n')).toEqual(expect.arrayContaining(['/builds.json', '/leaf-facts.json']));
    expect(ignore).not.toContain('state.json');
    await fs.writeFile(`${stateDir}/.gitignore`, 'mine\n');
    await fs.rm(`${stateDir}/leaf-facts.json`);
    await build(mesh);
    expect(await fs.readFile(`${stateDir}/.gitignore`, 'utf8')).toBe('mine\n');
  });

  test('facts made for other CAs are not used after a CA rotation', async () => {
    const mesh = meshFixture();
    await build(mesh);
    await build(mesh);
    const before = (await facts()).trust;
    const { certsRotate } = await import('../../../src/certs/index.js');
    await certsRotate(mesh, { ...options(), ca: true });
    await build(mesh);
    expect((await facts()).trust).not.toBe(before);
  });
});

describe('the CA', () => {
  test('an expired CA is an error finding pointing at spec.pki, with rotation as the hint', async () => {
    const mesh = meshFixture({ pki: { caValidityDays: 30, leafValidityDays: 10 } });
    expect((await build(mesh)).findings).toEqual([]);
    const expired = await build(mesh, { clock: later(clock, 31) });
    expect(expired.findings).toMatchObject([{ code: 'ca-expired', severity: 'error', pointer: '/spec/pki', hint: expect.stringContaining('rotate --ca') }]);
  });
});

describe('failures leave the state usable and unchanged', () => {
  test('an error thrown mid-issue (from progress) writes nothing and releases the lock', async () => {
    await build(meshFixture({ services: ['a', 'b'] }));
    const bytes = await stateFile();
    const calls: number[] = [];
    const failing = prepareCerts(
      meshFixture({ services: ['a', 'b', 'c', 'd', 'e'] }),
      options({
        progress: (done, total) => {
          calls.push(done);
          expect(total).toBe(3);
          if (done === 2) throw new Error('disk on fire');
        },
      }),
    );
    await expect(failing).rejects.toThrow('disk on fire');
    expect(calls).toEqual([1, 2]);
    expect(await stateFile()).toBe(bytes);
    expect((await fs.readdir(stateDir)).sort()).toEqual(['.gitignore', 'private', 'state.json']);
    const retry = await build(meshFixture({ services: ['a', 'b', 'c', 'd', 'e'] }));
    expect(retry.issued).toEqual(['c', 'd', 'e']);
  });

  test('a failure on the very first build leaves no state behind', async () => {
    const failing = prepareCerts(meshFixture(), options({ progress: () => { throw new Error('boom'); } }));
    await expect(failing).rejects.toThrow('boom');
    expect(await fs.readdir(dir)).toEqual([]);
  });

  test('prepare without commit creates and changes nothing', async () => {
    const prepared = await prepareCerts(meshFixture(), options());
    expect(prepared.changed).toBe(true);
    await prepared.release();
    expect(await fs.readdir(dir)).toEqual([]);
  });

  test('an unreadable state is a UserError (exit 2), not a silent new CA', async () => {
    await build(meshFixture());
    await fs.writeFile(`${stateDir}/state.json`, '{"format":"meshc-cert-state","version":1,"phase":"stable","cas":');
    const e = await rejection(prepareCerts(meshFixture(), options()));
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(/certificate state .*state.json is unreadable/);
    // The lock was released even though prepare failed.
    expect((await fs.readdir(stateDir)).sort()).toEqual(['.gitignore', 'private', 'state.json']);
  });
});

describe('lock', () => {
  test('a second prepare while the first holds the lock is refused with exit 2', async () => {
    await build(meshFixture({ services: ['a'] }));
    const first = await prepareCerts(meshFixture(), options());
    const e = await rejection(prepareCerts(meshFixture(), options()));
    expect(e.exitCode).toBe(2);
    // The lock records this process and its start time: a meshc run in progress (here, the library).
    expect(e.message).toMatch(new RegExp(`^state ${stateDir} is locked by pid ${process.pid} \\(.*\\), a meshc run in progress$`));
    expect(e.hint).toBe(`wait for it to finish; remove ${stateDir}/lock only if that process is not meshc`);
    await first.commit();
    await first.release();
    await first.release(); // idempotent
    const second = await build(meshFixture());
    expect(second.changed).toBe(false);
  });

  test('a lock held by another live process refuses; once that process is gone the stale lock is taken over', async () => {
    await fs.mkdir(stateDir, { mode: 0o700 });
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      await fs.writeFile(`${stateDir}/lock`, `${child.pid}\nsomeone-else\n`, { mode: 0o600 });
      const e = await rejection(prepareCerts(meshFixture(), options()));
      expect(e.message).toContain(`locked by pid ${child.pid}`);
      // A lock without a start time (an older meshc) held by a program that is not meshc says so.
      expect(e.message).toContain('which is not meshc: the meshc that took the lock ended without releasing it');
      expect(e.message).not.toContain('another meshc');
      expect(e.hint).toBe(`remove ${stateDir}/lock if no meshc is running`);
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    const prepared = await build(meshFixture());
    expect(prepared.changed).toBe(true);
    expect((await fs.readdir(stateDir)).sort()).toEqual(['.gitignore', 'private', 'state.json']);
  });

  test('two first builds at once: the state is made by the first commit, the second is refused (exit 2)', async () => {
    const first = await prepareCerts(meshFixture(), options());
    const second = await prepareCerts(meshFixture(), options());
    await first.commit();
    await first.release();
    const e = await rejection(second.commit());
    expect(e.message).toBe(`certificate state ${stateDir} was made by another meshc while this one ran`);
    await second.release();
    expect((await fs.readdir(stateDir)).sort()).toEqual(['.gitignore', 'private', 'state.json']);
  });
});

test('a lock whose pid now belongs to a process started at another time (a reused pid) is stale and taken over', async () => {
  await fs.mkdir(stateDir, { mode: 0o700 });
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  try {
    // The lock records a start time other than the live process's: its owner is gone.
    await fs.writeFile(`${stateDir}/lock`, `${child.pid}\nnonce\n1\n`, { mode: 0o600 });
    const prepared = await build(meshFixture());
    expect(prepared.changed).toBe(true);
    expect((await fs.readdir(stateDir)).sort()).toEqual(['.gitignore', 'private', 'state.json']);
  } finally {
    child.kill('SIGKILL');
  }
});

describe('file modes', () => {
  test('state directory 0700, public state.json 0644, keys 0600 in a 0700 directory, lock 0600', async () => {
    await build(meshFixture({ services: ['a'] }));
    const prepared = await prepareCerts(meshFixture(), options());
    const mode = async (p: string) => (await fs.stat(p)).mode & 0o777;
    expect(await mode(stateDir)).toBe(0o700);
    expect(await mode(`${stateDir}/lock`)).toBe(0o600);
    await prepared.commit();
    await prepared.release();
    expect(await mode(`${stateDir}/state.json`)).toBe(0o644);
    expect(await mode(`${stateDir}/private`)).toBe(0o700);
    expect(await mode(`${stateDir}/private/keys.json`)).toBe(0o600);
    expect(await stateFile()).not.toContain('PRIVATE KEY');
  });

  test('an existing state directory with loose permissions is tightened', async () => {
    await fs.mkdir(stateDir, { mode: 0o755 });
    await fs.chmod(stateDir, 0o755);
    await build(meshFixture());
    expect((await fs.stat(stateDir)).mode & 0o777).toBe(0o700);
  });
});

describe('MESHC_STATE_PASSPHRASE', () => {
  test('keys are stored as encrypted PKCS#8; material keys are plain; the same passphrase reuses everything', async () => {
    const first = await build(meshFixture(), { passphrase: 'correct horse' });
    expect(await stateFile()).not.toContain('PRIVATE KEY');
    const text = await fs.readFile(`${stateDir}/keys.encrypted.json`, 'utf8');
    expect(text).toContain('-----BEGIN ENCRYPTED PRIVATE KEY-----');
    expect(text).not.toContain('-----BEGIN PRIVATE KEY-----');
    expect(JSON.parse(text).encrypted).toBe(true);
    await expect(fs.access(`${stateDir}/private/keys.json`)).rejects.toThrow();
    for (const c of first.material.workloads.values()) expect(c.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const second = await build(meshFixture(), { passphrase: 'correct horse' });
    expect(second.changed).toBe(false);
    expect(snapshot(second.material)).toEqual(snapshot(first.material));
  });

  test('a wrong or missing passphrase is a UserError (exit 2) and never a silent re-issue', async () => {
    await build(meshFixture(), { passphrase: 'correct horse' });
    const bytes = await stateFile();
    const wrong = await rejection(prepareCerts(meshFixture(), options({ passphrase: 'battery staple' })));
    expect(wrong.exitCode).toBe(2);
    expect(wrong.message).toBe(`wrong MESHC_STATE_PASSPHRASE for certificate state ${stateDir}`);
    const missing = await rejection(prepareCerts(meshFixture(), options()));
    expect(missing.exitCode).toBe(2);
    expect(missing.message).toBe(`certificate state ${stateDir} keeps its private keys encrypted (keys.encrypted.json); set MESHC_STATE_PASSPHRASE to its passphrase`);
    const empty = await rejection(prepareCerts(meshFixture(), options({ passphrase: '' })));
    expect(empty.message).toBe(missing.message);
    expect(await stateFile()).toBe(bytes);
    expect((await fs.readdir(stateDir)).sort()).toEqual(['.gitignore', 'keys.encrypted.json', 'state.json']); // locks released
  });

  test('setting a passphrase on a plain state encrypts its keys and keeps every certificate', async () => {
    const first = await build(meshFixture());
    const encrypted = await build(meshFixture(), { passphrase: 'pw' });
    expect(encrypted.changed).toBe(true);
    expect(encrypted.issued).toEqual([]);
    expect(snapshot(encrypted.material)).toEqual(snapshot(first.material));
    expect(await stateFile()).not.toContain('PRIVATE KEY');
    // The plain keys are gone once they are encrypted.
    expect(await fs.readdir(`${stateDir}/private`)).toEqual(['.gitignore']);
  });
});
