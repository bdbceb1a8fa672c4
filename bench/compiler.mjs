// The compiler's speed and size on generated meshes of 100, 1,000 and 5,000 services (each
// calling about five others, with egress domains and ingress hosts), all targets:
//   cold build (certificates issued), warm build (state present, output absent), no-op rebuild,
//   meshc diff after changing one service, peak memory, the warm build against the floor (merely
//   writing the same bytes), and the size of one sidecar config as the mesh grows.
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

// This machine's disk is erratic: creating files right after deleting a large tree stalls for
// seconds (ext4 mounted with online discard). So every timed build writes into a fresh directory
// (trees are deleted only at the end), the disk is synced before each run, and build, floor and
// diff figures are the median of RUNS runs.
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
/** A memory-backed file system, when the machine has one. */
const MEMORY_DIR = existsSync('/dev/shm') ? '/dev/shm' : undefined;
/** How many times slower than into memory writing to the disk may be before it counts as stalled. */
const STALLED_DISK = 3;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const settle = () => execFileSync('sync');

/** The child's environment: one libuv pool thread, as bin/meshc.js sets for the command. */
const CHILD_ENV = { ...process.env, UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? '1' };

function runBuild(file, out, state, check) {
  settle();
  return JSON.parse(execFileSync('node', [child, file, out, state, check ? 'check' : ''], { encoding: 'utf8', maxBuffer: 1 << 26, env: CHILD_ENV }).trim().split('\n').pop());
}

/**
 * The floor: write the same files (same bytes, same modes) into a fresh directory, in a fresh
 * process like the build's (on this machine a process's first writes are much slower than its
 * later ones, so the floor is measured the way the build runs).
 */
function floorMs(src, dst) {
  settle();
  return JSON.parse(execFileSync('node', ['-e', FLOOR_SCRIPT, src, dst], { encoding: 'utf8' })).ms;
}
const FLOOR_SCRIPT = `
const { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } = require('node:fs');
const { dirname, join } = require('node:path');
const [src, dst] = process.argv.slice(1);
const list = (dir, prefix = '') => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? list(join(dir, e.name), prefix + e.name + '/') : [prefix + e.name]));
const files = list(src).map((p) => [p, readFileSync(join(src, p)), statSync(join(src, p)).mode & 0o777]);
const t0 = process.hrtime.bigint();
for (const [p, content, mode] of files) {
  mkdirSync(dirname(join(dst, p)), { recursive: true });
  writeFileSync(join(dst, p), content, { mode });
}
console.log(JSON.stringify({ ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
`;

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
    const coldRow = { figure: `${n} services: cold build (certificates issued)`, value: cold.ms, unit: 'ms', target: target(3000), better: 'lower' };
    rows.push(coldRow);
    // Each warm build is followed at once by its floor (writing the build's own files again), and
    // the ratio is the median of the pairs' ratios: the disk's mood drifts over seconds, so a floor
    // measured a minute after the builds can be half or twice theirs.
    const warms = [];
    const floors = [];
    for (let i = 0; i < RUNS; i++) {
      warms.push(runBuild(file, join(dir, `out-warm-${i}`), state));
      floors.push(floorMs(join(dir, `out-warm-${i}`), join(dir, `floor-${i}`)));
    }
    const warmMs = median(warms.map((w) => w.ms));
    const out = join(dir, `out-warm-${RUNS - 1}`);
    const warmRow = { figure: `${n} services: warm build (state present, output absent), median of ${RUNS}`, value: warmMs, unit: 'ms', target: target(1000), better: 'lower' };
    rows.push(warmRow);
    const noops = Array.from({ length: RUNS }, () => runBuild(file, out, state));
    for (const noop of noops) if (!noop.upToDate || noop.written !== 0) throw new Error(`no-op rebuild wrote ${noop.written} files`);
    rows.push({ figure: `${n} services: no-op rebuild (writes no file), median of ${RUNS}`, value: median(noops.map((x) => x.ms)), unit: 'ms', target: target(500), better: 'lower' });
    const ratios = warms.map((w, i) => w.ms / floors[i]);
    const ratioRow = {
      figure: `${n} services: warm build / writing the same bytes (floor ${median(floors).toFixed(0)} ms), median of ${RUNS} pairs`,
      value: median(ratios),
      unit: 'x',
      target: target(3),
      better: 'lower',
    };
    rows.push(ratioRow);
    // The same two figures with both trees in memory (tmpfs): what the compiler itself costs,
    // whatever mood the disk is in. Each tree is deleted as soon as it is measured.
    if (MEMORY_DIR) {
      const mem = mkdtempSync(join(MEMORY_DIR, 'meshc-bench-'));
      try {
        // The median of RUNS measurements, each writing a fresh tree that is deleted right after.
        const measured = (tag, measure) =>
          median(
            Array.from({ length: RUNS }, (_, i) => {
              const dst = join(mem, `${tag}-${i}`);
              try {
                return measure(dst);
              } finally {
                rmSync(dst, { recursive: true, force: true });
              }
            }),
          );
        const memWarm = measured('warm', (dst) => runBuild(file, dst, state).ms);
        const memFloor = measured('floor', (dst) => floorMs(out, dst));
        rows.push({ figure: `${n} services: warm build into memory (tmpfs), median of ${RUNS}`, value: memWarm, unit: 'ms', better: 'lower' });
        rows.push({ figure: `${n} services: the same / writing the same bytes into memory (${memFloor.toFixed(0)} ms)`, value: memWarm / memFloor, unit: 'x', better: 'lower' });
        // A stalled disk (see above) makes the builds and the floor mostly waiting for the disk:
        // the warm build then looks too slow and its ratio to the floor met, while neither measures
        // the compiler. Writing to this disk normally takes 1.7-1.9 times as long as into memory;
        // in a stall 3.8-19 times (measured).
        const slower = median(floors) / memFloor;
        if (slower > STALLED_DISK)
          for (const row of [coldRow, warmRow, ratioRow]) row.invalid = `${n} services: the disk stalled (writing took ${slower.toFixed(1)} times as long as into memory, normally under ${STALLED_DISK}): its build times and ratio measure the disk; run again after a quiet spell`;
      } finally {
        rmSync(mem, { recursive: true, force: true });
      }
    }
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
    rows.push({ figure: `${n} services: meshc diff after changing one service (CLI), median of ${RUNS}`, value: diffMs, unit: 'ms', target: target(700), better: 'lower' });
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
