/**
 * Builds normalized `Mesh` objects directly, so the certificate tests do not depend on parsing
 * and normalizing mesh.yaml. Only the fields the certificate stage reads matter; the rest are
 * plausible defaults.
 */
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs/promises';
import type { IngressHost, IngressTls, KeyAlgorithm, Mesh, Pki, Service } from '../../../src/model/mesh.js';

export interface FixtureOptions {
  name?: string;
  trustDomain?: string;
  namespace?: string;
  services?: string[];
  pki?: Partial<Pki>;
  keyAlgorithm?: KeyAlgorithm;
  /** Ingress hosts: host → tls. */
  hosts?: Record<string, IngressTls>;
}

function identity(name: string, trustDomain: string, namespace: string) {
  return {
    name,
    spiffeId: `spiffe://${trustDomain}/ns/${namespace}/sa/${name}`,
    dnsNames: [name, `${name}.${namespace}`, `${name}.${namespace}.svc`, `${name}.${namespace}.svc.cluster.local`],
  };
}

export function meshFixture(options: FixtureOptions = {}): Mesh {
  const name = options.name ?? 'shop';
  const trustDomain = options.trustDomain ?? 'shop.example';
  const namespace = options.namespace ?? 'shop';
  const services: Service[] = [...(options.services ?? ['cart', 'catalog', 'frontend'])].sort().map((svc, i) => ({
    ...identity(svc, trustDomain, namespace),
    port: 8080,
    protocol: 'http',
    image: `example/${svc}:1`,
    replicas: 1,
    endpoints: [{ host: '127.0.0.1', port: 15000 + i, weight: 1, isIp: true }],
    upstreams: [],
    allowFrom: [],
    callers: [],
    ownEgress: [],
    egress: [],
    loadBalancing: { policy: 'round_robin', choiceCount: 2 },
    retries: { attempts: 0, retryOn: [] },
    timeouts: { connectMs: 1000 },
    healthPath: '/healthz',
    sidecar: {
      bindAddress: '127.0.0.1',
      localAddress: '127.0.0.1',
      appAddress: '127.0.0.1',
      inboundPort: 15000 + i,
      probePort: 16000 + i,
      adminPort: 17000 + i,
      egressHttpPort: 18000 + i,
      egressTlsPort: 19000 + i,
    },
  }));
  const hosts: IngressHost[] = Object.entries(options.hosts ?? {})
    .map(([host, tls]) => ({ host, tls, redirectHttp: true, routes: [] }))
    .sort((a, b) => (a.host < b.host ? -1 : 1));
  return {
    name,
    trustDomain,
    namespace,
    pki: {
      keyAlgorithm: options.keyAlgorithm ?? 'ecdsa-p256',
      caValidityDays: 3650,
      leafValidityDays: 90,
      renewBeforeDays: 30,
      ...options.pki,
    },
    dns: { resolvers: [], ipFamily: 'v4' },
    services,
    egress: { allow: [], tlsPort: 443, httpPort: 80 },
    ingress: {
      ...identity('ingress-gateway', trustDomain, namespace),
      httpPort: 8080,
      httpsPort: 8443,
      bindAddress: '127.0.0.1',
      adminPort: 9901,
      trustForwardedProto: false,
      hosts,
    },
    egressGateway: {
      ...identity('egress-gateway', trustDomain, namespace),
      bindAddress: '127.0.0.1',
      httpPort: 10080,
      tlsPort: 10443,
      adminPort: 9902,
      allow: [],
    },
  };
}

/**
 * A fixed clock (default: now, to the second). Fixed so a test never depends on time passing;
 * near the real time because node:tls and `openssl verify` check validity against the system clock.
 */
export function fixedClock(at: Date | string = new Date(Math.floor(Date.now() / 1000) * 1000)): () => Date {
  const ms = new Date(at).getTime();
  return () => new Date(ms);
}

/** A clock `days` after another clock's instant. */
export function later(clock: () => Date, days: number): () => Date {
  return fixedClock(new Date(clock().getTime() + days * DAY));
}

export const DAY = 86_400_000;

/** A temporary directory removed by the returned cleanup. */
export async function tempDir(prefix = 'meshc-certs-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fs.rm(dir, { recursive: true, force: true }) };
}
