// Two meshc checkouts, measured interleaved on one generated mesh (not part of npm run bench):
//   node bench/compare.mjs <services> <runs> <work dir> <name>=<checkout> <name>=<checkout> ...
// Each run, in turn for each checkout: a cold build (certificates issued), a warm build (state
// present, output absent), a no-op rebuild and `meshc diff --stat` after one service changed, each
// a whole `node bin/meshc.js` process timed by /usr/bin/time. Prints the median and every value
// (seconds; peak memory of the warm build in MB; CPU seconds of the warm build).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateMesh } from './gen-mesh.mjs';
import { stringify } from 'yaml';

const [n, runs, root, ...checkouts] = process.argv.slice(2);
const mesh = generateMesh(Number(n));
const changed = structuredClone(mesh);
changed.spec.services['svc-00001'].loadBalancing = { policy: 'random' };
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function meshc(checkout, args) {
  execFileSync('sync');
  const r = spawnSync('/usr/bin/time', ['-f', '%e %M %U %S', 'node', join(checkout, 'bin/meshc.js'), ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const [s, kb, user, sys] = r.stderr.trim().split('\n').pop().split(' ').map(Number);
  return { status: r.status, s, mb: kb / 1024, cpu: user + sys, output: r.stdout + r.stderr };
}

const results = {};
for (let i = 0; i < Number(runs); i++) {
  for (const spec of checkouts) {
    const [name, checkout] = spec.split('=');
    const dir = join(root, `${name}-${i}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'mesh.yaml');
    writeFileSync(file, stringify(mesh));
    const common = ['-f', file, '--state', join(dir, 'state')];
    const expect = (r, status, what) => {
      if (r.status !== status) throw new Error(`${name} ${what} exited ${r.status}:\n${r.output}`);
      return r;
    };
    const cold = expect(meshc(checkout, ['build', ...common, '-o', join(dir, 'cold')]), 0, 'cold build');
    const warm = expect(meshc(checkout, ['build', ...common, '-o', join(dir, 'out')]), 0, 'warm build');
    const noop = expect(meshc(checkout, ['build', ...common, '-o', join(dir, 'out')]), 0, 'no-op rebuild');
    if (!/up to date/.test(noop.output)) throw new Error(`${name}: the no-op rebuild wrote files:\n${noop.output}`);
    writeFileSync(file, stringify(changed));
    const diff = expect(meshc(checkout, ['diff', '--stat', ...common, '-o', join(dir, 'out')]), 1, 'diff');
    const r = (results[name] ??= { cold: [], warm: [], 'warm CPU': [], 'warm MB': [], noop: [], diff: [] });
    r.cold.push(cold.s);
    r.warm.push(warm.s);
    r['warm CPU'].push(warm.cpu);
    r['warm MB'].push(warm.mb);
    r.noop.push(noop.s);
    r.diff.push(diff.s);
    rmSync(dir, { recursive: true, force: true });
  }
}
for (const [name, r] of Object.entries(results)) {
  console.log(`${name} (${n} services, ${runs} runs, in ${root})`);
  for (const [k, v] of Object.entries(r)) console.log(`  ${k.padEnd(9)} median ${median(v).toFixed(k === 'warm MB' ? 0 : 2).padStart(7)}   ${v.map((x) => x.toFixed(k === 'warm MB' ? 0 : 2)).join(' ')}`);
}
