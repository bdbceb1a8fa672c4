/**
 * Real mutual-TLS handshakes with node:tls on 127.0.0.1 (port 0): the certificates the stage
 * issues must work between peers, be refused from another CA or without a client certificate, and
 * keep working across every phase of a CA rotation.
 */
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { certsRotate, prepareCerts } from '../../../src/certs/index.js';
import type { CertMaterial } from '../../../src/certs/material.js';
import { fixedClock, meshFixture, tempDir } from './mesh-fixture.js';

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => ({ dir, cleanup } = await tempDir()));
afterEach(async () => cleanup());

interface Peer {
  key?: string;
  cert?: string;
  ca: string;
}

function peer(material: CertMaterial, name: string | undefined, bundle = material.trustBundlePem): Peer {
  if (!name) return { ca: bundle };
  const issued = material.workloads.get(name)!;
  return { key: issued.keyPem, cert: issued.certPem, ca: bundle };
}

/**
 * Server requires and verifies a client certificate; client verifies the server against its
 * bundle and DNS name. 'ok' when the client gets the server's answer, else 'refused'.
 */
async function handshake(server: Peer, client: Peer, servername: string): Promise<{ result: 'ok' | 'refused'; peerUri?: string; why?: string; serverWhy?: string }> {
  let peerUri: string | undefined;
  let serverWhy: string | undefined;
  const srv = tls.createServer({ ...server, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, (socket) => {
    peerUri = socket.getPeerCertificate().subjectaltname?.split(', ').find((s) => s.startsWith('URI:'));
    socket.on('error', () => {});
    socket.once('data', () => socket.end('pong'));
  });
  srv.on('tlsClientError', (e: NodeJS.ErrnoException) => (serverWhy ??= e.code ?? e.message));
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as AddressInfo;
  try {
    let why: string | undefined;
    const result = await new Promise<'ok' | 'refused'>((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port, servername, ...client });
      const timer = setTimeout(() => {
        socket.destroy();
        resolve('refused');
      }, 5000);
      let answer = '';
      socket.on('secureConnect', () => socket.write('ping'));
      socket.on('data', (chunk) => (answer += chunk.toString()));
      socket.on('error', (e: NodeJS.ErrnoException) => (why ??= e.code ?? e.message));
      socket.on('close', () => {
        clearTimeout(timer);
        resolve(answer === 'pong' ? 'ok' : 'refused');
      });
    });
    return { result, ...(peerUri ? { peerUri } : {}), ...(why ? { why } : {}), ...(serverWhy ? { serverWhy } : {}) };
  } finally {
    await new Promise<void>((resolve) => srv.close(() => resolve()));
  }
}

async function prepare(stateDir: string, mesh = meshFixture()) {
  const prepared = await prepareCerts(mesh, { stateDir, meshDir: dir, clock: fixedClock() });
  await prepared.commit();
  await prepared.release();
  return prepared.material;
}

const CATALOG = 'catalog.shop.svc.cluster.local';
/**
 * The client accepted the server (no client-side verification error) and the server dropped the
 * connection after verifying the client certificate (node reports its own drop as a hang-up).
 */
function expectServerRefusedClient(outcome: { result: string; why?: string; serverWhy?: string }) {
  expect(outcome.result).toBe('refused');
  expect(outcome.why).toBeUndefined();
  expect(outcome.serverWhy).toBe('ECONNRESET');
}

