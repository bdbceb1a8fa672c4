import { execa } from 'execa';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderGraph } from '../../src/graph/index.js';
import type { Mesh } from '../../src/model/mesh.js';
import { validate } from '../../src/pipeline/validate.js';
import { buildInto, fixturePath, tmp, VALID_FIXTURES } from '../support/build.js';

/**
 * `meshc import istio`, run as a user runs it (the built binary, from the repository root so the
 * paths it prints are the relative ones of the expected files).
 */
const root = new URL('../../', import.meta.url).pathname;
const bin = join(root, 'bin/meshc.js');
const meshc = (args: string[]) => execa('node', [bin, ...args], { reject: false, cwd: root, env: { NO_COLOR: '1' }, extendEnv: true });

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => Promise.all(cleanups.map((c) => c())));

async function scratch(): Promise<string> {
  const d = await tmp('meshc-import-');
  cleanups.push(() => rm(d, { recursive: true, force: true }));
  return d;
}

async function meshOf(file: string): Promise<Mesh> {
  const v = await validate({ file, targets: ['k8s', 'istio'] });
  expect(v.ok, JSON.stringify(v.diagnostics, null, 1)).toBe(true);
  return v.mesh!;
}

/** The load-balancing and resilience settings of every service: what the graph does not show. */
function trafficPolicy(mesh: Mesh) {
  return mesh.services.map((s) => ({ name: s.name, lb: s.loadBalancing, retries: s.retries, timeouts: s.timeouts, outlier: s.outlierDetection, limits: s.connectionLimits, endpoints: s.endpoints.map((e) => [e.host, e.port, e.weight]), inboundPort: s.sidecar.inboundPort }));
}

describe('meshc import istio: round trip through the k8s and istio targets', () => {
  for (const name of VALID_FIXTURES) {
    it(`${name}: build --targets k8s,istio, import, and the mesh compiles to the same policy`, async () => {
      const b = await buildInto(fixturePath(name), { targets: ['k8s', 'istio'] });
      cleanups.push(b.cleanup);
      expect(b.result.ok).toBe(true);
      const r = await meshc(['import', 'istio', b.out]);
      // Both trees, the secrets overlays and the manifest are read; nothing is lost, only notes.
      expect(r.stderr).not.toMatch(/\b(error|warning)\b {2}/);
      expect(r.exitCode, r.stderr).toBe(0);
      const imported = join(await scratch(), 'mesh.yaml');
      await writeFile(imported, r.stdout);
      const before = await meshOf(fixturePath(name));
      const after = await meshOf(imported);
      // Allow edges, calls, egress domains per service, ingress hosts and routes, load-balancing labels.
      expect(await renderGraph(after, 'json')).toBe(await renderGraph(before, 'json'));
      expect(trafficPolicy(after)).toEqual(trafficPolicy(before));
      expect(after.ingress.hosts.map((h) => [h.host, h.redirectHttp, h.tls.kind, h.routes])).toEqual(before.ingress.hosts.map((h) => [h.host, h.redirectHttp, h.tls.kind, h.routes]));
      expect([after.ingress.httpsPort, after.egress.tlsPort, after.egress.httpPort]).toEqual([before.ingress.httpsPort, before.egress.tlsPort, before.egress.httpPort]);
      expect(after.services.map((s) => [s.name, s.port, s.protocol, s.image, s.replicas])).toEqual(before.services.map((s) => [s.name, s.port, s.protocol, s.image, s.replicas]));
    });
  }

  it('reads the istio tree alone too (the Deployments, Services and policies it writes)', async () => {
    const b = await buildInto(fixturePath('shop'), { targets: ['istio'] });
    cleanups.push(b.cleanup);
    const r = await meshc(['import', 'istio', join(b.out, 'istio')]);
    const imported = join(await scratch(), 'mesh.yaml');
    await writeFile(imported, r.stdout);
    expect(await renderGraph(await meshOf(imported), 'json')).toBe(await renderGraph(await meshOf(fixturePath('shop')), 'json'));
    // Without the Secrets, nothing says the credentials came from a mesh CA: reported, with how to export them.
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain("import-ingress-credential  Gateway shop/ingress-gateway spec.servers[0].tls.credentialName: the certificate of credential ingress.api.shop.example.com does not carry over");
  });
});

/**
 * Istio's own samples (fixtures/istio-import/, see its README): each case's `args` are imported
 * and the printed mesh, the diagnostics and the exit code compared with `expected/`.
 * UPDATE_GOLDEN=1 rewrites them; review the diff.
 */
