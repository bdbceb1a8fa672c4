import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validate } from '../../src/pipeline/validate.js';
import { build } from '../../src/pipeline/build.js';
import { tmp } from '../support/build.js';
import { rm, writeFile, readdir } from 'node:fs/promises';

/**
 * Every folder under fixtures/invalid/ is a test: its mesh.yaml must be rejected with exactly the
 * diagnostics in expected.txt (`LINE:COL SEVERITY CODE`, one a line). UPDATE_GOLDEN=1 rewrites them.
 */
const root = new URL('../../fixtures/invalid/', import.meta.url).pathname;
const cases = readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();

describe('invalid fixtures', () => {
  it('has at least 25 cases', () => expect(cases.length).toBeGreaterThanOrEqual(25));

  for (const name of cases) {
    it(`rejects ${name}`, async () => {
      const file = join(root, name, 'mesh.yaml');
      const r = await validate({ file });
      expect(r.ok).toBe(false);
      const actual = r.diagnostics.map((d) => `${d.line}:${d.col} ${d.severity} ${d.code}`).join('\n') + '\n';
      const expectedFile = join(root, name, 'expected.txt');
      if (process.env.UPDATE_GOLDEN) writeFileSync(expectedFile, actual);
      expect(actual).toBe(readFileSync(expectedFile, 'utf8'));
      for (const d of r.diagnostics) {
        expect(d.file).toBe(file);
        expect(d.message.length).toBeGreaterThan(10);
        expect(d.message).not.toMatch(/\n\s+at /); // no stack traces in messages
      }
    });
  }

  const scratch: string[] = [];
  afterAll(async () => Promise.all(scratch.map((d) => rm(d, { recursive: true, force: true }))));

  it('rejects a 20 MB file without parsing it, and a build writes nothing', async () => {
    const dir = await tmp();
    scratch.push(dir);
    const file = join(dir, 'mesh.yaml');
    const line = '# ' + 'x'.repeat(1021) + '\n';
    await writeFile(file, line.repeat(20 * 1024));
    const r = await validate({ file });
    expect(r.diagnostics).toMatchObject([{ code: 'file-too-large', line: 1, col: 1, severity: 'error' }]);
    const b = await build({ file, out: join(dir, 'out'), state: join(dir, 'state') });
    expect(b.ok).toBe(false);
    expect((await readdir(dir)).sort()).toEqual(['mesh.yaml']);
  });
});
