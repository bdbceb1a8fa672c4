import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assignDerivedPorts, derivedLocalPort, normalize } from '../../src/model/normalize.js';
import type { Mesh, Upstream } from '../../src/model/mesh.js';
import { validate } from '../../src/pipeline/validate.js';
import type { WrittenMesh } from '../../src/schema/written-mesh.js';

/**
 * A generated mesh: each service calls `fanOut` others picked by a fixed pseudo-random sequence,
 * and allows its callers. `extra`: services nobody calls, each calling the first.
 */
function generated(n: number, extra: string[] = [], fanOut = 5): WrittenMesh {
  const names = Array.from({ length: n }, (_, i) => `svc-${String(i).padStart(4, '0')}`);
  let seed = 5; // a sequence whose mesh has a home-port clash (asserted below)
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n;
  const calls = names.map((_, i) => {
    const picked = new Set<number>();
    while (picked.size < Math.min(fanOut, n - 1)) {
      const j = next();
      if (j !== i) picked.add(j);
    }
    return [...picked].map((j) => names[j]!);
  });
  const callers = new Map<string, string[]>(names.map((x) => [x, []]));
  calls.forEach((ups, i) => ups.forEach((u) => callers.get(u)!.push(names[i]!)));
  const services: WrittenMesh['spec']['services'] = {};
  names.forEach((name, i) => (services[name] = { port: 8080, upstreams: calls[i], allowFrom: callers.get(name)!.length ? callers.get(name) : undefined }));
  for (const name of extra) services[name] = { port: 8080, upstreams: [names[0]!] };
  return { apiVersion: 'meshc.dev/v1', kind: 'Mesh', metadata: { name: 'big' }, spec: { trustDomain: 'big.example', namespace: 'big', services } };
}

async function validateMesh(w: WrittenMesh) {
  const dir = await mkdtemp(join(tmpdir(), 'meshc-ports-'));
  try {
    const file = join(dir, 'mesh.yaml');
    await writeFile(file, JSON.stringify(w)); // JSON is YAML
    return await validate({ file, targets: [] });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Some caller has two upstreams whose home ports are equal: without resolution, a port-conflict. */
const homesCollide = (w: WrittenMesh) =>
  Object.values(w.spec.services).some((s) => {
    const homes = (s.upstreams as string[]).map(derivedLocalPort);
    return new Set(homes).size < homes.length;
  });

const portsOf = (m: Mesh) => new Map(m.services.flatMap((s) => s.upstreams.map((u) => [`${s.name}->${u.service}`, u.localPort] as const)));

describe('derived upstream ports at scale', () => {
  it('a 1,000-service mesh, five upstreams each, validates with no port-conflict (its home ports do collide)', async () => {
    const w = generated(1000);
    expect(homesCollide(w)).toBe(true);
    const r = await validateMesh(w);
    expect(r.diagnostics.filter((d) => d.code === 'port-conflict')).toEqual([]);
    expect(r.ok).toBe(true);
    for (const s of r.mesh!.services) expect(new Set(s.upstreams.map((u) => u.localPort)).size).toBe(s.upstreams.length);
  });

  it('a service calling 1,000 others gets 1,000 distinct ports', async () => {
    const w = generated(1001, [], 1);
    w.spec.services['svc-0000']!.upstreams = Object.keys(w.spec.services).filter((x) => x !== 'svc-0000');
    expect(homesCollide(w)).toBe(true);
    const r = await validateMesh(w);
    expect(r.diagnostics.filter((d) => d.code === 'port-conflict')).toEqual([]);
    const hub = r.mesh!.services.find((s) => s.name === 'svc-0000')!;
    expect(new Set(hub.upstreams.map((u) => u.localPort)).size).toBe(1000);
  });

  it('adding or removing services a caller does not call never moves its derived ports', () => {
    const before = portsOf(normalize(generated(1000)));
    const added = portsOf(normalize(generated(1000, ['aaa-new', 'zzz-new', 'svc-0000a'])));
    for (const [edge, port] of before) expect(added.get(edge), edge).toBe(port);
    // Removing one: the callers of the removed service change; every other edge keeps its port.
    const w = generated(1000);
    const callers = new Set(w.spec.services['svc-0500']!.allowFrom);
    delete w.spec.services['svc-0500'];
    for (const s of Object.values(w.spec.services)) s.upstreams = (s.upstreams as string[]).filter((u) => u !== 'svc-0500');
    const removed = portsOf(normalize(w));
    expect(removed.size).toBe(before.size - callers.size - 5);
    for (const [edge, port] of removed) if (!callers.has(edge.split('->')[0]!)) expect(port, edge).toBe(before.get(edge));
  });

  it('is the same on every build', () => {
    expect([...portsOf(normalize(generated(1000)))]).toEqual([...portsOf(normalize(generated(1000)))]);
  });
});

describe('assignDerivedPorts', () => {
  const up = (service: string, localPort?: number): Upstream => ({ service, localPort: localPort ?? derivedLocalPort(service), derivedPort: localPort === undefined });

  it('keeps every free home port; of two that share one, the first by name keeps it and the other takes the next free port', () => {
    const [a, b, c] = [up('a'), up('b'), up('c')];
    b.localPort = a.localPort; // as if "b" hashed like "a"
    const next = a.localPort === 29999 ? 20000 : a.localPort + 1;
    const list = [a, b, c];
    assignDerivedPorts(list, []);
    expect(a.localPort).toBe(derivedLocalPort('a'));
    expect(c.localPort).toBe(derivedLocalPort('c'));
    expect(b.localPort).toBe(next === c.localPort ? next + 1 : next);
  });

  it('moves a derived port off a pinned port and off the workload\'s own ports; pinned ports never move', () => {
    const pinned = up('p', derivedLocalPort('x'));
    const x = up('x');
    const y = up('y');
    assignDerivedPorts([pinned, x, y], [derivedLocalPort('y')]);
    expect(pinned.localPort).toBe(derivedLocalPort('x'));
    expect(x.localPort).not.toBe(derivedLocalPort('x'));
    expect(y.localPort).not.toBe(derivedLocalPort('y'));
    expect(new Set([pinned.localPort, x.localPort, y.localPort, derivedLocalPort('y')]).size).toBe(4);
  });
});