describe('mutual TLS with issued certificates', () => {
  test('mesh client to mesh server succeeds, and the server sees the SPIFFE identity', async () => {
    const material = await prepare(`${dir}/.meshc`);
    const outcome = await handshake(peer(material, 'catalog'), peer(material, 'frontend'), CATALOG);
    expect(outcome).toEqual({ result: 'ok', peerUri: 'URI:spiffe://shop.example/ns/shop/sa/frontend' });
    // Gateways are peers too.
    expect((await handshake(peer(material, 'catalog'), peer(material, 'ingress-gateway'), 'catalog.shop')).result).toBe('ok');
  });

  test('a client certificate from another CA is refused', async () => {
    const material = await prepare(`${dir}/.meshc`);
    const other = await prepare(`${dir}/other`);
    const client = { ...peer(other, 'frontend'), ca: material.trustBundlePem };
    expectServerRefusedClient(await handshake(peer(material, 'catalog'), client, CATALOG));
    // ... and a server from another CA is refused by a mesh client.
    const otherServer = { ...peer(other, 'catalog'), ca: material.trustBundlePem };
    expect(await handshake(otherServer, peer(material, 'frontend'), CATALOG)).toMatchObject({ result: 'refused', why: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  });

  test('a client without a certificate is refused', async () => {
    const material = await prepare(`${dir}/.meshc`);
    expect(await handshake(peer(material, 'catalog'), peer(material, undefined), CATALOG)).toMatchObject({ result: 'refused', why: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' });
  });

  test('a server certificate for another name is refused by the client', async () => {
    const material = await prepare(`${dir}/.meshc`);
    expect(await handshake(peer(material, 'cart'), peer(material, 'frontend'), CATALOG)).toMatchObject({ result: 'refused', why: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  });
});

describe('CA rotation never breaks a connection between peers holding the bundle', () => {
  test('old-CA and new-CA leaves interoperate during the rotation; after finish the old leaf is refused', async () => {
    const stateDir = `${dir}/.meshc`;
    const mesh = meshFixture();
    const before = await prepare(stateDir, mesh);
    const started = await certsRotate(mesh, { stateDir, meshDir: dir, clock: fixedClock(), ca: true });
    expect(started.phase).toBe('ca-rotation');
    // Step 1 changes only the bundle: a peer redeployed with it still talks to one that was not.
    expect(started.material.workloads.get('frontend')!.certPem).toBe(before.workloads.get('frontend')!.certPem);
    expect((await handshake(peer(before, 'catalog'), peer(started.material, 'frontend'), CATALOG)).result).toBe('ok');
    expect((await handshake(peer(started.material, 'catalog'), peer(before, 'frontend'), CATALOG)).result).toBe('ok');
    // Step 2: every leaf re-issued by the new CA.
    const rotation = await certsRotate(mesh, { stateDir, meshDir: dir, clock: fixedClock(), all: true });
    const during = rotation.material;
    // The bundle holds old and new; every leaf was re-issued by the new CA.
    expect(during.trustBundlePem.startsWith(before.trustBundlePem)).toBe(true);
    expect(during.trustBundlePem.length).toBeGreaterThan(before.trustBundlePem.length);
    expect(during.workloads.get('frontend')!.certPem).not.toBe(before.workloads.get('frontend')!.certPem);
    const bundle = during.trustBundlePem;

    // old leaf client -> new leaf server, and new leaf client -> old leaf server
    expect((await handshake(peer(during, 'catalog'), peer(before, 'frontend', bundle), CATALOG)).result).toBe('ok');
    expect((await handshake(peer(before, 'catalog', bundle), peer(during, 'frontend'), CATALOG)).result).toBe('ok');
    // new <-> new, and old peers still on the old bundle still talk to each other
    expect((await handshake(peer(during, 'catalog'), peer(during, 'frontend'), CATALOG)).result).toBe('ok');
    expect((await handshake(peer(before, 'catalog'), peer(before, 'frontend'), CATALOG)).result).toBe('ok');

    // A build during the rotation keeps shipping both CAs.
    const build = await prepare(stateDir, mesh);
    expect(build.trustBundlePem).toBe(bundle);

    const finished = await certsRotate(mesh, { stateDir, meshDir: dir, clock: fixedClock(), finish: true });
    expect(finished.phase).toBe('stable');
    const after = finished.material;
    expect(bundle.endsWith(after.trustBundlePem)).toBe(true);
    expect(after.workloads.get('frontend')!.certPem).toBe(during.workloads.get('frontend')!.certPem);
    expect((await handshake(peer(after, 'catalog'), peer(after, 'frontend'), CATALOG)).result).toBe('ok');
    expectServerRefusedClient(await handshake(peer(after, 'catalog'), peer(before, 'frontend', after.trustBundlePem), CATALOG));
  });
});
