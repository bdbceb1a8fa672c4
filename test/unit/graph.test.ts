import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callDepths, layout, meshGraph, renderGraph, GRAPH_FORMATS } from '../../src/graph/index.js';
import type { Mesh } from '../../src/model/mesh.js';
import { validate } from '../../src/pipeline/validate.js';
import { fixturePath, tmp } from '../support/build.js';

/** The normalized mesh of a file, with no target checks (the graph is about policy). */
async function meshOf(file: string): Promise<Mesh> {
  const v = await validate({ file, targets: [] });
  expect(v.ok, JSON.stringify(v.diagnostics)).toBe(true);
  return v.mesh!;
}

let dir: string;
beforeAll(async () => {
  dir = await tmp('meshc-graph-');
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

async function meshFromYaml(name: string, yaml: string): Promise<Mesh> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, yaml);
  return meshOf(file);
}

const SMALL = `apiVersion: meshc.dev/v1
kind: Mesh
metadata: { name: small }
spec:
  trustDomain: small.example
  namespace: small
  services:
    web:
      port: 8080
      image: web:1
      upstreams: [api, audit]
      egress: [api.example.com]
    api:
      port: 8080
      image: api:1
      allowFrom: [web, worker]
      upstreams: [web]
      loadBalancing: { policy: ring_hash, hashOn: { header: x-user-id } }
    audit:
      port: 8080
      image: audit:1
    worker:
      port: 8080
      image: worker:1
  egress:
    allow: ["*.googleapis.com"]
  ingress:
    hosts:
      www.example.com:
        routes:
          - { pathPrefix: /, service: web }
`;

