/**
 * `meshc test --live`: the shop example's expectations checked with real traffic through each
 * real proxy, and an expectation that contradicts the policy failing live with the reason it
 * fails statically.
 */
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { copyFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { proxyOrSkip, tempDir } from '../harness/index.js';
import { upPaths } from '../../src/local/up.js';
import { fixturePath } from '../support/build.js';
import { processesUsing } from './up-child.js';

const bin = new URL('../../bin/meshc.js', import.meta.url).pathname;
const meshc = (args: string[], cwd?: string) => execa('node', [bin, ...args], { reject: false, cwd, env: { NO_COLOR: '1' }, extendEnv: true, timeout: 240_000 });

interface LiveResult {
  passed: boolean;
  observed: string;
  test: { from: string; to: string; expect: string };
}

for (const target of ['envoy', 'nginx', 'haproxy'] as const) {
  const found = proxyOrSkip(target);
  describe.skipIf(!found.path)(`meshc test --live --target ${target}`, () => {
    it('the shop example: every expectation holds with real traffic, refusals by a proxy, and nothing is left', async () => {
      const r = await meshc(['test', '--live', '--target', target, '-f', fixturePath('shop'), '--format', 'json']);
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);
      const report = JSON.parse(r.stdout) as { mode: string; failed: number; results: LiveResult[] };
      expect(report.mode).toBe(`live (${target})`);
      expect(report.results.length).toBe(15);
      const by = (from: string, to: string) => report.results.find((x) => x.test.from === from && x.test.to === to)!.observed;
      expect(by('frontend', 'catalog')).toBe("live: served by catalog through frontend's sidecar");
      expect(by('frontend', 'payments')).toMatch(/payments's sidecar refused a call without a certificate \(.+\) and with frontend's \(HTTP 403\)/);
      expect(by('payments', 'js.stripe.network')).toBe('live: reached the stand-in for js.stripe.network');
      expect(by('frontend', 'evil.example.com')).toMatch(/frontend's sidecar dropped it .*the stand-in got no connection/);
      expect(by('internet', 'https://shop.example.com/api/cart/items')).toBe('live: served by cart');
      expect(by('internet', 'https://api.shop.example.com/admin')).toBe('live: the ingress gateway answered HTTP 404');
      const { dir, lock } = upPaths(fixturePath('shop'));
      expect(existsSync(dir)).toBe(false);
      expect(existsSync(lock)).toBe(false);
      expect(processesUsing(dir)).toEqual([]);
    });
  });
}

describe.skipIf(!proxyOrSkip('envoy').path)('an expectation that contradicts the policy', () => {
  let dir: Awaited<ReturnType<typeof tempDir>> | undefined;
  afterAll(async () => dir?.cleanup());

  it('fails statically and live with the same reason and the same explanation', async () => {
    dir = await tempDir('live-contradiction');
    await copyFile(fixturePath('minimal'), path.join(dir.path, 'mesh.yaml'));
    await writeFile(path.join(dir.path, 'mesh.test.yaml'), 'tests:\n  - { from: web, to: api, expect: allow }\n  - { from: web, to: db, expect: allow }\n');
    const fixed = await meshc(['test'], dir.path);
    const live = await meshc(['test', '--live'], dir.path);
    expect([fixed.exitCode, live.exitCode]).toEqual([1, 1]);
    const failure = 'FAIL  mesh.test.yaml:3:5  web → db: expected allow, but the policy refuses it';
    expect(fixed.stdout).toContain(failure);
    expect(live.stdout).toContain(failure);
    expect(live.stdout).toMatch(/\(live: web's sidecar has no listener for db; db's sidecar refused a call without a certificate/);
    // The explanation under the failure: the same lines, at the same mesh.yaml positions.
    const explanation = (out: string) => out.split('\n').filter((l) => l.startsWith('      '));
    expect(explanation(fixed.stdout).length).toBeGreaterThan(2);
    expect(explanation(live.stdout)).toEqual(explanation(fixed.stdout));
    expect(explanation(fixed.stdout).join('\n')).toContain('not-allowed  db\'s allowFrom does not list web');
    expect(fixed.stdout).toContain('static: 1 passed, 1 failed');
    expect(live.stdout).toContain('live (envoy): 1 passed, 1 failed');
  });
});
