import fs from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { certOutputFiles, certsRotate, certsStatus, prepareCerts, type RotateOptions } from '../../../src/certs/index.js';
import { UserError } from '../../../src/errors.js';
import { fixedClock, later, meshFixture, tempDir } from './mesh-fixture.js';
import { verifyChain } from './openssl.js';

let dir: string;
let stateDir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
  stateDir = `${dir}/.meshc`;
});
afterEach(async () => cleanup());

const clock = fixedClock();
const mesh = meshFixture({ hosts: { 'shop.example.com': { kind: 'generated' } } });

async function build(at = clock) {
  const prepared = await prepareCerts(mesh, { stateDir, meshDir: dir, clock: at });
  await prepared.commit();
  await prepared.release();
  return prepared;
}

const rotate = (extra: Partial<RotateOptions> = {}) => certsRotate(mesh, { stateDir, meshDir: dir, clock, ...extra });

async function userError(promise: Promise<unknown>): Promise<UserError> {
  const e = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(UserError);
  expect((e as UserError).exitCode).toBe(2);
  return e as UserError;
}

const ALL = ['cart', 'catalog', 'egress-gateway', 'frontend', 'ingress-gateway', 'ingress/shop.example.com'];

describe('certs rotate', () => {
  test('without arguments re-issues only leaves due within renewBeforeDays', async () => {
    const first = await build();
    const early = await rotate();
    expect(early).toMatchObject({ reissued: [], changed: false, phase: 'stable' });
    const due = await rotate({ clock: later(clock, 61) }); // 90-day leaves, renew 30 days before
    expect(due.reissued).toEqual(ALL);
    expect(due.material.trustBundlePem).toBe(first.material.trustBundlePem);
    const again = await rotate({ clock: later(clock, 61) });
    expect(again.reissued).toEqual([]);
  });

  test('named services, or all, are forced', async () => {
    const first = await build();
    const named = await rotate({ services: ['cart', 'ingress-gateway'] });
    expect(named.reissued).toEqual(['cart', 'ingress-gateway']);
    expect(named.material.workloads.get('catalog')!.certPem).toBe(first.material.workloads.get('catalog')!.certPem);
    expect(named.material.workloads.get('cart')!.certPem).not.toBe(first.material.workloads.get('cart')!.certPem);
    const host = await rotate({ services: ['ingress/shop.example.com'] });
    expect(host.reissued).toEqual(['ingress/shop.example.com']);
    expect((await rotate({ services: ['shop.example.com'] })).reissued).toEqual(['ingress/shop.example.com']);
    const all = await rotate({ all: true });
    expect(all.reissued).toEqual(ALL);
    // A build afterwards reuses what rotate issued.
    expect((await build()).issued).toEqual([]);
  });

  test('an unknown name is a UserError', async () => {
    await build();
    const e = await userError(rotate({ services: ['carts'] }));
    expect(e.message).toContain('unknown certificate "carts"');
    expect(e.hint).toMatch(/^did you mean "cart"\? known: /);
  });

  test('progress is reported while issuing', async () => {
    await build();
    const seen: [number, number][] = [];
    await rotate({ all: true, progress: (done, total) => seen.push([done, total]) });
    expect(seen).toEqual(ALL.map((_, i) => [i + 1, ALL.length]));
  });

  test('CA rotation in three steps: trust both CAs, re-issue every leaf from the new CA, drop the old CA', async () => {
    const first = await build();
    const oldCa = new X509Certificate(first.material.trustBundlePem);
    // Step 1: only the bundle changes, so a workload not yet redeployed still verifies every peer.
    const started = await rotate({ ca: true });
    expect(started).toMatchObject({ phase: 'ca-rotation', caAction: 'started', reissued: [], changed: true });
    const bundle = started.material.trustBundlePem;
    const [first_, second] = bundle.split(/(?<=-----END CERTIFICATE-----\n)/);
    expect(first_).toBe(first.material.trustBundlePem);
    const newCa = new X509Certificate(second!);
    expect(newCa.fingerprint256).not.toBe(oldCa.fingerprint256);
    for (const [name, issued] of started.material.workloads) expect(issued.certPem).toBe(first.material.workloads.get(name)!.certPem);

    // --ca twice is refused; finishing before the leaves moved is refused; a build keeps both CAs and issues nothing.
    expect((await userError(rotate({ ca: true }))).message).toMatch(/a CA rotation is already in progress/);
    expect((await userError(rotate({ finish: true }))).message).toMatch(/still issued by the old CA/);
    const during = await build();
    expect(during.issued).toEqual([]);
    expect(during.material.trustBundlePem).toBe(bundle);
    expect((await certsStatus(stateDir, { clock, warnDays: 14 })).phase).toBe('ca-rotation');

    // Step 2: every leaf re-issued by the new CA; old and new leaves both verify against the bundle.
    const moved = await rotate({ all: true });
    expect(moved).toMatchObject({ phase: 'ca-rotation', reissued: ALL });
    for (const issued of [...moved.material.workloads.values(), ...moved.material.ingressHosts.values()]) {
      const cert = new X509Certificate(issued.certPem);
      expect(cert.verify(newCa.publicKey)).toBe(true);
      expect((await verifyChain(dir, bundle, issued.certPem)).ok).toBe(true);
    }
    for (const issued of first.material.workloads.values()) expect((await verifyChain(dir, bundle, issued.certPem)).ok).toBe(true);

    // Step 3: the old CA leaves the bundle; old leaves are refused from then on.
    const finished = await rotate({ finish: true });
    expect(finished).toMatchObject({ phase: 'stable', caAction: 'finished', reissued: [] });
    expect(finished.material.trustBundlePem).toBe(second);
    for (const issued of first.material.workloads.values()) expect((await verifyChain(dir, finished.material.trustBundlePem, issued.certPem)).ok).toBe(false);
    const finishTwice = await userError(rotate({ finish: true }));
    expect(finishTwice.message).toMatch(/no CA rotation is in progress/);
  });

  test('--finish or --ca before any state, and --ca with --finish, are UserErrors', async () => {
    expect((await userError(rotate({ finish: true }))).message).toMatch(/no CA rotation is in progress/);
    expect((await userError(rotate({ ca: true }))).message).toMatch(/there is no CA/);
    expect((await userError(rotate({ ca: true, finish: true }))).message).toMatch(/either --ca .* or --finish/);
    // None of them left anything behind, not even the state directory.
    await expect(fs.readdir(stateDir)).rejects.toThrow(/ENOENT/);
  });
});

