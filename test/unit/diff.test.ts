import { generateKeyPairSync } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Mesh } from '../../src/model/mesh.js';
import { buildReport, compareFiles, keyTokens, redact } from '../../src/output/diff.js';
import { formatDuration, formatLoadBalancing, summarizeFile, summarizeMeshes } from '../../src/output/summarize.js';
import { toJson } from '../../src/output/yaml.js';
import { validate } from '../../src/pipeline/validate.js';
import { buildInto, fixturePath, readTree, tmp } from '../support/build.js';

let dir: string;
beforeAll(async () => {
  dir = await tmp('meshc-diff-unit-');
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

async function meshFromYaml(name: string, yaml: string): Promise<Mesh> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, yaml);
  const v = await validate({ file, targets: [] });
  expect(v.ok, JSON.stringify(v.diagnostics)).toBe(true);
  return v.mesh!;
}

const BASE = `apiVersion: meshc.dev/v1
kind: Mesh
metadata: { name: m }
spec:
  trustDomain: m.example
  namespace: m
  services:
    frontend:
      port: 8080
      image: frontend:1
      upstreams: [cart]
    cart:
      port: 8080
      image: cart:1
      allowFrom: [frontend]
      timeouts: { request: 5s }
    catalog:
      port: 8080
      image: catalog:1
      allowFrom: [frontend, recommendations]
    recommendations:
      port: 8080
      image: recommendations:1
    payments:
      port: 9090
      image: payments:1
      egress: [api.stripe.com]
  egress:
    allow: [sentry.io]
  ingress:
    hosts:
      shop.example.com:
        routes:
          - { pathPrefix: /api/cart, service: cart }
          - { pathPrefix: /, service: frontend }
      api.shop.example.com:
        routes:
          - { pathPrefix: /, service: catalog }
`;

describe('summarizeMeshes', () => {
  it('says what changed per service, per ingress host and mesh-wide, in words', async () => {
    const a = await meshFromYaml('a', BASE);
    const changed = BASE.replace('      timeouts: { request: 5s }\n', '      timeouts: { request: 10s }\n      loadBalancing: { policy: ring_hash, hashOn: { header: x-user-id } }\n')
      .replace('upstreams: [cart]', 'upstreams: [cart, search]')
      .replace('allowFrom: [frontend, recommendations]', 'allowFrom: [frontend]')
      .replace('egress: [api.stripe.com]', 'egress: [api.stripe.com, api.paypal.com]')
      .replace('image: frontend:1', 'image: frontend:2')
      .replace('allow: [sentry.io]', 'allow: [sentry.io, "*.googleapis.com"]')
      .replace("          - { pathPrefix: /, service: frontend }\n", "          - { pathPrefix: /api/reviews, service: cart }\n          - { pathPrefix: /, service: frontend }\n")
      .replace("      api.shop.example.com:\n        routes:\n          - { pathPrefix: /, service: catalog }\n", '')
      .replace('  egress:\n', '    search:\n      port: 8080\n      image: search:1\n      allowFrom: [frontend]\n  egress:\n');
    const b = await meshFromYaml('b', changed);
    const lines = summarizeMeshes(a, b).map((s) => s.text);
    expect(lines).toEqual(
      expect.arrayContaining([
        'service added: search',
        'cart: load balancing round_robin → ring_hash(header x-user-id)',
        'cart: timeouts.request 5s → 10s',
        'frontend: upstream + search',
        'frontend: image frontend:1 → frontend:2',
        'catalog: allowFrom − recommendations',
        'payments: egress + api.paypal.com',
        'mesh-wide egress + *.googleapis.com',
        'ingress host removed: api.shop.example.com',
        'ingress shop.example.com: route + /api/reviews → cart',
      ]),
    );
    // Derived fields (callers, effective egress, SPIFFE ids) do not add lines of their own.
    expect(lines.join('\n')).not.toMatch(/callers|spiffeId|dnsNames/);
    expect(summarizeMeshes(a, a)).toEqual([]);
    expect(summarizeMeshes(b, a).map((s) => s.text)).toContain('service removed: search');
  });

  it('compares a mesh read back from summary/mesh.json equal to the one compiled (key order does not matter)', async () => {
    const a = await meshFromYaml('c', BASE);
    const readBack = JSON.parse(toJson(a)) as Mesh; // sorted keys, as summary/mesh.json holds it
    expect(Object.keys(readBack)).not.toEqual(Object.keys(a));
    expect(summarizeMeshes(readBack, a)).toEqual([]);
  });

  it('formats policies and durations', () => {
    expect(formatLoadBalancing({ policy: 'round_robin', choiceCount: 2 })).toBe('round_robin');
    expect(formatLoadBalancing({ policy: 'least_request', choiceCount: 3 })).toBe('least_request(choiceCount 3)');
    expect(formatLoadBalancing({ policy: 'ring_hash', choiceCount: 2, hashOn: { kind: 'cookie', name: 'sid', ttlSeconds: 3600, path: '/' } })).toBe('ring_hash(cookie sid, ttl 1h)');
    expect(formatLoadBalancing({ policy: 'maglev', choiceCount: 2, hashOn: { kind: 'sourceIp' } })).toBe('maglev(source ip)');
    expect([formatDuration(250), formatDuration(1500), formatDuration(60_000), formatDuration(5000)]).toEqual(['250ms', '1.5s', '1m', '5s']);
  });
});

