import { execa } from 'execa';
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixturePath, scratchDirs, VALID_FIXTURES } from '../support/build.js';

/** The built binary, as a user runs it (npm test builds first). */
const bin = new URL('../../bin/meshc.js', import.meta.url).pathname;
const meshc = (args: string[], cwd?: string) => execa('node', [bin, ...args], { reject: false, cwd, env: { NO_COLOR: '1' }, extendEnv: true });
const scratch = scratchDirs('meshc-explain-');

describe('meshc explain', () => {
  it('allowed: exit 0 and every reason at mesh.yaml:LINE:COL', async () => {
    const r = await meshc(['explain', 'frontend', 'catalog', '-f', fixturePath('shop')]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/^ALLOWED {2}frontend → catalog: allowed/);
    expect(r.stdout).toMatch(/shop\/mesh\.yaml:\d+:\d+ {2}upstream {2}frontend lists catalog/);
    expect(r.stdout).toMatch(/shop\/mesh\.yaml:\d+:\d+ {2}allow-from {2}catalog allows frontend/);
    expect(r.stdout).toMatch(/shop\/mesh\.yaml:\d+:\d+ {2}load-balancing {2}catalog is load-balanced least_request/);
  });

  it('refused: exit 1, the reasons and the nearest change; JSON carries the same with positions', async () => {
    const r = await meshc(['explain', 'frontend', 'evil.example.com', '-f', fixturePath('shop')]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain('REFUSED');
    expect(r.stdout).toMatch(/to allow it:\n {4}\S+mesh\.yaml:23:15 {2}add evil\.example\.com to spec\.services\.frontend\.egress/);
    const j = await meshc(['explain', 'internet', 'https://api.shop.example.com/admin', '-f', fixturePath('shop'), '--format', 'json']);
    expect(j.exitCode).toBe(1);
    const e = JSON.parse(j.stdout);
    expect(e).toMatchObject({ from: 'internet', kind: 'ingress', decision: 'deny', refusals: ['no-route'] });
    expect(e.reasons.map((x: { code: string }) => x.code)).toEqual(['ingress-host', 'no-route']);
    expect(e.reasons[1]).toMatchObject({ pointer: '/spec/ingress/hosts/api.shop.example.com/routes', line: 120, col: 11 });
  });

  it('exit 2 for an unknown name (with a suggestion), and for an invalid mesh (its diagnostics printed)', async () => {
    const r = await meshc(['explain', 'frontend', 'catalg', '-f', fixturePath('shop')]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('did you mean `catalog`?');
    const invalid = new URL('../../fixtures/invalid/', import.meta.url).pathname;
    // One of each stage (YAML, schema, rules); every invalid fixture is refused by the same validate().
    for (const name of ['malformed-yaml', 'unknown-field', 'self-call']) {
      const x = await meshc(['explain', 'web', 'api', '-f', join(invalid, name, 'mesh.yaml')]);
      expect(x.exitCode, name).toBe(2);
      expect(x.stderr, name).toMatch(/mesh\.yaml:\d+:\d+ {2}error {2}/);
      expect(x.stderr, name).toContain('mesh.yaml is invalid');
      expect(x.stderr, name).not.toContain('    at ');
    }
  });
});

describe('meshc test (static)', () => {
  for (const name of VALID_FIXTURES) {
    it(`${name}: every expectation in its mesh.test.yaml holds (exit 0)`, async () => {
      const r = await meshc(['test', '-f', fixturePath(name)]);
      expect(r.exitCode, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/static: \d+ passed, 0 failed/);
    });
  }

  it('a contradicting expectation fails with what explain says (exit 1); JUnit and JSON say the same', async () => {
    const dir = await scratch();
    await copyFile(fixturePath('shop'), join(dir, 'mesh.yaml'));
    await writeFile(join(dir, 'mesh.test.yaml'), 'tests:\n  - { from: frontend, to: catalog, expect: allow }\n  - { from: frontend, to: payments, expect: allow }\n');
    const r = await meshc(['test'], dir);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain('PASS  frontend → catalog: allow');
    expect(r.stdout).toContain('FAIL  mesh.test.yaml:3:5  frontend → payments: expected allow, but the policy refuses it');
    expect(r.stdout).toMatch(/mesh\.yaml:\d+:\d+ {2}not-allowed {2}payments's allowFrom does not list frontend/);
    expect(r.stdout).toContain('add frontend to spec.services.payments.allowFrom');
    expect(r.stdout).toContain('static: 1 passed, 1 failed');
    const x = await meshc(['test', '--format', 'junit'], dir);
    expect(x.exitCode).toBe(1);
    expect(x.stdout).toContain('<testsuites name="meshc test" tests="2" failures="1">');
    expect(x.stdout).toContain('<failure message="expected allow, but the policy refuses it">mesh.test.yaml:3:5');
    expect(x.stdout).toContain('not-allowed  payments&apos;s'.replace('&apos;', "'"));
    const j = JSON.parse((await meshc(['test', '--format', 'json'], dir)).stdout);
    expect(j).toMatchObject({ mode: 'static', passed: 1, failed: 1 });
    expect(j.results[1]).toMatchObject({ passed: false, line: 3, col: 5, explanation: { decision: 'deny' } });
  });

  it('a tests file that breaks its schema or names nothing is an error at its position (exit 2)', async () => {
    const dir = await scratch();
    await copyFile(fixturePath('shop'), join(dir, 'mesh.yaml'));
    await writeFile(join(dir, 'mesh.test.yaml'), 'tests:\n  - { from: frontend, to: catalog, expect: alow }\n  - { from: frontnd, to: catalog, expect: allow, rout: cart }\n');
    const r = await meshc(['test'], dir);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('mesh.test.yaml:2:44  error  invalid-value  tests.0.expect is "alow"; expected one of allow, deny');
    expect(r.stderr).toContain('did you mean "allow"?');
    expect(r.stderr).toMatch(/mesh\.test\.yaml:3:\d+ {2}error {2}unknown-field {2}unknown field "rout"/);
    await writeFile(join(dir, 'mesh.test.yaml'), 'tests:\n  - { from: frontnd, to: catalog, expect: allow }\n');
    const n = await meshc(['test'], dir);
    expect(n.exitCode).toBe(2);
    expect(n.stderr).toContain('mesh.test.yaml:2:13  error  invalid-test  FROM must be a service');
    expect(n.stderr).toContain('did you mean `frontend`?');
    const none = await meshc(['test', '-f', join(dir, 'mesh.yaml'), '--tests', join(dir, 'nope.yaml')]);
    expect(none.exitCode).toBe(2);
  });
});
