/** `meshc graph --metrics`: the errors a user meets before any number is drawn (the numbers themselves: test/integration/scenarios/metrics.ts). */
import { describe, expect, it } from 'vitest';
import { freePort } from '../harness/index.js';
import { meshc } from '../support/meshc-cli.js';

const mesh = new URL('../../fixtures/minimal/mesh.yaml', import.meta.url).pathname;

describe('meshc graph --metrics', () => {
  it('names an unreachable Prometheus and exits 2, without a stack trace', async () => {
    const port = await freePort('127.0.0.1');
    const r = await meshc(['graph', '-f', mesh, '--metrics', `http://127.0.0.1:${port}`]);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain(`cannot reach Prometheus at http://127.0.0.1:${port}: fetch failed (ECONNREFUSED)`);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(r.stdout).toBe('');
  }, 60_000);

  it('refuses a value that is not a URL, a bad window, and a proxy without per-edge series', async () => {
    expect((await meshc(['graph', '-f', mesh, '--metrics', 'prometheus:9090'])).exitCode).toBe(2);
    const w = await meshc(['graph', '-f', mesh, '--metrics', 'http://127.0.0.1:9', '--window', 'five']);
    expect(w.exitCode).toBe(2);
    expect(w.stderr).toContain('--window wants a PromQL range');
    const p = await meshc(['graph', '-f', mesh, '--metrics', 'http://127.0.0.1:9', '--proxy', 'nginx']);
    expect(p.exitCode).toBe(2);
    expect(p.stderr).toContain('nginx');
  }, 60_000);
});
