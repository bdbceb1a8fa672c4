/**
 * Scenario 5: the proxy's own config check accepts every config generated from every valid
 * fixture (`fixtures/<case>/mesh.yaml`; the invalid ones live deeper, under fixtures/invalid/).
 * Each fixture is built into a temp dir with a fresh state dir, so fixtures stay untouched.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { build } from '../../../src/pipeline/build.js';
import { repoRoot, tempDir } from '../../harness/index.js';
import type { ProxyDriver } from '../drivers/driver.js';

const FIXTURES = path.join(repoRoot, 'fixtures');

function validFixtures(): string[] {
  if (!existsSync(FIXTURES)) return [];
  return readdirSync(FIXTURES)
    .filter((name) => existsSync(path.join(FIXTURES, name, 'mesh.yaml')))
    .sort();
}

export function validateScenario(driver: ProxyDriver): void {
  describe.skipIf(!driver.available)(`${driver.name}: generated configs pass the proxy's own check`, () => {
    const fixtures = validFixtures();
    it('finds the valid fixtures', () => expect(fixtures.length).toBeGreaterThanOrEqual(3));
    it.each(fixtures)('fixtures/%s', async (fixture) => {
      const dir = await tempDir(`validate-${fixture}`);
      try {
        const out = path.join(dir.path, 'out');
        const res = await build({ file: path.join(FIXTURES, fixture, 'mesh.yaml'), out, state: path.join(dir.path, 'state'), targets: [driver.name] });
        const errors = res.diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.code}: ${d.message}`);
        expect(errors).toEqual([]);
        expect(res.ok).toBe(true);
        const workloads = [...(res.mesh?.services.map((s) => s.name) ?? []), 'ingress-gateway', 'egress-gateway'];
        const failures: string[] = [];
        for (const w of workloads) {
          const v = await driver.validate(out, w);
          if (!v.ok) failures.push(`${w}:\n${v.output}`);
        }
        expect(failures).toEqual([]);
      } finally {
        await dir.cleanup();
      }
    });
  });
}
