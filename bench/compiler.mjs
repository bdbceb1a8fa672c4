// The compiler's speed and size on generated meshes of 100, 1,000 and 5,000 services (each
// calling about five others, with egress domains and ingress hosts), all targets: cold build
// (certificates issued), warm build (state present, output absent) on disk and in memory, no-op
// rebuild, meshc diff after changing one service, peak memory, and the size of one sidecar config
// as the mesh grows.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { generateMesh } from './gen-mesh.mjs';
import { printTable, saveResults } from './lib.mjs';

const child = new URL('./child-build.mjs', import.meta.url).pathname;
const bin = new URL('../bin/meshc.js', import.meta.url).pathname;
const sizes = (process.env.BENCH_SIZES ?? '100,1000,5000').split(',').map(Number);

// Every timed build writes into a fresh directory (trees are deleted at the end: deleting a large
// tree can stall the next writes), the disk is synced before each run, and figures are the median
// of RUNS runs.
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
/** A memory-backed file system, when the machine has one. */
const MEMORY_DIR = existsSync('/dev/shm') ? '/dev/shm' : undefined;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const settle = () => execFileSync('sync');

function runBuild(file, out, state, check) {
  settle();
  return JSON.parse(execFileSync('node', [child, file, out, state, check ? 'check' : ''], { encoding: 'utf8', maxBuffer: 1 << 26 }).trim().split('\n').pop());
}

const rows = [];
const sidecarSizes = {};
const root = mkdtempSync(join(tmpdir(), 'meshc-bench-compiler-'));
try {
  for (const n of sizes) {
    const dir = join(root, String(n));
    mkdirSync(dir);
    const mesh = generateMesh(n);
    const file = join(dir, 'mesh.yaml');
    writeFileSync(file, stringify(mesh));
    const state = join(dir, 'state');
    const target = (t1000) => (n === 1000 ? t1000 : undefined);

    const cold = runBuild(file, join(dir, 'out-cold'), state);
    rows.push({ figure: `${n} services: cold build (certificates issued)`, value: cold.ms, unit: 'ms', target: target(3000), better: 'lower' });
    const warms = Array.from({ length: RUNS }, (_, i) => runBuild(file, join(dir, `out-warm-${i}`), state));
    const out = join(dir, `out-warm-${RUNS - 1}`);
    rows.push({ figure: `${n} services: warm build (state present, output absent), median of ${RUNS}`, value: median(warms.map((w) => w.ms)), unit: 'ms', target: target(2000), better: 'lower' });
    if (MEMORY_DIR) {
      const mem = mkdtempSync(join(MEMORY_DIR, 'meshc-bench-'));
      try {
        const inMemory = Array.from({ length: RUNS }, (_, i) => runBuild(file, join(mem, `warm-${i}`), state).ms);
        rows.push({ figure: `${n} services: warm build into memory (tmpfs), median of ${RUNS}`, value: median(inMemory), unit: 'ms', better: 'lower' });
      } finally {
        rmSync(mem, { recursive: true, force: true });
      }
    }
    const noops = Array.from({ length: RUNS }, () => runBuild(file, out, state));
    for (const noop of noops) if (!noop.upToDate || noop.written !== 0) throw new Error(`no-op rebuild wrote ${noop.written} files`);
    rows.push({ figure: `${n} services: no-op rebuild (writes no file), median of ${RUNS}`, value: median(noops.map((x) => x.ms)), unit: 'ms', target: target(300), better: 'lower' });
    rows.push({ figure: `${n} services: peak memory (warm build, highest of ${RUNS})`, value: Math.max(...warms.map((w) => w.maxRssMb)), unit: 'MB', target: n === 5000 ? 300 : undefined, better: 'lower' });

    // meshc diff after changing one service.
    const changed = structuredClone(mesh);
    changed.spec.services['svc-00001'].loadBalancing = { policy: 'random' };
    writeFileSync(file, stringify(changed));
    const diffOnce = () => {
      settle();
      const t0 = process.hrtime.bigint();
      let status = 0;
      try {
        execFileSync('node', [bin, 'diff', '-f', file, '-o', out, '--state', state, '--stat'], { stdio: 'pipe' });
      } catch (e) {
        status = e.status;
      }
      if (status !== 1) throw new Error(`meshc diff exited ${status}, expected 1 (changes)`);
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    const diffMs = median(Array.from({ length: RUNS }, diffOnce));
    rows.push({ figure: `${n} services: meshc diff after changing one service (CLI), median of ${RUNS}`, value: diffMs, unit: 'ms', target: target(1000), better: 'lower' });
    writeFileSync(file, stringify(mesh));

    const probe = 'svc-00000';
    const envoyFile = join(out, 'envoy', `${probe}.yaml`);
    sidecarSizes[n] = statSync(envoyFile).size;
    rows.push({ figure: `${n} services: size of envoy/${probe}.yaml (${mesh.spec.services[probe].upstreams.length} upstreams)`, value: sidecarSizes[n] / 1024, unit: 'KiB', better: 'lower' });
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
saveResults('compiler', printTable('compiler (all targets)', rows));
