/**
 * Scenario 6: a CA rotation never breaks traffic between peers of adjacent steps (a rolling
 * deploy always has both), including peers holding leaves from different CAs.
 *
 * Output snapshots, taken with the certs module's own rotation (`certsRotate`) and a build after
 * each step:
 *   before     old CA only; leaves by the old CA
 *   bundled    (`rotate --ca`)     bundle = old + new; leaves unchanged (old CA)
 *   reissued   (`rotate --all`)    bundle = old + new; leaves re-issued by the new CA
 *   finished   (`rotate --finish`) bundle = new CA only
 * frontend calls catalog (mTLS both ways: each side verifies the other's leaf).
 */
import { X509Certificate } from 'node:crypto';
import { cp, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certsRotate } from '../../../src/certs/index.js';
import { httpGet, startHttpBackend, type Backend, type Proc } from '../../harness/index.js';
import type { ProxyDriver } from '../drivers/driver.js';
import { buildTestMesh, type TestMesh } from '../mesh-builder.js';

type Snapshot = 'before' | 'bundled' | 'reissued' | 'finished';

export function rotationScenario(driver: ProxyDriver): void {
  describe.skipIf(!driver.available)(`${driver.name}: CA rotation`, () => {
    let mesh: TestMesh;
    const backends: Backend[] = [];
    const snaps = {} as Record<Snapshot, string>;

    beforeAll(async () => {
      mesh = await buildTestMesh({
        targets: [driver.name],
        services: {
          frontend: { upstreams: ['catalog'] },
          catalog: { allowFrom: ['frontend'], replicas: 2 },
        },
      });
      const c = mesh.services.catalog;
      // Two catalog replicas (a backend each): the side-by-side test runs one per leaf generation.
      for (const addr of c.addresses) backends.push(await startHttpBackend({ name: 'catalog', host: addr, port: c.appPort }));
      const snap = async (name: Snapshot) => {
        snaps[name] = path.join(mesh.dir, `snap-${name}`);
        await cp(mesh.out, snaps[name], { recursive: true });
      };
      const stage = { stateDir: mesh.state, meshDir: mesh.dir, clock: () => new Date() };
      await snap('before');
      expect((await certsRotate(mesh.model, { ...stage, ca: true })).phase).toBe('ca-rotation');
      await mesh.rebuild();
      await snap('bundled');
      await certsRotate(mesh.model, { ...stage, all: true });
      await mesh.rebuild();
      await snap('reissued');
      expect((await certsRotate(mesh.model, { ...stage, finish: true })).phase).toBe('stable');
      await mesh.rebuild();
      await snap('finished');
    });

    afterAll(async () => {
      for (const b of backends) await b.close();
      await mesh?.cleanup();
    });

    /** Starts frontend from one snapshot and catalog from another, sends `count` requests, counts outcomes. */
    async function pair(frontendSnap: Snapshot, catalogSnap: Snapshot, count = 20): Promise<{ ok: number; failed: string[] }> {
      const procs: Proc[] = [];
      try {
        const c = mesh.services.catalog;
        procs.push(await driver.start(snaps[catalogSnap], 'catalog'));
        procs.push(await driver.start(snaps[catalogSnap], 'catalog', { rewrite: [c.addresses[0], c.addresses[1]] }));
        procs.push(await driver.start(snaps[frontendSnap], 'frontend'));
        const f = mesh.services.frontend;
        const url = `http://${f.addresses[0]}:${f.localPorts.catalog}/rotation`;
        let ok = 0;
        const failed: string[] = [];
        for (let i = 0; i < count; i++) {
          const r = await httpGet(url).then((res) => (res.status === 200 && res.body === 'catalog' ? 'ok' : `${res.status} ${res.body}`), (e: Error) => e.message);
          if (r === 'ok') ok++;
          else failed.push(r);
        }
        return { ok, failed };
      } finally {
        for (const p of procs.reverse()) await p.stop();
      }
    }

    it('the snapshots hold what each step promises (leaf issuers, bundle sizes)', async () => {
      const read = (snap: Snapshot, file: string) => readFile(path.join(snaps[snap], file), 'utf8');
      const count = (pem: string) => pem.match(/BEGIN CERTIFICATE/g)?.length ?? 0;
      expect(count(await read('before', 'certs/ca-bundle.pem'))).toBe(1);
      expect(count(await read('bundled', 'certs/ca-bundle.pem'))).toBe(2);
      expect(count(await read('finished', 'certs/ca-bundle.pem'))).toBe(1);
      const leaf = async (snap: Snapshot) => new X509Certificate(await read(snap, 'certs/catalog.pem')).fingerprint256;
      expect(await leaf('bundled')).toBe(await leaf('before'));
      expect(await leaf('reissued')).not.toBe(await leaf('bundled'));
    });

    it('control: before the rotation, traffic flows', async () => {
      expect(await pair('before', 'before')).toEqual({ ok: 20, failed: [] });
    });

    it('--ca: a peer on the previous output and one with the old+new bundle, both directions, zero failures', async () => {
      expect(await pair('before', 'bundled')).toEqual({ ok: 20, failed: [] });
      expect(await pair('bundled', 'before')).toEqual({ ok: 20, failed: [] });
    });

    it('--all: an old-CA leaf and a new-CA leaf (both with the old+new bundle), both directions, zero failures', async () => {
      expect(await pair('bundled', 'reissued')).toEqual({ ok: 20, failed: [] });
      expect(await pair('reissued', 'bundled')).toEqual({ ok: 20, failed: [] });
    });

    it('--all: old-CA and new-CA leaves serve side by side under continuous traffic, zero failures', async () => {
      // catalog replica 0 still has its old leaf, replica 1 its new one; frontend round-robins over both.
      const c = mesh.services.catalog;
      const before = backends.map((b) => b.requests.length);
      const procs: Proc[] = [];
      try {
        procs.push(await driver.start(snaps.bundled, 'catalog'));
        procs.push(await driver.start(snaps.reissued, 'catalog', { rewrite: [c.addresses[0], c.addresses[1]] }));
        procs.push(await driver.start(snaps.reissued, 'frontend'));
        const f = mesh.services.frontend;
        const url = `http://${f.addresses[0]}:${f.localPorts.catalog}/continuous`;
        const results = await Promise.all(
          Array.from({ length: 3 }, async () => {
            const out: string[] = [];
            for (let i = 0; i < 20; i++) out.push(await httpGet(url).then((r) => String(r.status), (e: Error) => e.message));
            return out;
          }),
        );
        expect(results.flat().filter((r) => r !== '200')).toEqual([]);
        // Both generations served.
        expect(backends.map((b, i) => b.requests.length - before[i] > 0)).toEqual([true, true]);
      } finally {
        for (const p of procs.reverse()) await p.stop();
      }
    });

    it('--finish: a peer still with the old+new bundle and one with the new bundle only, both directions, zero failures', async () => {
      expect(await pair('reissued', 'finished')).toEqual({ ok: 20, failed: [] });
      expect(await pair('finished', 'reissued')).toEqual({ ok: 20, failed: [] });
      expect(await pair('finished', 'finished')).toEqual({ ok: 20, failed: [] });
    });

    it('negative control: skipping steps breaks (the checks above can fail)', async () => {
      expect((await pair('before', 'finished', 3)).ok).toBe(0);
      expect((await pair('before', 'reissued', 3)).ok).toBe(0);
    });
  });
}
