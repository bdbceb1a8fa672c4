/** A hand-written mesh exercising every Envoy feature, and placeholder certificate material. */
import type { CertMaterial, IssuedCert } from '../../../src/certs/material.js';
import { TRUST_BUNDLE_PATH, ingressCertPath, ingressKeyPath, workloadCertPath, workloadKeyPath } from '../../../src/certs/material.js';
import { identities, type Mesh } from '../../../src/model/mesh.js';
import { normalize } from '../../../src/model/normalize.js';
import type { WrittenMesh } from '../../../src/schema/written-mesh.js';

export function sampleWritten(): WrittenMesh {
  return {
    apiVersion: 'meshc.dev/v1',
    kind: 'Mesh',
    metadata: { name: 'shop' },
    spec: {
      trustDomain: 'shop.example',
      namespace: 'shop',
      dns: { resolvers: ['127.0.0.53:5353'] },
      sidecar: { bindAddress: '127.0.0.1' },
      services: {
        frontend: {
          port: 8080,
          upstreams: ['catalog', { service: 'cart', localPort: 21001 }, 'ledger'],
          egress: ['api.segment.io'],
        },
        catalog: {
          port: 8080,
          allowFrom: ['frontend'],
          endpoints: ['127.0.0.11:15443', { address: '127.0.0.12:15443', weight: 3 }],
          loadBalancing: { policy: 'least_request', choiceCount: 3 },
          retries: { attempts: 2, perTryTimeout: '250ms', retryOn: ['5xx', 'connect-failure'] },
          timeouts: { connect: '1s', request: '3s', idle: '1m' },
          outlierDetection: { consecutive5xx: 3, interval: '1s', baseEjectionTime: '30s', maxEjectionPercent: 50 },
          connectionLimits: { maxConnections: 100, maxPendingRequests: 10, maxRequests: 200 },
        },
        cart: {
          port: 8080,
          protocol: 'grpc',
          allowFrom: ['frontend'],
          loadBalancing: { policy: 'ring_hash', hashOn: { header: 'x-user-id' } },
        },
        ledger: {
          port: 5432,
          protocol: 'tcp',
          allowFrom: ['frontend'],
          endpoints: ['127.0.0.21:15443'],
          loadBalancing: { policy: 'maglev', hashOn: { sourceIp: true } },
        },
        lonely: { port: 9000, health: { path: '/ready' } },
        vault: { port: 8200, protocol: 'tcp' },
        web: {
          port: 8080,
          loadBalancing: { policy: 'ring_hash', hashOn: { cookie: { name: 'sid', ttl: '1h' } } },
        },
      },
      egress: { allow: ['*.googleapis.com'], httpPort: 8080 },
      ingress: {
        httpPort: 8080,
        httpsPort: 8443,
        trustForwardedProto: true,
        hosts: {
          'shop.example.com': {
            routes: [
              { pathPrefix: '/', service: 'web' },
              { pathPrefix: '/api/catalog', service: 'catalog', timeout: '2s' },
            ],
          },
          '*.admin.example.com': { redirectHttp: false, routes: [{ pathPrefix: '/', service: 'catalog' }] },
        },
      },
    },
  } as WrittenMesh;
}

export function sampleMesh(mutate?: (w: WrittenMesh) => void): Mesh {
  const w = sampleWritten();
  mutate?.(w);
  return normalize(w);
}

function fakeCert(certPath: string, keyPath: string): IssuedCert {
  return {
    certPem: '-----BEGIN CERTIFICATE-----\nplaceholder\n-----END CERTIFICATE-----\n',
    keyPem: '-----BEGIN PRIVATE KEY-----\nplaceholder\n-----END PRIVATE KEY-----\n',
    serial: '01',
    notBefore: new Date(0),
    notAfter: new Date(0),
    certPath,
    keyPath,
  };
}

export function fakeCerts(mesh: Mesh): CertMaterial {
  return {
    trustBundlePem: '-----BEGIN CERTIFICATE-----\nplaceholder\n-----END CERTIFICATE-----\n',
    trustBundlePath: TRUST_BUNDLE_PATH,
    workloads: new Map(identities(mesh).map((i) => [i.name, fakeCert(workloadCertPath(i.name), workloadKeyPath(i.name))])),
    ingressHosts: new Map(mesh.ingress.hosts.map((h) => [h.host, fakeCert(ingressCertPath(h.host), ingressKeyPath(h.host))])),
  };
}
