import fs from 'node:fs/promises';
import path from 'node:path';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { certsStatus, prepareCerts } from '../../../src/certs/index.js';
import { nameCoversHost } from '../../../src/certs/ingress-files.js';
import { generateKey, issueCertificate, privateKeyPem, randomSerial } from '../../../src/certs/x509.js';
import type { IngressTls } from '../../../src/model/mesh.js';
import { DAY, fixedClock, later, meshFixture, tempDir } from './mesh-fixture.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

const clock = fixedClock();

/** A "public" CA and a server certificate from it, like one bought or from ACME. */
async function suppliedPair(dnsNames: string[], opts: { validDays?: number; startDaysAgo?: number } = {}) {
  const caGenerated = await generateKey('ecdsa-p256');
  const caKey = createPrivateKey(caGenerated.pkcs8Pem);
  const caPem = issueCertificate({
    profile: { kind: 'ca' },
    subject: { organization: 'Public Test CA', commonName: 'Public Test CA' },
    publicKey: caGenerated,
    signer: { key: caKey },
    notBefore: new Date(clock().getTime() - 400 * DAY),
    notAfter: new Date(clock().getTime() + 400 * DAY),
    serial: randomSerial(),
  });
  const generated = await generateKey('ecdsa-p256');
  const key = createPrivateKey(generated.pkcs8Pem);
  const start = clock().getTime() - (opts.startDaysAgo ?? 1) * DAY;
  const certPem = issueCertificate({
    profile: { kind: 'server', dnsNames },
    subject: { commonName: dnsNames[0]! },
    publicKey: generated,
    signer: { certificate: new X509Certificate(caPem), key: caKey },
    notBefore: new Date(start),
    notAfter: new Date(start + (opts.validDays ?? 90) * DAY),
    serial: randomSerial(),
  });
  return { chainPem: certPem + caPem, certPem, key };
}

async function write(name: string, content: string): Promise<string> {
  await fs.mkdir(path.join(dir, 'tls'), { recursive: true });
  await fs.writeFile(path.join(dir, 'tls', name), content);
  return `tls/${name}`; // relative to mesh.yaml's directory
}

async function check(host: string, tls: IngressTls, at = clock) {
  const prepared = await prepareCerts(meshFixture({ hosts: { [host]: tls } }), { stateDir: `${dir}/.meshc`, meshDir: dir, clock: at });
  await prepared.commit();
  await prepared.release();
  return prepared;
}

const at = (host: string, field: 'certFile' | 'keyFile') => `/spec/ingress/hosts/${host}/tls/${field}`;

