/**
 * Test helper shared by the nginx and HAProxy unit tests: mesh.yaml text → normalized mesh,
 * real certificates from src/certs (in a temporary state dir), and the files of one target
 * written with the certificates into a temporary output directory, so `nginx -t` and
 * `haproxy -c` can read them.
 */
import { mkdir, mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { certOutputFiles, prepareCerts } from '../../../src/certs/index.js';
import type { CertMaterial } from '../../../src/certs/material.js';
import type { Diagnostic } from '../../../src/model/diagnostic.js';
import type { Mesh } from '../../../src/model/mesh.js';
import { validate } from '../../../src/pipeline/validate.js';
import { emitSorted, type OutputFile, type Target } from '../../../src/targets/target.js';

export interface Compiled {
  dir: string;
  out: string;
  mesh: Mesh;
  certs: CertMaterial;
  diagnostics: Diagnostic[];
  files: OutputFile[];
  cleanup(): Promise<void>;
}

export async function writeFiles(out: string, files: readonly OutputFile[]): Promise<void> {
  for (const f of files) {
    const p = path.join(out, f.path);
    await mkdir(path.dirname(p), { recursive: true });
    await writeFile(p, f.content, { mode: f.mode ?? 0o644 });
    await chmod(p, f.mode ?? 0o644);
  }
}

/** Validates `yamlText` (only `target`'s checks), issues certificates, emits and writes. */
export async function compileMesh(yamlText: string, target: Target, opts: { meshFile?: string } = {}): Promise<Compiled> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `meshc-${target.name}-`));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    const file = opts.meshFile ?? path.join(dir, 'mesh.yaml');
    if (!opts.meshFile) await writeFile(file, yamlText);
    const v = await validate({ file, targets: [target.name] });
    if (!v.mesh) throw new Error(`mesh did not validate:\n${v.diagnostics.map((d) => `${d.code} ${d.pointer} ${d.message}`).join('\n')}`);
    const mesh = v.mesh;
    const prepared = await prepareCerts(mesh, { stateDir: path.join(dir, 'state'), meshDir: path.dirname(file), clock: () => new Date() });
    await prepared.release();
    const certs = prepared.material;
    const out = path.join(dir, 'out');
    const files = v.ok ? emitSorted(target, mesh, certs) : [];
    await writeFiles(out, [...certOutputFiles(certs), ...files]);
    return { dir, out, mesh, certs, diagnostics: v.diagnostics, files, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** A mesh using most of what the text targets express (shared by the nginx and HAProxy unit tests). */
export const SAMPLE_MESH = `
apiVersion: meshc.dev/v1
kind: Mesh
metadata: { name: t }
spec:
  trustDomain: t.example
  namespace: t
  dns: { resolvers: ["127.0.0.1:5353"] }
  services:
    frontend:
      port: 8080
      upstreams: [cart, payments, db, users]
      egress: [api.stripe.com, "*.stripe.network"]
      endpoints: ["127.0.0.1:15443"]
    cart:
      port: 8081
      allowFrom: [frontend]
      endpoints: ["127.0.0.2:15443", {address: "127.0.0.3:15443", weight: 3}]
      loadBalancing: { policy: ring_hash, hashOn: { header: x-user-id } }
      retries: { attempts: 2, retryOn: [5xx, connect-failure] }
      outlierDetection: { consecutive5xx: 3, baseEjectionTime: 45s, maxEjectionPercent: 100 }
      connectionLimits: { maxConnections: 10, maxRequests: 20 }
    payments:
      port: 9090
      protocol: grpc
      allowFrom: [frontend]
      endpoints: ["127.0.0.4:15443"]
    db:
      port: 5432
      protocol: tcp
      allowFrom: [frontend]
      loadBalancing: { policy: least_request }
    users:
      port: 8080
      allowFrom: [frontend]
      endpoints: ["127.0.0.5:15443", "127.0.0.6:15443"]
      loadBalancing: { policy: ring_hash, hashOn: { sourceIp: true } }
      timeouts: { idle: 90s }
  egress: { allow: ["*.googleapis.com"] }
  ingress:
    httpsPort: 8443
    trustForwardedProto: true
    hosts:
      shop.example.com:
        routes: [{ pathPrefix: /api/cart, service: cart }, { pathPrefix: /, service: frontend }]
      "*.example.net":
        redirectHttp: false
        routes: [{ pathPrefix: /pay, service: payments, timeout: 30s }]
`;