describe('meshGraph', () => {
  it('has services, hosts, domains and the every-service node, and labels calls with the callee policy', async () => {
    const g = meshGraph(await meshFromYaml('small', SMALL));
    expect(g.nodes.map((n) => n.id)).toEqual([
      'host:www.example.com',
      'service:api',
      'service:audit',
      'service:web',
      'service:worker',
      'every-service',
      'domain:*.googleapis.com',
      'domain:api.example.com',
    ]);
    const edge = (from: string, to: string) => g.edges.find((e) => e.from === from && e.to === to);
    expect(edge('service:web', 'service:api')).toMatchObject({ kind: 'call', label: 'ring_hash(header x-user-id)', allowed: true });
    // audit has no allowFrom: the call is drawn and marked as refused.
    expect(edge('service:web', 'service:audit')).toMatchObject({ kind: 'call', label: 'round_robin', allowed: false });
    // api calls web, which allows nobody.
    expect(edge('service:api', 'service:web')).toMatchObject({ kind: 'call', allowed: false });
    // worker may call api but does not.
    expect(edge('service:worker', 'service:api')).toMatchObject({ kind: 'allow' });
    expect(edge('host:www.example.com', 'service:web')).toMatchObject({ kind: 'route', label: '/' });
    expect(edge('service:web', 'domain:api.example.com')).toMatchObject({ kind: 'egress' });
    expect(edge('every-service', 'domain:*.googleapis.com')).toMatchObject({ kind: 'egress', label: 'mesh-wide' });
    // The mesh-wide domain is drawn once, not once per service.
    expect(g.edges.filter((e) => e.to === 'domain:*.googleapis.com')).toHaveLength(1);
  });

  it('gives every service a finite call depth, also with a cycle', async () => {
    const g = meshGraph(await meshFromYaml('small2', SMALL));
    const d = callDepths(g);
    expect(d.get('service:worker')).toBe(0);
    expect(d.get('service:audit')).toBe((d.get('service:web') ?? 0) + 1);
    for (const v of d.values()) expect(Number.isFinite(v)).toBe(true);
  });

  it('lays the shop out left to right: hosts, services by depth, domains; no two boxes overlap', async () => {
    const g = meshGraph(await meshOf(fixturePath('shop')));
    const L = await layout(g);
    const boxes = [...L.boxes.values()];
    const x = (id: string) => L.boxes.get(id)!.x;
    expect(x('host:shop.example.com')).toBeLessThan(x('service:frontend'));
    expect(x('service:cart')).toBeGreaterThan(x('service:frontend'));
    expect(x('service:catalog')).toBeGreaterThan(x('service:search'));
    for (const b of boxes) if (b.node.kind !== 'egress-domain') expect(x('domain:api.stripe.com')).toBeGreaterThan(b.x);
    for (const a of boxes)
      for (const b of boxes) {
        if (a === b) continue;
        const overlap = a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
        expect(overlap, `${a.node.id} overlaps ${b.node.id}`).toBe(false);
      }
    for (const b of boxes) {
      expect(b.x + b.width).toBeLessThanOrEqual(L.width);
      expect(b.y + b.height).toBeLessThanOrEqual(L.height);
    }
    expect(L.frames.map((f) => f.kind).sort()).toEqual(['egress', 'ingress']);
    expect(L.edges).toHaveLength(g.edges.length);
    // Every segment is horizontal or vertical and stays out of every box but its two ends.
    for (const r of L.edges) {
      expect(r.points.length, `${r.edge.from} -> ${r.edge.to}`).toBeGreaterThanOrEqual(2);
      for (let i = 1; i < r.points.length; i++) {
        const [p, q] = [r.points[i - 1], r.points[i]];
        expect(Math.abs(p.x - q.x) < 0.5 || Math.abs(p.y - q.y) < 0.5, `${r.edge.from} -> ${r.edge.to} is orthogonal`).toBe(true);
        for (const b of boxes) {
          if (b.node.id === r.edge.from || b.node.id === r.edge.to) continue;
          const crosses = Math.max(p.x, q.x) > b.x && Math.min(p.x, q.x) < b.x + b.width && Math.max(p.y, q.y) > b.y && Math.min(p.y, q.y) < b.y + b.height;
          expect(crosses, `${r.edge.from} -> ${r.edge.to} crosses ${b.node.id}`).toBe(false);
        }
      }
    }
  });

  it('draws a mesh without ingress or egress (no frames, services left to right by call depth)', async () => {
    const mesh = await meshOf(fixturePath('minimal'));
    const L = await layout(meshGraph(mesh));
    expect(L.frames).toEqual([]);
    expect(L.boxes.get('service:web')!.x).toBeLessThan(L.boxes.get('service:db')!.x);
    for (const f of GRAPH_FORMATS) expect((await renderGraph(mesh, f)).length).toBeGreaterThan(100);
  });

  it('renders every format deterministically', async () => {
    const mesh = await meshOf(fixturePath('shop'));
    for (const f of GRAPH_FORMATS) expect(await renderGraph(mesh, f)).toBe(await renderGraph(await meshOf(fixturePath('shop')), f));
  });

  it('escapes names in every format (a host with a wildcard, labels with quotes never appear raw)', async () => {
    const mesh = await meshFromYaml('small3', SMALL);
    const html = await renderGraph(mesh, 'html');
    expect(html).toContain('<text class="label"');
    expect(html).toContain('<p class="meta">4 services, 1 ingress host, 2 egress domains</p>');
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    const mermaid = await renderGraph(mesh, 'mermaid');
    expect(mermaid).toContain('flowchart LR');
    expect(mermaid).toMatch(/service_web -\.->\|"NOT ALLOWED: round_robin"\| service_audit/);
    const dot = await renderGraph(mesh, 'dot');
    expect(dot).toContain('"service:web" -> "service:audit" [label="NOT ALLOWED: round_robin", color="#dc2626"');
    expect(JSON.parse(await renderGraph(mesh, 'json')).edges.length).toBeGreaterThan(0);
  });
});

describe('graph golden files (UPDATE_GOLDEN=1 rewrites them)', () => {
  const goldenDir = new URL('../golden/graph/', import.meta.url).pathname;
  const ext = { mermaid: 'mmd', dot: 'dot', json: 'json', html: 'html' } as const;
  for (const f of GRAPH_FORMATS) {
    it(`shop.${ext[f]}`, async () => {
      const text = await renderGraph(await meshOf(fixturePath('shop')), f);
      const p = join(goldenDir, `shop.${ext[f]}`);
      if (process.env.UPDATE_GOLDEN) {
        await mkdir(goldenDir, { recursive: true });
        await writeFile(p, text);
      }
      expect(text).toBe(await readFile(p, 'utf8'));
    });
  }
});
