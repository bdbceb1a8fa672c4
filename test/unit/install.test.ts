/**
 * `meshc install`: one workload's files copied into a stable directory with the kubelet's layout,
 * swapped by one rename; the unit-level guarantees. That running proxies pick the files up is
 * proven with the real proxies in test/integration/scenarios/live-rotation.ts.
 */
import { mkdir, readdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { certsRotate } from '../../src/certs/index.js';
import { installWorkload } from '../../src/output/install.js';
import { build } from '../../src/pipeline/build.js';
import { buildInto, fixturePath, FIXED_CLOCK } from '../support/build.js';

describe('meshc install', async () => {
  const b = await buildInto(fixturePath('minimal'));
  afterAll(() => b.cleanup());
  const to = join(b.dir, 'run', 'api');

  it('copies the workload config, the SDS files and exactly the certificates and keys they name', async () => {
    const r = await installWorkload({ out: b.out, workload: 'api', to });
    expect(r.changed).toBe(true);
    expect(r.files).toEqual([
      'certs/api.pem',
      'certs/ca-bundle.pem',
      'envoy/api.yaml',
      'envoy/sds/identity/api.yaml',
      'envoy/sds/trust-bundle.yaml',
      'haproxy/api.cfg',
      'nginx/api.conf',
      'secrets/api.key',
      'secrets/haproxy/api.pem',
    ]);
    expect(await readlink(join(to, '..data'))).toBe(r.generation);
    for (const top of ['certs', 'envoy', 'haproxy', 'nginx', 'secrets']) expect(await readlink(join(to, top))).toBe(`..data/${top}`);
    for (const p of r.files) expect(await readFile(join(to, p), 'utf8'), p).toBe(await readFile(join(b.out, p), 'utf8'));
    expect((await stat(join(to, 'secrets/api.key'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(to, 'secrets/haproxy/api.pem'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(to, r.generation, 'secrets'))).mode & 0o777).toBe(0o700);
    // No other workload's key.
    expect(await readdir(join(to, 'secrets'))).toEqual(['api.key', 'haproxy']);
  });

  it('does nothing when the files are unchanged, and swaps ..data to a new generation when they change', async () => {
    const first = await installWorkload({ out: b.out, workload: 'api', to });
    expect(first.changed).toBe(false);
    await certsRotate(b.result.mesh!, { stateDir: b.state, meshDir: join(fixturePath('minimal'), '..'), clock: FIXED_CLOCK, services: ['api'] });
    expect((await build({ file: fixturePath('minimal'), out: b.out, state: b.state, clock: FIXED_CLOCK })).ok).toBe(true);
    const second = await installWorkload({ out: b.out, workload: 'api', to });
    expect(second.changed).toBe(true);
    expect(second.generation).not.toBe(first.generation);
    expect(await readlink(join(to, '..data'))).toBe(second.generation);
    expect(await readFile(join(to, 'certs/api.pem'), 'utf8')).toBe(await readFile(join(b.out, 'certs/api.pem'), 'utf8'));
    // The old generation is gone; nothing else is left behind.
    expect((await readdir(to)).sort()).toEqual(['..data', second.generation, 'certs', 'envoy', 'haproxy', 'nginx', 'secrets'].sort());
  });

  it('installs only the targets asked for', async () => {
    const r = await installWorkload({ out: b.out, workload: 'ingress-gateway', to: join(b.dir, 'run', 'gw'), targets: ['envoy'] });
    expect(r.files.every((p) => !p.startsWith('nginx/') && !p.startsWith('haproxy/'))).toBe(true);
    expect(r.files).toContain('envoy/ingress-gateway.yaml');
  });

  it('refuses an unknown workload, naming the known ones, and a directory it did not make', async () => {
    await expect(installWorkload({ out: b.out, workload: 'nope', to: join(b.dir, 'run', 'nope') })).rejects.toMatchObject({
      message: expect.stringContaining('"nope"'),
      hint: expect.stringContaining('api, db, egress-gateway, ingress-gateway, web'),
    });
    const foreign = join(b.dir, 'run', 'foreign');
    await mkdir(join(foreign, 'certs'), { recursive: true });
    await writeFile(join(foreign, 'certs', 'mine.pem'), 'x');
    await expect(installWorkload({ out: b.out, workload: 'web', to: foreign })).rejects.toMatchObject({ message: expect.stringContaining('not meshc') });
    expect(await readdir(foreign)).toEqual(['certs']);
    await expect(installWorkload({ out: join(b.dir, 'nowhere'), workload: 'web', to: foreign })).rejects.toMatchObject({ message: expect.stringContaining('no meshc output') });
  });
});
