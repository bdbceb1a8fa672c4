/**
 * meshc diff's incremental path (src/pipeline/partial.ts) against the full path: for single
 * changes to a service across the valid fixtures, both give the same report, and the incremental
 * path is really taken; for changes it does not handle, diff falls back to the full path.
 */
import { cp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { diffOutput, type DiffResult } from '../../src/output/diff.js';
import { emitSorted } from '../../src/targets/target.js';
import { TARGETS } from '../../src/targets/registry.js';
import { reachable } from '../../src/pipeline/partial.js';
import { buildInto, FIXED_CLOCK, fixturePath, VALID_FIXTURES } from '../support/build.js';
import { fakeCerts, loadFixture } from './k8s/support.js';

type Svc = Record<string, unknown> & { upstreams?: (string | Record<string, unknown>)[]; allowFrom?: string[]; egress?: string[] };
type Written = { spec: Record<string, unknown> & { services: Record<string, Svc> } };

/** Single-service changes, each given the mesh (to pick other names) and the service's name. */
const CHANGES: Record<string, (m: Written, name: string) => boolean> = {
  'load balancing': (m, n) => {
    const s = m.spec.services[n]!;
    s.loadBalancing = { policy: (s.loadBalancing as { policy?: string } | undefined)?.policy === 'random' ? 'least_request' : 'random' };
    return true;
  },
  'an upstream added': (m, n) => {
    const s = m.spec.services[n]!;
    const names = (s.upstreams ?? []).map((u) => (typeof u === 'string' ? u : (u.service as string)));
    const other = Object.keys(m.spec.services).find((x) => x !== n && !names.includes(x));
    if (!other) return false;
    s.upstreams = [...(s.upstreams ?? []), other];
    return true;
  },
  'an upstream removed': (m, n) => {
    const s = m.spec.services[n]!;
    if (!s.upstreams?.length) return false;
    s.upstreams = s.upstreams.slice(1);
    return true;
  },
  'a caller allowed': (m, n) => {
    const s = m.spec.services[n]!;
    const other = Object.keys(m.spec.services).find((x) => x !== n && !(s.allowFrom ?? []).includes(x));
    if (!other) return false;
    s.allowFrom = [...(s.allowFrom ?? []), other];
    return true;
  },
  'the port': (m, n) => {
    m.spec.services[n]!.port = 9191;
    return true;
  },
  'an egress domain': (m, n) => {
    const s = m.spec.services[n]!;
    s.egress = [...(s.egress ?? []), 'api.partial-test.example'];
    return true;
  },
  'retries and timeouts': (m, n) => {
    const s = m.spec.services[n]!;
    s.retries = { attempts: 4, perTryTimeout: '750ms', retryOn: ['connect-failure'] };
    s.timeouts = { connect: '3s', request: '12s' };
    return true;
  },
  'replicas and image': (m, n) => {
    const s = m.spec.services[n]!;
    s.replicas = 5;
    s.image = 'registry.example/changed:9.9.9';
    return true;
  },
};

interface Built {
  dir: string;
  out: string;
  state: string;
  file: string;
  written: Written;
}

const built = new Map<string, Built>();
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  for (const name of VALID_FIXTURES) {
    const b = await buildInto(fixturePath(name));
    cleanups.push(b.cleanup);
    expect(b.result.ok).toBe(true);
    const file = join(b.dir, 'mesh.yaml');
    await cp(fixturePath(name), file);
    built.set(name, { dir: b.dir, out: b.out, state: b.state, file, written: parse(await readFile(file, 'utf8')) as Written });
  }
}, 120_000);
afterAll(async () => Promise.all(cleanups.map((c) => c())));

/** diff both ways: as meshc runs it, and with the stamps removed (which forces the full path). */
async function bothWays(b: Built, text: string): Promise<[DiffResult, DiffResult]> {
  await writeFile(b.file, text);
  const fast = await diffOutput({ file: b.file, out: b.out, state: b.state, clock: FIXED_CLOCK });
  const fullState = join(b.dir, 'state-full');
  await rm(fullState, { recursive: true, force: true });
  await cp(b.state, fullState, { recursive: true });
  await rm(join(fullState, 'builds.json'), { force: true });
  const full = await diffOutput({ file: b.file, out: b.out, state: fullState, clock: FIXED_CLOCK });
  return [fast, full];
}