describe('summarizeFile', () => {
  it('names Envoy listeners and clusters', () => {
    const a = 'static_resources:\n  listeners:\n    - name: inbound\n      port: 1\n  clusters:\n    - name: outbound|cart\n      lb: a\n    - name: outbound|old\n';
    const b = 'static_resources:\n  listeners:\n    - name: inbound\n      port: 2\n  clusters:\n    - name: outbound|cart\n      lb: b\n    - name: outbound|search\n';
    expect(summarizeFile('envoy/frontend.yaml', a, b).map((s) => s.text)).toEqual([
      'envoy/frontend.yaml: listener changed: inbound',
      'envoy/frontend.yaml: cluster added: outbound|search',
      'envoy/frontend.yaml: cluster removed: outbound|old',
      'envoy/frontend.yaml: cluster changed: outbound|cart',
    ]);
  });

  it('names Kubernetes and Istio objects by kind, namespace and name', () => {
    const a = '# header\napiVersion: apps/v1\nkind: Deployment\nmetadata: { name: cart, namespace: shop }\nspec: { replicas: 2 }\n---\napiVersion: v1\nkind: Service\nmetadata: { name: cart, namespace: shop }\n';
    const b = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: cart, namespace: shop }\nspec: { replicas: 3 }\n---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: { name: cart, namespace: shop }\n';
    expect(summarizeFile('k8s/cart.yaml', a, b).map((s) => s.text)).toEqual([
      'k8s/cart.yaml: AuthorizationPolicy shop/cart added',
      'k8s/cart.yaml: Service shop/cart removed',
      'k8s/cart.yaml: Deployment shop/cart changed',
    ]);
  });

  it('names HAProxy and nginx sections, and says nothing in words about secrets', () => {
    expect(summarizeFile('haproxy/cart.cfg', 'global\n  x\nbackend a\n  server 1\n', 'global\n  x\nbackend a\n  server 2\nbackend b\n').map((s) => s.text)).toEqual([
      'haproxy/cart.cfg: section added: backend b',
      'haproxy/cart.cfg: section changed: backend a',
    ]);
    expect(summarizeFile('secrets/cart.key', 'a', 'b')).toEqual([]);
  });
});

describe('redaction', () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const bodyLines = keyPem.split('\n').filter((l) => l && !l.startsWith('-----'));

  it('replaces key PEM blocks, their base64 (as in a Kubernetes Secret) and long base64 runs', () => {
    const secretYaml = `kind: Secret\ndata:\n  tls.key: ${Buffer.from(keyPem).toString('base64')}\nstringData:\n  key.pem: |\n${keyPem.split('\n').map((l) => `    ${l}`).join('\n')}\n`;
    const inlineJson = JSON.stringify({ inline_string: keyPem });
    for (const text of [keyPem, secretYaml, inlineJson, `truncated:\n${keyPem.slice(0, 120)}`]) {
      const r = redact(text, keyTokens(keyPem));
      expect(r).not.toContain('PRIVATE KEY');
      for (const l of bodyLines) expect(r).not.toContain(l);
      expect(r).not.toContain(Buffer.from(keyPem).toString('base64').slice(0, 40));
    }
  });

  it('keeps hex hashes and ordinary text', () => {
    const text = 'sha256: ' + 'a'.repeat(64) + '\nname: outbound|cart\nfilename: certs/ca-bundle.pem\n';
    expect(redact(text)).toBe(text);
  });
});

