import { execa } from 'execa';
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixturePath, tmp } from '../support/build.js';

/** Inputs meshc must refuse with one clear line, never a hang, a crash or a stack trace. */
const bin = new URL('../../bin/meshc.js', import.meta.url).pathname;
const meshc = (args: string[], cwd?: string) => execa('node', [bin, ...args], { reject: false, cwd, env: { NO_COLOR: '1' }, extendEnv: true, timeout: 60_000 });
/** Through bash, for process substitution: `<(yes "a: b")` is a pipe that never ends. */
const meshcSh = (script: string, cwd: string) => execa('bash', ['-c', script], { reject: false, cwd, env: { NO_COLOR: '1', MESHC: bin }, extendEnv: true, timeout: 60_000 });

let dir: string;
beforeAll(async () => {
  dir = await tmp('meshc-refused-');
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

const noStack = (s: string) => expect(s).not.toMatch(/\n\s+at |EPIPE|Invalid string length/);

describe('input size is bounded while reading, for every kind of file', () => {
  for (const cmd of ['validate', 'build']) {
    it(`${cmd} -f /dev/zero stops at 4 MiB: file-too-large, exit 1`, async () => {
      const r = await meshc([cmd, '-f', '/dev/zero', ...(cmd === 'build' ? ['-o', join(dir, 'z-out'), '--state', join(dir, 'z-state')] : [])]);
      expect(r.exitCode).toBe(1);
      expect(r.stdout + r.stderr).toContain('/dev/zero:1:1  error  file-too-large  /dev/zero holds more than 4194304 bytes (reading stopped there)');
      expect(r.stdout + r.stderr).toContain('hint: a mesh.yaml is hand-written and small');
      noStack(r.stderr);
    });

    it(`${cmd} -f <(yes "a: b") (a pipe without end) stops at 4 MiB: file-too-large, exit 1`, async () => {
      const extra = cmd === 'build' ? `-o ${join(dir, 'y-out')} --state ${join(dir, 'y-state')}` : '';
      const r = await meshcSh(`node "$MESHC" ${cmd} -f <(yes "a: b") ${extra}`, dir);
      expect(r.exitCode).toBe(1);
      expect(r.stdout + r.stderr).toMatch(/\/dev\/fd\/\d+:1:1 {2}error {2}file-too-large {2}\/dev\/fd\/\d+ holds more than 4194304 bytes/);
      noStack(r.stderr);
    });
  }

  it('a mesh through a pipe still builds (read once, within the limit)', async () => {
    const r = await meshcSh(`node "$MESHC" validate -f <(cat ${fixturePath('minimal')})`, dir);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/is valid/);
  });

  it('a supplied keyFile of /dev/zero is refused after 1 MiB, in validate and build alike', async () => {
    const d = join(dir, 'tls');
    await mkdir(d, { recursive: true });
    const mesh = (await readFile(fixturePath('minimal'), 'utf8')) + ['  ingress:', '    hosts:', '      shop.example.com:', '        tls: { certFile: cert.pem, keyFile: /dev/zero }', '        routes:', '          - { pathPrefix: /, service: web }', ''].join('\n');
    await writeFile(join(d, 'mesh.yaml'), mesh);
    await writeFile(join(d, 'cert.pem'), 'not a certificate\n');
    const v = await meshc(['validate', '-f', 'mesh.yaml'], d);
    const b = await meshc(['build', '-f', 'mesh.yaml'], d);
    for (const r of [v, b]) {
      expect(r.exitCode).toBe(1);
      expect(r.stdout + r.stderr).toContain('mesh.yaml:27:45  error  ingress-tls-too-large  the key file /dev/zero of ingress host shop.example.com holds more than 1048576 bytes');
      // validate gives the build's verdict on supplied files (one verdict for one mesh).
      expect(r.stdout + r.stderr).toContain('mesh.yaml:27:26  error  ingress-tls-invalid  cert.pem holds no readable PEM certificate');
      noStack(r.stderr);
    }
    expect(v.stdout).toContain('mesh.yaml is invalid: 2 errors');
    expect(await readdir(d)).not.toContain('out');
  });
});

describe('deep nesting is one too-deep diagnostic at one position', () => {
  const cases = {
    // 10,000 levels of flow lists and of flow maps; 2,400 block levels (one space each, under 4 MiB).
    'flow-lists': { text: `a: ${'['.repeat(10_000)}${']'.repeat(10_000)}\n`, at: '1:67' },
    'flow-maps': { text: `a: ${'{b: '.repeat(10_000)}1${'}'.repeat(10_000)}\n`, at: '1:256' },
    block: { text: Array.from({ length: 2_400 }, (_, i) => `${' '.repeat(i)}k:\n`).join('') + `${' '.repeat(2_400)}x\n`, at: '65:65' },
  };
  for (const [name, c] of Object.entries(cases)) {
    it(`${name}: validate and build report too-deep with the limit at ${c.at}`, async () => {
      const file = join(dir, `${name}.yaml`);
      await writeFile(file, c.text);
      const v = await meshc(['validate', '-f', file]);
      const b = await meshc(['build', '-f', file, '-o', join(dir, `${name}-out`), '--state', join(dir, `${name}-state`)]);
      const line = `${file}:${c.at}  error  too-deep  ${file} nests deeper than 64 levels here; meshc reads at most 64`;
      for (const r of [v, b]) {
        expect(r.exitCode).toBe(1);
        expect((r.stdout + r.stderr).split('\n')[0]).toContain(line);
        expect(r.stdout + r.stderr).not.toContain('Maximum call stack');
      }
    });
  }
});

describe('usage errors', () => {
  it("diff --against '' is a usage error (exit 2), not a comparison with out/", async () => {
    const r = await meshc(['diff', '-f', fixturePath('minimal'), '--against', '', '-o', join(dir, 'never')]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('meshc: --against needs a git revision, and it was given an empty one');
    expect(r.stdout).toBe('');
  });
});

/** Runs meshc with its stdout already closed by the reader (as `| head -1` does once it has its line). */
function withClosedStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('node', [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += String(d)));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('a closed stdout ends the command quietly, with its own exit code', () => {
  let out: string;
  beforeAll(async () => {
    out = join(dir, 'pipe-out');
    const b = await meshc(['build', '-f', fixturePath('minimal'), '-o', out, '--state', join(dir, 'pipe-state')]);
    expect(b.exitCode).toBe(0);
  });

  it('validate of an invalid mesh: exit 1, no EPIPE trace', async () => {
    const r = await withClosedStdout(['validate', '-f', new URL('../../fixtures/invalid/unknown-upstream/mesh.yaml', import.meta.url).pathname]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
  });

  it('diff with changes: exit 1, no EPIPE trace', async () => {
    // Another mesh than the one built into out/: its own state (a state belongs to one mesh).
    const r = await withClosedStdout(['diff', '-f', fixturePath('shop'), '-o', out, '--state', join(dir, 'pipe-state-shop')]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
  });

  it('verify with rejections: exit 1, no EPIPE trace', async () => {
    const r = await withClosedStdout(['verify', '-o', out, '--envoy', '/bin/false', '--nginx', '/bin/false', '--haproxy', '/bin/false']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
  });
});

describe('wording', () => {
  it('a key without a value is "empty", not "null null"', async () => {
    const file = join(dir, 'null.yaml');
    await writeFile(file, 'apiVersion: meshc.dev/v1\nkind: Mesh\nmetadata:\nspec:\n');
    const r = await meshc(['validate', '-f', file]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain(`${file}:3:10  error  wrong-type  metadata must be a mapping, not empty (the key has no value)`);
    expect(r.stdout).not.toContain('null null');
  });

  it('a second document is named as such, with what to do', async () => {
    const file = new URL('../../fixtures/invalid/multiple-documents/mesh.yaml', import.meta.url).pathname;
    const r = await meshc(['validate', '-f', file]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain(`${file}:9:1  error  multiple-documents  ${file} holds one mesh document, and a second one starts here`);
    expect(r.stdout).toContain('hint: remove the second `---`');
    expect(r.stdout).not.toContain('parseAllDocuments');
  });
});
