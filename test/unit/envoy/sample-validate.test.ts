/**
 * The sample mesh's bootstraps loaded by the real Envoy (`--mode validate`), with throw-away
 * certificates at the paths the bootstraps name. Skipped when Envoy is not installed.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envoyTarget } from '../../../src/targets/envoy/index.js';
import { verifyEnvoy } from '../../../src/targets/envoy/verify.js';
import { createTestCa, findBinary, tempDir, validateEnvoy } from '../../harness/index.js';
import { fakeCerts, sampleMesh } from './sample.js';
import { emitSorted } from '../../../src/targets/target.js';

const envoy = findBinary('envoy');

describe.skipIf(!envoy)('envoy --mode validate on the sample mesh', async () => {
  const dir = await tempDir('meshc-envoy-sample-');
  afterAll(() => dir.cleanup());
  const mesh = sampleMesh();
  const certs = fakeCerts(mesh);
  const files = emitSorted(envoyTarget, mesh, certs);

  beforeAll(async () => {
    const ca = await createTestCa();
    const leaf = await ca.issue({ cn: 'x', sans: ['x'] });
    const paths = new Set<string>([certs.trustBundlePath]);
    for (const c of [...certs.workloads.values(), ...certs.ingressHosts.values()]) paths.add(c.certPath).add(c.keyPath);
    for (const p of paths) {
      await mkdir(path.dirname(path.join(dir.path, p)), { recursive: true });
      await writeFile(path.join(dir.path, p), p.endsWith('.key') ? leaf.key : p === certs.trustBundlePath ? ca.cert : leaf.cert);
    }
    for (const f of files) {
      await mkdir(path.dirname(path.join(dir.path, f.path)), { recursive: true });
      await writeFile(path.join(dir.path, f.path), f.content);
    }
  });

  // The SDS files are read by the bootstraps that name them (validate loads them too).
  const bootstraps = files.filter((f) => !f.path.startsWith('envoy/sds/'));
  it.each(bootstraps.map((f) => f.path))('%s', async (file) => {
    const res = await validateEnvoy(path.join(dir.path, file), dir.path);
    expect(res.output).toContain('OK');
    expect(res.ok).toBe(true);
  });

  it('verifyEnvoy (meshc verify) reports every file, and a broken one as not ok', async () => {
    const ok = await verifyEnvoy(dir.path, envoy!);
    expect(ok.map((r) => r.file)).toEqual(bootstraps.map((f) => f.path));
    expect(ok.filter((r) => !r.ok)).toEqual([]);
    await writeFile(path.join(dir.path, 'envoy', 'zz-broken.yaml'), 'static_resources:\n  listeners:\n    - name: x\n      address: 42\n');
    const withBroken = await verifyEnvoy(dir.path, envoy!);
    const broken = withBroken.find((r) => r.file === 'envoy/zz-broken.yaml');
    expect(broken?.ok).toBe(false);
    expect(broken?.output).not.toBe('');
    expect(await verifyEnvoy(path.join(dir.path, 'nowhere'), envoy!)).toEqual([]);
  });
});