describe('meshc diff, incremental path', () => {
  for (const fixture of VALID_FIXTURES) {
    it(`gives the full path's report for single service changes (${fixture})`, async () => {
      const b = built.get(fixture)!;
      const names = Object.keys(b.written.spec.services);
      const picks = [...new Set([names[0]!, names[Math.floor(names.length / 2)]!, names[names.length - 1]!])];
      let compared = 0;
      for (const [label, change] of Object.entries(CHANGES)) {
        for (const n of picks) {
          const m = structuredClone(b.written);
          if (!change(m, n)) continue;
          const [fast, full] = await bothWays(b, stringify(m));
          if (!full.ok) continue; // a change this fixture rejects (a port clash, say): nothing to compare
          expect(fast.path, `${fixture}: ${label} on ${n}`).toBe('incremental');
          expect(full.path).toBe('full');
          expect(fast.report, `${fixture}: ${label} on ${n}`).toEqual(full.report);
          expect(fast.report!.changed).toBe(true);
          compared++;
        }
      }
      expect(compared).toBeGreaterThan(10);
      await writeFile(b.file, stringify(b.written));
    }, 120_000);
  }

  it('reports no change for an untouched mesh, incrementally', async () => {
    const b = built.get('shop')!;
    const [fast, full] = await bothWays(b, await readFile(fixturePath('shop'), 'utf8'));
    expect(fast.path).toBe('incremental');
    expect(fast.report).toEqual(full.report);
    expect(fast.report!.changed).toBe(false);
  });

  it('takes the full path for what it does not handle: mesh-wide settings, a new service, endpoints, a hand edit', async () => {
    const b = built.get('shop')!;
    const meshWide = structuredClone(b.written);
    meshWide.spec.namespace = 'other';
    const added = structuredClone(b.written);
    added.spec.services['brand-new'] = { port: 8080, image: 'registry.example/new:1' };
    const endpoints = structuredClone(b.written);
    const first = Object.keys(endpoints.spec.services)[0]!;
    endpoints.spec.services[first]!.endpoints = ['10.1.2.3:8080'];
    for (const m of [meshWide, added, endpoints]) {
      const [fast, full] = await bothWays(b, stringify(m));
      expect(fast.path).toBe('full');
      // Certificates issued in memory get fresh serials each run: compare what changes, not how.
      const files = (r: DiffResult) => r.report!.files.map((f) => `${f.status} ${f.path}`);
      expect(files(fast)).toEqual(files(full));
    }
    // A hand edit in out/: the old side cannot be trusted, so everything is compared.
    const victim = join(b.out, 'envoy', `${first}.yaml`);
    const before = await readFile(victim, 'utf8');
    await writeFile(victim, `${before}# edited\n`);
    const changed = structuredClone(b.written);
    CHANGES['load balancing']!(changed, first);
    const [fast, full] = await bothWays(b, stringify(changed));
    expect(fast.path).toBe('full');
    expect(fast.report!.files.map((f) => f.path)).toContain(`envoy/${first}.yaml`);
    expect(fast.report).toEqual(full.report);
    await writeFile(victim, before);
  });
});

describe('targets with `only`', () => {
  it('emit exactly the files of a full emit, per service, and every file that is no service\'s own', async () => {
    for (const fixture of VALID_FIXTURES) {
      const mesh = await loadFixture(fixture);
      const certs = fakeCerts(mesh);
      for (const target of TARGETS) {
        const all = new Map(emitSorted(target, mesh, certs).map((f) => [f.path, f]));
        const shared = [...target.emit(mesh, certs, new Set())];
        for (const f of shared) expect(all.get(f.path), `${target.name} ${f.path}`).toEqual(f);
        const covered = new Set(shared.map((f) => f.path));
        for (const s of mesh.services) {
          for (const f of target.emit(mesh, certs, new Set([s.name]))) {
            expect(all.get(f.path), `${target.name} ${f.path}`).toEqual(f);
            covered.add(f.path);
          }
        }
        expect([...covered].sort(), `${fixture} ${target.name}`).toEqual([...all.keys()]);
      }
    }
  });

  it('reachable: a change reaches the service, its upstreams and callers, and whoever calls it', async () => {
    const mesh = await loadFixture('shop');
    const changed = structuredClone(mesh);
    const cart = changed.services.find((s) => s.name === 'cart')!;
    cart.replicas = 9;
    const reach = reachable(mesh, changed)!;
    expect(reach.has('cart')).toBe(true);
    for (const u of cart.upstreams) expect(reach.has(u.service)).toBe(true);
    for (const s of mesh.services) if (s.upstreams.some((u) => u.service === 'cart')) expect(reach.has(s.name)).toBe(true);
    expect(reach.size).toBeLessThan(mesh.services.length);
    expect(reachable(mesh, { ...changed, namespace: 'x' })).toBeUndefined();
  });
});