const cases = readdirSync(join(root, 'fixtures/istio-import'), { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort();

describe('meshc import istio: Istio samples and bad input', () => {
  it('finds the cases', () => expect(cases).toEqual(expect.arrayContaining(['bookinfo', 'bookinfo-authz', 'bookinfo-traffic', 'conflicts', 'egress', 'malformed', 'secure-ingress'])));

  for (const name of cases) {
    it(`${name}: exactly the expected mesh and diagnostics`, async () => {
      const dir = join(root, 'fixtures/istio-import', name);
      const args = (await readFile(join(dir, 'args'), 'utf8')).trim().split(/\s+/);
      const r = await meshc(['import', 'istio', ...args]);
      const expected = join(dir, 'expected');
      if (process.env.UPDATE_GOLDEN) {
        await mkdir(expected, { recursive: true });
        await writeFile(join(expected, 'mesh.yaml'), r.stdout ? `${r.stdout}\n` : '');
        await writeFile(join(expected, 'stderr.txt'), `${r.stderr}\n`);
        await writeFile(join(expected, 'exit-code'), `${r.exitCode}\n`);
      }
      expect(r.stderr).not.toContain('    at '); // never a stack trace
      expect(`${r.exitCode}\n`).toBe(await readFile(join(expected, 'exit-code'), 'utf8'));
      expect(`${r.stderr}\n`).toBe(await readFile(join(expected, 'stderr.txt'), 'utf8'));
      expect(r.stdout ? `${r.stdout}\n` : '').toBe(await readFile(join(expected, 'mesh.yaml'), 'utf8'));
      if (r.exitCode !== 2) {
        // The printed mesh validates.
        const file = join(await scratch(), 'mesh.yaml');
        await writeFile(file, r.stdout);
        const v = await meshc(['validate', '-f', file, '--targets', 'k8s,istio']);
        expect(v.exitCode, v.stdout).toBe(0);
      }
    });
  }

  it('Bookinfo: four services, the version subsets and the catch-all gateway host reported at their lines', async () => {
    const r = await meshc(['import', 'istio', 'fixtures/istio-import/bookinfo/input', '--format', 'json']);
    expect(r.exitCode).toBe(1);
    const out = JSON.parse(r.stdout) as { mesh: string; diagnostics: { file: string; line: number; col: number; code: string; severity: string; message: string }[] };
    const at = (code: string) => out.diagnostics.filter((d) => d.code === code).map((d) => `${d.file.replace('fixtures/istio-import/bookinfo/input/', '')}:${d.line}:${d.col}`);
    expect(at('import-subsets')).toEqual(['destination-rule-all-mtls.yaml:11:3', 'destination-rule-all-mtls.yaml:25:3', 'destination-rule-all-mtls.yaml:45:3', 'destination-rule-all-mtls.yaml:68:3']);
    expect(at('import-subset-routing')).toHaveLength(4);
    expect(at('import-ingress-host')).toEqual(['bookinfo-gateway.yaml:16:7', 'bookinfo-gateway.yaml:24:5']);
    expect(out.diagnostics.find((d) => d.code === 'import-versions')?.message).toContain('reviews-v3: docker.io/istio/examples-bookinfo-reviews-v3:1.17.0');
    const file = join(await scratch(), 'mesh.yaml');
    await writeFile(file, out.mesh);
    const mesh = await meshOf(file);
    expect(mesh.services.map((s) => [s.name, s.port, s.replicas])).toEqual([['details', 9080, 1], ['productpage', 9080, 1], ['ratings', 9080, 1], ['reviews', 9080, 3]]);
    expect(mesh.ingress.hosts).toEqual([]);
  });

  it('Bookinfo with the authorization task: principals resolve through the ServiceAccounts', async () => {
    const args = (await readFile(join(root, 'fixtures/istio-import/bookinfo-authz/args'), 'utf8')).trim().split(/\s+/);
    const r = await meshc(['import', 'istio', ...args]);
    const file = join(await scratch(), 'mesh.yaml');
    await writeFile(file, r.stdout);
    const mesh = await meshOf(file);
    const allow = Object.fromEntries(mesh.services.map((s) => [s.name, s.allowFrom]));
    // productpage-viewer has no `from`: every workload; the others name bookinfo-productpage and bookinfo-reviews.
    expect(allow).toEqual({ details: ['productpage'], productpage: ['details', 'ratings', 'reviews'], ratings: ['reviews'], reviews: ['productpage'] });
    expect(r.stderr.match(/import-authz-operation/g)).toHaveLength(4);
    expect(r.stderr).not.toContain('import-mtls-default'); // the mesh-wide STRICT PeerAuthentication
  });

  it('the egress samples: ServiceEntry hosts allowed, the egress gateway pattern mapped, TLS origination reported', async () => {
    const r = await meshc(['import', 'istio', 'fixtures/istio-import/egress/input']);
    const file = join(await scratch(), 'mesh.yaml');
    await writeFile(file, r.stdout);
    const mesh = await meshOf(file);
    expect(mesh.egress.allow).toEqual(['edition.cnn.com', 'httpbin.org', 'www.google.com', 'www.googleapis.com']);
    expect(mesh.egress.viaGateway).toBe(true);
    expect(r.stderr).toContain('egress-rule-google-apis.yaml:40:5  warning  import-tls-origination');
    expect(r.stderr).not.toContain('import-allow-any-egress'); // the IstioOperator says REGISTRY_ONLY
  });

  it('malformed YAML and a missing path exit 2 and print no mesh', async () => {
    const bad = await meshc(['import', 'istio', 'fixtures/istio-import/malformed/input']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toContain('broken.yaml:7:1  error  yaml-syntax');
    const missing = await meshc(['import', 'istio', 'no/such/dir']);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain('no/such/dir: no such file or directory');
    expect((await meshc(['import', 'istio'])).exitCode).toBe(2);
  });

  it('binary input is unreadable (exit 2), not a crash', async () => {
    const d = await scratch();
    await writeFile(join(d, 'x.yaml'), Buffer.from([0x61, 0x00, 0x62]));
    const r = await meshc(['import', 'istio', join(d, 'x.yaml')]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('not-text');
  });

  it('documents itself', async () => {
    const h = await meshc(['import', 'istio', '--help']);
    expect(h.exitCode).toBe(0);
    expect(h.stdout).toContain('Exit codes');
    expect(existsSync(join(root, 'fixtures/istio-import/README.md'))).toBe(true);
  });
});
