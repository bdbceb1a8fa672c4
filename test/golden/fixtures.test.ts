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
      // Certificate lengths vary by a byte or two with fresh keys; the manifest records them.
      const norm = (path: string, text: string) => (path === 'meshc-manifest.json' ? scrub(text).replace(/"size": \d+/g, '"size": <n>') : scrub(text));
      if (process.env.UPDATE_GOLDEN) {
        await rm(goldenDir, { recursive: true, force: true });
        for (const [path, content] of tree) {
          const p = join(goldenDir, path + '.golden');
          await mkdir(dirname(p), { recursive: true });
          await writeFile(p, norm(path, content));
        }
      }
      const golden = await readTree(goldenDir);
      expect([...tree.keys()]).toEqual([...golden.keys()].map((k) => k.replace(/\.golden$/, '')));
      for (const [path, content] of tree) expect(norm(path, content), path).toBe(golden.get(path + '.golden'));
    });
  }
});
