import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import { build } from '../../src/pipeline/build.js';
import { FIXED_CLOCK, fixturePath, readTree, tmp, VALID_FIXTURES } from '../support/build.js';

/** Reverses the key order of every mapping: the same mesh, written differently. */
function shuffleKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(shuffleKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, shuffleKeys(x)]));
  return v;
}

const dirs: string[] = [];
afterAll(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

describe('determinism', () => {
  for (const name of VALID_FIXTURES) {
    it(`${name}: the same input and state give the same bytes, whatever the key order`, async () => {
      const dir = await tmp();
      dirs.push(dir);
      const state = join(dir, 'state');
      const first = await build({ file: fixturePath(name), out: join(dir, 'a'), state, clock: FIXED_CLOCK });
      expect(first.ok, JSON.stringify(first.diagnostics)).toBe(true);
      const shuffled = join(dir, 'mesh.yaml');
      await writeFile(shuffled, stringify(shuffleKeys(parse(await readFile(fixturePath(name), 'utf8')))));
      const second = await build({ file: shuffled, out: join(dir, 'b'), state, clock: FIXED_CLOCK });
      expect(second.ok).toBe(true);
      const a = await readTree(join(dir, 'a'));
      const b = await readTree(join(dir, 'b'));
      expect([...b.keys()]).toEqual([...a.keys()]);
      for (const [path, content] of a) expect(b.get(path), path).toBe(content);
      // No absolute paths or timestamps of this run leak into the output.
      for (const [path, content] of a) {
        expect(content.includes(dir), path).toBe(false);
        expect(content.includes(new Date().toISOString().slice(0, 10)), path).toBe(false);
      }
    });
  }
});
