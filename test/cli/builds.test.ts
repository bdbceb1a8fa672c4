import { execa } from 'execa';
import { cp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixturePath, tmp } from '../support/build.js';

/** Quiet, stable builds, through the built binary. */
const bin = new URL('../../bin/meshc.js', import.meta.url).pathname;
const meshc = (args: string[], cwd?: string) => execa('node', [bin, ...args], { reject: false, cwd, env: { NO_COLOR: '1' }, extendEnv: true });

let dir: string;
beforeAll(async () => {
  dir = await tmp('meshc-cli-builds-');
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

const diagnosticLines = (s: string) => s.split('\n').filter((l) => /^\S+:\d+:\d+ {2}(error|warning|note) {2}/.test(l));

describe('quiet, stable builds', () => {
  it('warnings go to stderr, the result to stdout, and a cached rebuild reports the same warnings (text and JSON)', async () => {
    const work = join(dir, 'shop');
    await cp(new URL('../../fixtures/shop/mesh.yaml', import.meta.url), join(work, 'mesh.yaml'), { recursive: true });
    const first = await meshc(['build', '-o', 'out'], work);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^wrote out: \d+ files \(\d+ added, 0 changed, 0 removed\)$/);
    const warnings = diagnosticLines(first.stderr);
    expect(warnings.length).toBeGreaterThan(0);
    const second = await meshc(['build', '-o', 'out'], work);
    expect(second.stdout).toBe('out is up to date (mesh.yaml, certificates and meshc unchanged since the last build)');
    expect(second.stderr).toBe(first.stderr);

    const jsonOut = ['build', '-o', 'out-json', '--format', 'json'];
    const j1 = JSON.parse((await meshc(jsonOut, work)).stdout) as { cached: boolean; diagnostics: unknown[] };
    const j2 = JSON.parse((await meshc(jsonOut, work)).stdout) as { cached: boolean; diagnostics: unknown[] };
    expect([j1.cached, j2.cached]).toEqual([false, true]);
    expect(j1.diagnostics.length).toBe(warnings.length);
    expect(j2.diagnostics).toEqual(j1.diagnostics);

    // --quiet: nothing at all for a build with only warnings, cached or not.
    for (const args of [['build', '-o', 'out', '--quiet'], ['build', '-o', 'out-quiet', '-q']]) {
      const q = await meshc(args, work);
      expect(q.exitCode).toBe(0);
      expect(q.stdout + q.stderr, args.join(' ')).toBe('');
    }
  });

  it('--quiet still prints the errors of an invalid mesh, and nothing else', async () => {
    const r = await meshc(['build', '-q', '-f', new URL('../../fixtures/invalid/unknown-upstream/mesh.yaml', import.meta.url).pathname, '-o', join(dir, 'bad-out')]);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines.filter((l) => !l.startsWith('    hint:')).every((l) => / {2}error {2}/.test(l) || l.endsWith('nothing was written'))).toBe(true);
    expect(diagnosticLines(r.stderr).length).toBeGreaterThan(0);
  });

  it("the shop: one warning per place (targets grouped), no advice to set what is set, no warning for a default it never wrote", async () => {
    const r = await meshc(['validate', '-f', fixturePath('shop')]);
    const lines = diagnosticLines(r.stdout);
    for (const field of ['timeouts.request', 'retries.perTryTimeout', 'connectionLimits.maxConnections']) expect(lines.filter((l) => l.includes(` express ${field} only partly`)), field).toHaveLength(1);
    expect(r.stdout).toContain('nginx and haproxy express retries.perTryTimeout only partly');
    expect(r.stdout).not.toContain('set spec.dns.resolvers'); // the shop sets them
  });

  it("meshc init's template builds without a warning about defaults or settings it does not write", async () => {
    const work = join(dir, 'init');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(work);
    expect((await meshc(['init'], work)).exitCode).toBe(0);
    const r = await meshc(['build'], work);
    expect(r.exitCode, r.stderr).toBe(0);
    // The one warning left is a real difference for Istio users: a wildcard egress domain.
    const warnings = diagnosticLines(r.stderr).filter((l) => !/ {2}note {2}/.test(l));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^mesh\.yaml:\d+:\d+ {2}warning {2}partially-supported-feature {2}istio expresses egress wildcard/);
    expect(r.stderr).not.toContain('maxEjectionPercent');
  });

  it('progress on a terminal covers certificates and the rendering and writing of files', async () => {
    // 40 services: enough certificates and files for the counters to show.
    const services = Array.from({ length: 40 }, (_, i) => `    s${i}:\n      port: 8080\n      image: s${i}:1\n      upstreams: [s${(i + 1) % 40}]\n      allowFrom: [s${(i + 39) % 40}]\n`).join('');
    const work = join(dir, 'progress');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(work);
    await writeFile(join(work, 'mesh.yaml'), `apiVersion: meshc.dev/v1\nkind: Mesh\nmetadata: { name: big }\nspec:\n  trustDomain: big.example\n  namespace: big\n  services:\n${services}`);
    // `script` gives the command a terminal, as a person has.
    const r = await execa('script', ['-qec', `node ${bin} build -o out`, '/dev/null'], { cwd: work, reject: false, env: { NO_COLOR: '1' }, extendEnv: true });
    expect(r.exitCode, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/issuing certificates: \d+\/\d+/);
    expect(r.stdout).toMatch(/rendering and writing: \d+ files/);
    expect(r.stdout).toMatch(/wrote out: \d+ files/);
    const plain = await meshc(['build', '-o', 'out2'], work);
    expect(plain.stderr).not.toMatch(/issuing certificates|rendering and writing/);
  });
});
