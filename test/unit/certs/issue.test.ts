import { X509Certificate, createPrivateKey } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { prepareCerts } from '../../../src/certs/index.js';
import type { KeyAlgorithm } from '../../../src/model/mesh.js';
import { DAY, fixedClock, meshFixture, tempDir } from './mesh-fixture.js';
import { extensionsText, verifyChain } from './openssl.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

async function prepare(mesh = meshFixture(), clock = fixedClock()) {
  const prepared = await prepareCerts(mesh, { stateDir: `${dir}/.meshc`, meshDir: dir, clock });
  await prepared.commit();
  await prepared.release();
  return prepared;
}

describe('the mesh CA', () => {
  test('is a P-256 CA with pathlen 0, keyCertSign+cRLSign, SKI/AKI and caValidityDays', async () => {
    const clock = fixedClock();
    const { material } = await prepare(meshFixture(), clock);
    const ca = new X509Certificate(material.trustBundlePem);
    expect(ca.ca).toBe(true);
    expect(ca.subject).toBe('O=shop.example\nCN=shop mesh CA');
    expect(ca.issuer).toBe(ca.subject);
    expect(ca.checkIssued(ca)).toBe(true);
    expect(ca.verify(ca.publicKey)).toBe(true);
    expect(ca.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(new Date(ca.validTo).getTime()).toBe(clock().getTime() + 3650 * DAY);
    expect(new Date(ca.validFrom).getTime()).toBeLessThanOrEqual(clock().getTime());
    const ext = await extensionsText(material.trustBundlePem);
    expect(ext).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(ext).toMatch(/Key Usage: critical\s+Certificate Sign, CRL Sign\n/);
    expect(ext).toMatch(/Subject Key Identifier:/);
    expect(ext).toMatch(/Authority Key Identifier:/);
  });
});

describe('workload leaves', () => {
  test('one per service and gateway, with SPIFFE URI, DNS SANs, subject, EKU, validity, serial', async () => {
    const clock = fixedClock();
    const { material } = await prepare(meshFixture(), clock);
    const ca = new X509Certificate(material.trustBundlePem);
    const caExt = await extensionsText(material.trustBundlePem);
    const caSki = /Subject Key Identifier:\s+([0-9A-F:]+)/.exec(caExt)![1];
    expect([...material.workloads.keys()]).toEqual(['cart', 'catalog', 'egress-gateway', 'frontend', 'ingress-gateway']);
    const serials = new Set<string>();
    for (const [name, issued] of material.workloads) {
      const cert = new X509Certificate(issued.certPem);
      expect(cert.subjectAltName).toBe(
        `URI:spiffe://shop.example/ns/shop/sa/${name}, DNS:${name}, DNS:${name}.shop, DNS:${name}.shop.svc, DNS:${name}.shop.svc.cluster.local`,
      );
      expect(cert.subject).toBe(`O=shop.example\nOU=shop\nCN=${name}`);
      expect(cert.issuer).toBe(ca.subject);
      expect(cert.checkIssued(ca) && cert.verify(ca.publicKey)).toBe(true);
      expect(cert.ca).toBe(false);
      expect([...cert.keyUsage].sort()).toEqual([SERVER_AUTH, CLIENT_AUTH]);
      expect(new Date(cert.validTo).getTime()).toBe(clock().getTime() + 90 * DAY);
      expect(issued.notAfter.getTime()).toBe(clock().getTime() + 90 * DAY);
      expect(new Date(cert.validFrom).getTime()).toBeLessThanOrEqual(clock().getTime());
      // 128-bit positive serial: up to 16 bytes of magnitude, rendered lower-case without sign byte.
      expect(issued.serial).toMatch(/^[0-9a-f]{1,32}$/);
      expect(BigInt('0x' + issued.serial)).toBeGreaterThan(0n);
      serials.add(issued.serial);
      const ext = await extensionsText(issued.certPem);
      expect(ext).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
      expect(ext).toMatch(/Key Usage: critical\s+Digital Signature\n/);
      expect(ext).toContain(`Authority Key Identifier: \n    ${caSki}`);
      // Keys for secrets/: unencrypted PKCS#8 that matches the certificate.
      expect(issued.keyPem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
      expect(cert.checkPrivateKey(createPrivateKey(issued.keyPem))).toBe(true);
      expect(issued.certPath).toBe(`certs/${name}.pem`);
      expect(issued.keyPath).toBe(`secrets/${name}.key`);
      for (const purpose of ['sslserver', 'sslclient'] as const) {
        const result = await verifyChain(dir, material.trustBundlePem, issued.certPem, { purpose });
        expect(result.output).toContain(': OK');
        expect(result.ok).toBe(true);
      }
    }
    expect(serials.size).toBe(5);
  });

  test('leaves never outlive the CA', async () => {
    const clock = fixedClock();
    const { material } = await prepare(meshFixture({ pki: { caValidityDays: 30, leafValidityDays: 90 } }), clock);
    const ca = new X509Certificate(material.trustBundlePem);
    for (const issued of material.workloads.values()) expect(issued.notAfter.getTime()).toBe(new Date(ca.validTo).getTime());
  });
});

describe('generated ingress certificates', () => {
  test('server certificate for exact and wildcard hosts, serverAuth only', async () => {
    const mesh = meshFixture({ hosts: { 'shop.example.com': { kind: 'generated' }, '*.example.net': { kind: 'generated' } } });
    const { material } = await prepare(mesh);
    expect([...material.ingressHosts.keys()]).toEqual(['*.example.net', 'shop.example.com']);
    const wildcard = material.ingressHosts.get('*.example.net')!;
    expect(wildcard.certPath).toBe('certs/ingress/_wildcard.example.net.pem');
    expect(wildcard.keyPath).toBe('secrets/ingress/_wildcard.example.net.key');
    for (const [host, issued] of material.ingressHosts) {
      const cert = new X509Certificate(issued.certPem);
      expect(cert.subjectAltName).toBe(`DNS:${host}`);
      expect([...cert.keyUsage]).toEqual([SERVER_AUTH]);
      expect((await verifyChain(dir, material.trustBundlePem, issued.certPem, { purpose: 'sslserver' })).ok).toBe(true);
      expect((await verifyChain(dir, material.trustBundlePem, issued.certPem, { purpose: 'sslclient' })).ok).toBe(false);
    }
    expect(new X509Certificate(wildcard.certPem).checkHost('a.example.net')).toBe('*.example.net');
    expect(new X509Certificate(wildcard.certPem).checkHost('example.net')).toBeUndefined();
  });
});

describe('key algorithms', () => {
  const cases: [KeyAlgorithm, string, string][] = [
    ['ecdsa-p384', 'ecdsa-with-SHA384', 'secp384r1'],
    ['rsa-2048', 'sha256WithRSAEncryption', '2048'],
    ['rsa-3072', 'sha256WithRSAEncryption', '3072'],
    ['rsa-4096', 'sha256WithRSAEncryption', '4096'],
  ];
  test.each(cases)('%s: CA and leaves use it; RSA leaves add keyEncipherment', async (algorithm, signature, size) => {
    const { material } = await prepare(meshFixture({ keyAlgorithm: algorithm, services: [] }));
    for (const pem of [material.trustBundlePem, ...[...material.workloads.values()].map((w) => w.certPem)]) {
      const cert = new X509Certificate(pem);
      const details = cert.publicKey.asymmetricKeyDetails!;
      expect(String(details.namedCurve ?? details.modulusLength)).toBe(size);
      const text = (await import('execa')).execa('openssl', ['x509', '-noout', '-text'], { input: pem });
      expect((await text).stdout).toContain(`Signature Algorithm: ${signature}`);
    }
    for (const issued of material.workloads.values()) {
      const ext = await extensionsText(issued.certPem);
      expect(ext).toMatch(algorithm.startsWith('rsa') ? /Digital Signature, Key Encipherment/ : /Digital Signature\n/);
      expect((await verifyChain(dir, material.trustBundlePem, issued.certPem)).ok).toBe(true);
    }
  }, 60_000);
});
