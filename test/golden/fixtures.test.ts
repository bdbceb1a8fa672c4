import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildInto, fixturePath, readTree, scrub, VALID_FIXTURES } from '../support/build.js';

/**
 * Golden files: every valid fixture is built and each output file compared with
 * test/golden/<fixture>/, after scrub() replaces what legitimately differs between fresh builds
 * (keys, certificate bodies and their hashes). UPDATE_GOLDEN=1 rewrites them; review the diff.
 */
const goldenRoot = new URL('./', import.meta.url).pathname;
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => Promise.all(cleanups.map((c) => c())));

describe('golden output', () => {
  for (const name of VALID_FIXTURES) {
    it(`${name} matches test/golden/${name}`, async () => {
      const b = await buildInto(fixturePath(name));
      cleanups.push(b.cleanup);
      expect(b.result.ok, JSON.stringify(b.result.diagnostics, null, 1)).toBe(true);
      const tree = await readTree(b.out);
      const goldenDir = join(goldenRoot, name);
      if (process.env.UPDATE_GOLDEN) {
        await rm(goldenDir, { recursive: true, force: true });
        for (const [path, content] of tree) {
          const p = join(goldenDir, path + '.golden');
          await mkdir(dirname(p), { recursive: true });
          await writeFile(p, scrub(content));
        }
      }
      const golden = await readTree(goldenDir);
      expect([...tree.keys()]).toEqual([...golden.keys()].map((k) => k.replace(/\.golden$/, '')));
      for (const [path, content] of tree) expect(scrub(content), path).toBe(golden.get(path + '.golden'));
    });
  }
});
