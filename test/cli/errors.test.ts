import { execa } from 'execa';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixturePath, tmp } from '../support/build.js';

/** Errors at the real mistake, run through the built binary as a user would. */
const bin = new URL('../../bin/meshc.js', import.meta.url).pathname;
const meshc = (args: string[]) => execa('node', [bin, ...args], { reject: false, env: { NO_COLOR: '1' }, extendEnv: true });

let dir: string;
let shop: string;
beforeAll(async () => {
  dir = await tmp('meshc-cli-errors-');
  shop = await readFile(fixturePath('shop'), 'utf8');
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

/** The shop fixture with one edit; returns the path of the edited copy. */
async function shopWith(name: string, edit: (text: string) => string): Promise<string> {
  const text = edit(shop);
  expect(text, 'the edit applies').not.toBe(shop);
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, text);
  return file;
}

/** The diagnostic lines (`file:line:col  error  code  message`) and hints of a text run. */
function diagnostics(stdout: string): string[] {
  return stdout.split('\n').filter((l) => /^\S+:\d+:\d+ {2}(error|warning)/.test(l) || l.startsWith('    hint:'));
}

describe('errors that point at the real mistake', () => {
  it('one over-indented key: one error at the key, in words, naming the sibling', async () => {
    const file = await shopWith('over', (t) => t.replace('\n    inventory:\n', '\n        inventory:\n'));
    const r = await meshc(['validate', '-f', file]);
    expect(r.exitCode).toBe(1);
    expect(diagnostics(r.stdout)).toEqual([
      `${file}:59:9  error  yaml-indentation  \`inventory\` is indented 4 spaces more than its siblings (\`payments\` at line 50)`,
      '    hint: indent `inventory` by 4 spaces, like `payments`',
    ]);
  });

  it('an over-indented key with a value: at its own column, against the line above', async () => {
    const file = await shopWith('inline', (t) => t.replace('      replicas: 2\n      allowFrom: [checkout]', '      replicas: 2\n          allowFrom: [checkout]'));
    const r = await meshc(['validate', '-f', file]);
    expect(diagnostics(r.stdout)[0]).toBe(`${file}:55:11  error  yaml-indentation  \`allowFrom\` is indented 4 spaces more than its siblings (\`replicas\` at line 54)`);
    expect(diagnostics(r.stdout)).toHaveLength(2);
  });

  it('a key dedented too far: the key, not the siblings after it that no longer line up', async () => {
    const file = await shopWith('under', (t) => t.replace('\n    inventory:\n', '\n  inventory:\n'));
    const r = await meshc(['validate', '-f', file]);
    expect(diagnostics(r.stdout)).toEqual([
      `${file}:59:3  error  yaml-indentation  \`inventory\` is indented 2 spaces less than its siblings (\`payments\` at line 50)`,
      '    hint: indent `inventory` by 4 spaces, like `payments`',
    ]);
  });

  it('a tab: one error per tab, no cascade', async () => {
    const file = await shopWith('tab', (t) => t.replace('\n      port: 9090\n', '\n\t  port: 9090\n'));
    const r = await meshc(['validate', '-f', file]);
    expect(diagnostics(r.stdout)).toEqual([`${file}:51:1  error  yaml-tab  a tab character: YAML indents with spaces`, '    hint: replace the tab at the start of this line with spaces']);
  });

  it('other syntax errors: the first one only, saying the rest may follow from it', async () => {
    const file = await shopWith('quote', (t) => t.replace('image: ghcr.io/acme/payments:1.0.0', 'image: "ghcr.io/acme/payments:1.0.0'));
    const r = await meshc(['validate', '-f', file]);
    const d = diagnostics(r.stdout);
    expect(d).toHaveLength(2);
    expect(d[0]).toMatch(/:53:\d+ {2}error {2}yaml-syntax {2}Missing closing "quote/);
    expect(d[1]).toContain('errors after it often follow from it');
  });

  it('a duplicate key is named, with the line of the first', async () => {
    const file = await shopWith('dup', (t) => t.replace('      port: 9090\n', '      port: 9090\n      port: 9091\n'));
    const r = await meshc(['validate', '-f', file]);
    expect(diagnostics(r.stdout)).toEqual([
      `${file}:52:7  error  duplicate-key  duplicate key \`port\`: it is already set at line 51; a key may appear only once in a mapping`,
      '    hint: keep one `port`: remove or merge the other',
    ]);
  });

  it('an enum value gets the nearest allowed value, and no rule finding repeats it', async () => {
    const file = await shopWith('enum', (t) => t.replace('        policy: ring_hash\n        hashOn: { header: x-user-id }', '        policy: consistent_hash\n        hashOn: { header: x-user-id }'));
    const r = await meshc(['validate', '-f', file]);
    expect(diagnostics(r.stdout)).toEqual([
      `${file}:40:17  error  invalid-value  spec.services.cart.loadBalancing.policy is "consistent_hash"; expected one of round_robin, least_request, random, ring_hash, maglev`,
      '    hint: did you mean "ring_hash"?',
    ]);
    const typo = await shopWith('enum-typo', (t) => t.replace('policy: least_request, choiceCount: 2', 'policy: least-requests, choiceCount: 2'));
    expect((await meshc(['validate', '-f', typo])).stdout).toContain('hint: did you mean "least_request"?');
  });

  it('a port out of range says the range', async () => {
    const file = await shopWith('port', (t) => t.replace('      port: 9090\n', '      port: 80810\n'));
    const r = await meshc(['validate', '-f', file]);
    expect(diagnostics(r.stdout)).toEqual([`${file}:51:13  error  invalid-value  spec.services.payments.port is 80810, outside 1 to 65535`, '    hint: A TCP port. Use a whole number from 1 through 65535.']);
  });

  it('a service at the wrong level: says it belongs under services, and no cascade of unknown services', async () => {
    const file = await shopWith('level', (t) => {
      const lines = t.split('\n');
      const start = lines.indexOf('    inventory:');
      let end = start + 1;
      while (lines[end].startsWith('      ')) end++;
      // The whole block two spaces shallower: a key of spec, swallowing the services after it.
      for (let i = start; i < end; i++) lines[i] = lines[i].slice(2);
      return lines.join('\n');
    });
    const r = await meshc(['validate', '-f', file]);
    expect(diagnostics(r.stdout)).toEqual([`${file}:59:3  error  unknown-field  unknown field "inventory" in spec`, '    hint: "inventory" looks like a service: move it under spec.services (indent it like the other services)']);
  });

  it('certs rotate --service with a typo suggests the name', async () => {
    const r = await meshc(['certs', 'rotate', '-f', fixturePath('shop'), '--state', join(dir, 'state'), '--service', 'shiping']);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('meshc: unknown certificate "shiping"');
    expect(r.stderr).toContain('hint: did you mean "shipping"? known: cart,');
  });

  it('with --format json every error is JSON on stdout: I/O, usage, bad values, invalid mesh', async () => {
    const cases: [string[], number, string][] = [
      [['build', '-f', join(dir, 'nope.yaml'), '-o', join(dir, 'out'), '--format', 'json'], 2, 'user'],
      [['validate', '--bogus', '--format', 'json'], 2, 'usage'],
      [['build', '--format=json', '--targets', 'nope', '-f', fixturePath('shop'), '-o', join(dir, 'out')], 2, 'user'],
      [['certs', 'status', '--state', join(dir, 'no-state'), '--format', 'json'], 2, 'user'],
      [['verify', '-o', join(dir, 'missing-out'), '--format', 'json'], 2, 'user'],
    ];
    for (const [args, code, kind] of cases) {
      const r = await meshc(args);
      expect(r.exitCode, args.join(' ')).toBe(code);
      expect(r.stderr, args.join(' ')).toBe('');
      const j = JSON.parse(r.stdout) as { ok: boolean; error: { kind: string; message: string } };
      expect(j.ok).toBe(false);
      expect(j.error.kind, args.join(' ')).toBe(kind);
      expect(j.error.message.length).toBeGreaterThan(5);
    }
    const invalid = await meshc(['graph', '-f', new URL('../../fixtures/invalid/unknown-upstream/mesh.yaml', import.meta.url).pathname, '--format', 'json']);
    expect(invalid.exitCode).toBe(1);
    expect((JSON.parse(invalid.stdout) as { diagnostics: { code: string }[] }).diagnostics.map((d) => d.code)).toContain('unknown-service');
  });
});