describe('certs status', () => {
  test('every certificate with expiry, sorted by expiry, statuses by the warn window', async () => {
    await build();
    const ok = await certsStatus(stateDir, { clock, warnDays: 14 });
    expect(ok.phase).toBe('stable');
    expect(ok.rows.map((r) => [r.kind, r.name])).toEqual([
      ['workload', 'cart'],
      ['workload', 'catalog'],
      ['workload', 'egress-gateway'],
      ['workload', 'frontend'],
      ['workload', 'ingress-gateway'],
      ['ingress', 'shop.example.com'],
      ['ca', 'ca'],
    ]);
    expect(ok.rows.every((r) => r.status === 'ok')).toBe(true);
    expect(ok).toMatchObject({ expired: 0, expiring: 0, warnDays: 14 });
    const cart = ok.rows[0]!;
    expect(cart).toMatchObject({ subject: 'O=shop.example, OU=shop, CN=cart', daysLeft: 90 });
    expect(cart.sans).toContain('URI:spiffe://shop.example/ns/shop/sa/cart');
    expect(cart.notAfter).toBe(later(clock, 90)().toISOString());
    expect(cart.serial).toMatch(/^[0-9a-f]+$/);
    expect(ok.rows.find((r) => r.kind === 'ca')).toMatchObject({ subject: 'O=shop.example, CN=shop mesh CA', sans: [] });

    const expiring = await certsStatus(stateDir, { clock: later(clock, 80), warnDays: 14 });
    expect(expiring.expiring).toBe(6);
    expect(expiring.rows[0]).toMatchObject({ status: 'expiring', daysLeft: 10 });
    const expired = await certsStatus(stateDir, { clock: later(clock, 100), warnDays: 14 });
    expect(expired.expired).toBe(6);
    expect(expired.rows[0]).toMatchObject({ status: 'expired', daysLeft: -10 });
  });

  test('during a CA rotation both CAs are listed; rows stay sorted by expiry', async () => {
    await build();
    await rotate({ clock: later(clock, 10), ca: true });
    const report = await certsStatus(stateDir, { clock: later(clock, 10), warnDays: 14 });
    expect(report.phase).toBe('ca-rotation');
    expect(report.rows.filter((r) => r.kind === 'ca').map((r) => r.name)).toEqual(['ca-previous', 'ca']);
    const times = report.rows.map((r) => r.notAfter);
    expect([...times].sort()).toEqual(times);
  });

  test('a missing state is a UserError', async () => {
    expect((await userError(certsStatus(stateDir, { clock, warnDays: 14 }))).message).toMatch(/no certificate state/);
  });
});

describe('certOutputFiles', () => {
  test('public material under certs/, keys under secrets/ with 0600, and a .gitignore for secrets/', async () => {
    const { material } = await build();
    const files = certOutputFiles(material);
    expect(files.map((f) => [f.path, (f.mode ?? 0o644).toString(8)])).toEqual([
      ['.gitignore', '644'],
      ['certs/ca-bundle.pem', '644'],
      ['certs/cart.pem', '644'],
      ['certs/catalog.pem', '644'],
      ['certs/egress-gateway.pem', '644'],
      ['certs/frontend.pem', '644'],
      ['certs/ingress-gateway.pem', '644'],
      ['certs/ingress/shop.example.com.pem', '644'],
      ['secrets/cart.key', '600'],
      ['secrets/catalog.key', '600'],
      ['secrets/egress-gateway.key', '600'],
      ['secrets/frontend.key', '600'],
      ['secrets/ingress-gateway.key', '600'],
      ['secrets/ingress/shop.example.com.key', '600'],
    ]);
    expect(files[0]!.content).toMatch(/^# generated by meshc from mesh.yaml; do not edit\n\/secrets\/\n$/);
    for (const f of files) {
      if (f.path.startsWith('secrets/')) expect(f.content).toMatch(/^-----BEGIN PRIVATE KEY-----\n[\s\S]*-----END PRIVATE KEY-----\n$/);
      else expect(f.content).not.toContain('PRIVATE KEY');
    }
    // Two builds: byte-identical output.
    const again = certOutputFiles((await build()).material);
    expect(again).toEqual(files);
  });
});
