/**
 * The build stamps (state/builds.json, the rebuild shortcut's cache) keep the most recent
 * MAX_STAMPS output directories: a CI job that builds into a fresh temporary directory each time
 * must not grow the file without end.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { build } from '../../src/pipeline/build.js';
import { MAX_STAMPS } from '../../src/output/stamp.js';
import { FIXED_CLOCK, fixturePath, tmp } from '../support/build.js';

let dir: string | undefined;
afterAll(async () => dir && rm(dir, { recursive: true, force: true }));

describe('build stamps', () => {
  it('keep the most recently built output directories, and the shortcut still works for them', async () => {
    dir = await tmp('meshc-stamps-');
    const state = join(dir, 'state');
    const outs = Array.from({ length: MAX_STAMPS + 2 }, (_, i) => join(dir!, `out-${i}`));
    const once = (out: string) => build({ file: fixturePath('minimal'), out, state, targets: ['summary'], clock: FIXED_CLOCK });
    for (const out of outs) expect((await once(out)).ok).toBe(true);
    const stamps = JSON.parse(await readFile(join(state, 'builds.json'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(stamps)).toEqual(outs.slice(2));
    // The newest still take the shortcut; the oldest were dropped and build in full.
    expect((await once(outs.at(-1)!)).cached).toBe(true);
    expect((await once(outs[0]!)).cached).toBeFalsy();
    // That build's stamp is the newest now, and the oldest kept one made room for it.
    const after = JSON.parse(await readFile(join(state, 'builds.json'), 'utf8')) as Record<string, unknown>;
    expect(Object.keys(after)).toEqual([...outs.slice(3), outs[0]]);
  });
});