describe('buildReport', () => {
  it('gives no diff for secrets and redacts certificates to one line', async () => {
    const b = await buildInto(fixturePath('minimal'), { targets: ['summary'] });
    try {
      const tree = await readTree(b.out);
      const files = [...tree].map(([path, content]) => ({ path, content, mode: path.startsWith('secrets/') ? 0o600 : 0o644 })).filter((f) => f.path !== 'meshc-manifest.json');
      // api's certificate and key replaced by web's: both change, neither may show its body.
      const swap: Record<string, string> = { 'certs/api.pem': 'certs/web.pem', 'secrets/api.key': 'secrets/web.key' };
      const changedFiles = files.map((f) => (swap[f.path] ? { ...f, content: tree.get(swap[f.path])! } : f));
      const plan = compareFiles(files, changedFiles);
      expect(plan.changed).toEqual(['certs/api.pem', 'secrets/api.key']);
      const byPath = (list: typeof files) => async (p: string) => list.find((f) => f.path === p)?.content;
      const report = await buildReport(plan, { read: byPath(files) }, { read: byPath(changedFiles) }, { secrets: files.filter((f) => f.path.startsWith('secrets/')).map((f) => f.content) });
      expect(report.changed).toBe(true);
      const key = report.files.find((f) => f.path === 'secrets/api.key')!;
      expect(key.diff).toBeUndefined();
      expect(key.note).toContain('not shown');
      const cert = report.files.find((f) => f.path === 'certs/api.pem')!;
      expect(cert.diff).toMatch(/^-<certificate .*CN=api, serial [0-9a-f]+, expires \d{4}-\d\d-\d\d>$/m);
      expect(cert.diff).toMatch(/^\+<certificate .*CN=web, serial [0-9a-f]+, expires \d{4}-\d\d-\d\d>$/m);
      expect(report.summary.map((s) => s.text)).toEqual([expect.stringMatching(/^certificate api: rotated, serial [0-9a-f]+ → [0-9a-f]+, expires/)]);
      expect(JSON.stringify(report)).not.toMatch(/PRIVATE KEY|BEGIN CERTIFICATE/);
    } finally {
      await b.cleanup();
    }
  });
});

describe('renderDiff (text)', () => {
  const report = {
    changed: true,
    summary: [
      { scope: 'service' as const, subject: 'search', text: 'service added: search' },
      { scope: 'ingress' as const, subject: 'api.example.com', text: 'ingress host removed: api.example.com' },
    ],
    files: [
      { path: 'envoy/a.yaml', status: 'changed' as const, diff: '--- a/envoy/a.yaml\n+++ b/envoy/a.yaml\n@@ -1,1 +1,1 @@\n-x\n+y\n' },
      { path: 'secrets/a.key', status: 'changed' as const, note: 'private key: not shown' },
    ],
    notes: [],
  };

  it('colours with a colour-capable chalk and is plain without one', async () => {
    const { Chalk } = await import('chalk');
    const { renderDiff } = await import('../../src/cli/diff.js');
    const plain = renderDiff(report, { title: 't' }, new Chalk({ level: 0 }));
    // eslint-disable-next-line no-control-regex
    expect(plain).not.toMatch(/\u001b\[/);
    expect(plain).toContain('  service added: search\n');
    expect(plain).toContain('  changed  secrets/a.key  (private key: not shown)\n');
    expect(plain).toContain('\n-x\n+y\n');
    const colour = renderDiff(report, { title: 't' }, new Chalk({ level: 1 }));
    expect(colour).toContain('\u001b[32m+y\u001b[39m');
    expect(colour).toContain('\u001b[31m-x\u001b[39m');
    expect(colour).toContain('\u001b[32mservice added: search');
    expect(renderDiff(report, { title: 't', stat: true }, new Chalk({ level: 0 }))).not.toContain('+y');
    expect(renderDiff({ ...report, changed: false, summary: [], files: [] }, { title: 't' }, new Chalk({ level: 0 }))).toBe('no changes: t\n');
  });
});