describe('supplied ingress files', () => {
  test('a good pair is shipped as the chain and a PKCS#8 key, with no findings, and watched by certs status', async () => {
    const pair = await suppliedPair(['shop.example.com', 'www.shop.example.com']);
    const certFile = await write('shop.pem', pair.chainPem);
    const keyFile = await write('shop.key', pair.key.export({ type: 'sec1', format: 'pem' }) as string);
    const { findings, material } = await check('shop.example.com', { kind: 'files', certFile, keyFile });
    expect(findings).toEqual([]);
    const issued = material.ingressHosts.get('shop.example.com')!;
    expect(issued.certPem).toBe(pair.chainPem);
    expect(issued.keyPem).toBe(privateKeyPem(pair.key));
    expect(issued.certPath).toBe('certs/ingress/shop.example.com.pem');
    expect(issued.keyPath).toBe('secrets/ingress/shop.example.com.key');
    const status = await certsStatus(`${dir}/.meshc`, { clock, warnDays: 14 });
    expect(status.rows.find((r) => r.kind === 'ingress')).toMatchObject({ name: 'shop.example.com', source: 'supplied', status: 'ok' });
  });

  test('a wildcard certificate covers one label of an exact host; a wildcard host needs the wildcard', async () => {
    const pair = await suppliedPair(['*.example.com']);
    const certFile = await write('w.pem', pair.certPem);
    const keyFile = await write('w.key', privateKeyPem(pair.key));
    expect((await check('shop.example.com', { kind: 'files', certFile, keyFile })).findings).toEqual([]);
    expect((await check('*.example.com', { kind: 'files', certFile, keyFile })).findings).toEqual([]);
    const deep = await check('a.b.example.com', { kind: 'files', certFile, keyFile });
    expect(deep.findings.map((f) => f.code)).toEqual(['ingress-tls-host-mismatch']);
    const exactOnly = await suppliedPair(['shop.example.com']);
    const exactFile = await write('e.pem', exactOnly.certPem);
    const exactKey = await write('e.key', privateKeyPem(exactOnly.key));
    const wild = await check('*.example.com', { kind: 'files', certFile: exactFile, keyFile: exactKey });
    expect(wild.findings.map((f) => [f.code, f.pointer])).toEqual([['ingress-tls-host-mismatch', at('*.example.com', 'certFile')]]);
  });

  test('a key that does not belong to the certificate', async () => {
    const pair = await suppliedPair(['shop.example.com']);
    const other: KeyObject = createPrivateKey((await generateKey('ecdsa-p256')).pkcs8Pem);
    const certFile = await write('shop.pem', pair.certPem);
    const keyFile = await write('other.key', privateKeyPem(other));
    const { findings, material } = await check('shop.example.com', { kind: 'files', certFile, keyFile });
    expect(findings.map((f) => [f.code, f.severity, f.pointer])).toEqual([['ingress-tls-key-mismatch', 'error', at('shop.example.com', 'keyFile')]]);
    expect(material.ingressHosts.has('shop.example.com')).toBe(false);
  });

  test('a certificate for another host', async () => {
    const pair = await suppliedPair(['api.example.org']);
    const certFile = await write('api.pem', pair.certPem);
    const keyFile = await write('api.key', privateKeyPem(pair.key));
    const { findings } = await check('shop.example.com', { kind: 'files', certFile, keyFile });
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ code: 'ingress-tls-host-mismatch', pointer: at('shop.example.com', 'certFile') });
    expect(findings[0]!.message).toContain('api.example.org');
  });

  test('an expired certificate (by the injected clock), and one not yet valid', async () => {
    const pair = await suppliedPair(['shop.example.com'], { validDays: 30, startDaysAgo: 40 });
    const certFile = await write('old.pem', pair.certPem);
    const keyFile = await write('old.key', privateKeyPem(pair.key));
    const expired = await check('shop.example.com', { kind: 'files', certFile, keyFile });
    expect(expired.findings.map((f) => [f.code, f.pointer])).toEqual([['ingress-tls-expired', at('shop.example.com', 'certFile')]]);
    // The same files were fine 20 days earlier.
    expect((await check('shop.example.com', { kind: 'files', certFile, keyFile }, later(clock, -20))).findings).toEqual([]);
    const future = await suppliedPair(['shop.example.com'], { startDaysAgo: -5 });
    const futureFile = await write('future.pem', future.certPem);
    const futureKey = await write('future.key', privateKeyPem(future.key));
    expect((await check('shop.example.com', { kind: 'files', certFile: futureFile, keyFile: futureKey })).findings.map((f) => f.code)).toEqual([
      'ingress-tls-not-yet-valid',
    ]);
  });

  test('missing and unparsable files', async () => {
    const missing = await check('shop.example.com', { kind: 'files', certFile: 'tls/nope.pem', keyFile: 'tls/nope.key' });
    expect(missing.findings.map((f) => [f.code, f.pointer])).toEqual([
      ['ingress-tls-unreadable', at('shop.example.com', 'certFile')],
      ['ingress-tls-unreadable', at('shop.example.com', 'keyFile')],
    ]);
    expect(missing.findings[0]!.message).toContain('ENOENT');
    const certFile = await write('junk.pem', 'not a certificate\n');
    const pair = await suppliedPair(['shop.example.com']);
    const keyFile = await write('enc.key', pair.key.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'x' }) as string);
    const junk = await check('shop.example.com', { kind: 'files', certFile, keyFile });
    expect(junk.findings.map((f) => [f.code, f.pointer])).toEqual([
      ['ingress-tls-invalid', at('shop.example.com', 'certFile')],
      ['ingress-tls-invalid', at('shop.example.com', 'keyFile')],
    ]);
    expect(junk.findings[1]!.message).toContain('encrypted');
  });

  test('pointer segments are escaped (RFC 6901)', async () => {
    const { findings } = await check('a/b~c.example.com', { kind: 'files', certFile: 'x', keyFile: 'y' });
    expect(findings[0]!.pointer).toBe('/spec/ingress/hosts/a~1b~0c.example.com/tls/certFile');
  });

  test('a supplied key is never written to the state', async () => {
    const pair = await suppliedPair(['shop.example.com']);
    const certFile = await write('s.pem', pair.certPem);
    const keyFile = await write('s.key', privateKeyPem(pair.key));
    await check('shop.example.com', { kind: 'files', certFile, keyFile });
    const state = JSON.parse(await fs.readFile(`${dir}/.meshc/state.json`, 'utf8'));
    expect(state.suppliedIngress['shop.example.com']).toEqual({ certPem: pair.certPem, certFile });
    // The second base64 line of the PKCS#8 PEM is private-key material (the first is mostly a shared prefix).
    const secretLine = privateKeyPem(pair.key).split('\n')[2]!;
    expect(secretLine).toHaveLength(64);
    expect(JSON.stringify(state)).not.toContain(secretLine);
    expect(JSON.stringify(state)).not.toContain(createPrivateKey(privateKeyPem(pair.key)).export({ format: 'jwk' }).d);
  });
});

describe('nameCoversHost', () => {
  test.each([
    ['shop.example.com', 'shop.example.com', true],
    ['SHOP.example.com', 'shop.EXAMPLE.com', true],
    ['*.example.com', 'shop.example.com', true],
    ['*.example.com', 'example.com', false],
    ['*.example.com', 'a.b.example.com', false],
    ['*.example.com', '*.example.com', true],
    ['shop.example.com', '*.example.com', false],
    ['*.b.example.com', 'a.example.com', false],
  ])('%s covers %s: %s', (name, host, expected) => {
    expect(nameCoversHost(name, host)).toBe(expected);
  });
});
