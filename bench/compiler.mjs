// The compiler's speed and size on generated meshes of 100, 1,000 and 5,000 services (each
// calling about five others, with egress domains and ingress hosts), all targets:
//   cold build (certificates issued), warm build (state present, output absent), no-op rebuild,
//   meshc diff after changing one service, peak memory, the warm build against the floor (merely
//   writing the same bytes), and the size of one sidecar config as the mesh grows.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { generateMesh } from './gen-mesh.mjs';
import { printTable, saveResults } from './lib.mjs';

const child = new URL('./child-build.mjs', import.meta.url).pathname;
const bin = new URL('../bin/meshc.js', import.meta.url).pathname;
const sizes = (process.env.BENCH_SIZES ?? '100,1000,5000').split(',').map(Number);

function runBuild(file, out, state, check) {
  return JSON.parse(execFileSync('node', [child, file, out, state, check ? 'check' : ''], { encoding: 'utf8', maxBuffer: 1 << 26 }).trim().split('\n').pop());
}

function listFiles(dir, prefix = '') {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]));
}

/** The floor: write the same files (same bytes, same modes) into a fresh directory. */
function floorMs(src, dst) {
  const files = listFiles(src).map((p) => [p, readFileSync(join(src, p)), statSync(join(src, p)).mode & 0o777]);
  const t0 = process.hrtime.bigint();
  for (const [p, content, mode] of files) {
    mkdirSync(dirname(join(dst, p)), { recursive: true });
    writeFileSync(join(dst, p), content, { mode });
  }
  return Number(process.hrtime.bigint() - t0) / 1e6;
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
    const out = join(dir, 'out');
    const state = join(dir, 'state');
    const target = (t1000) => (n === 1000 ? t1000 : undefined);

    const cold = runBuild(file, out, state);
    rows.push({ figure: `${n} services: cold build (certificates issued)`, value: cold.ms, unit: 'ms', target: target(3000), better: 'lower' });
    rmSync(out, { recursive: true, force: true });
    const warm = runBuild(file, out, state);
    rows.push({ figure: `${n} services: warm build (state present, output absent)`, value: warm.ms, unit: 'ms', target: target(1000), better: 'lower' });
    const noop = runBuild(file, out, state);
    if (!noop.upToDate || noop.written !== 0) throw new Error(`no-op rebuild wrote ${noop.written} files`);
    rows.push({ figure: `${n} services: no-op rebuild (writes no file)`, value: noop.ms, unit: 'ms', target: target(500), better: 'lower' });
    const floor = floorMs(out, join(dir, 'floor'));
    rows.push({ figure: `${n} services: warm build / writing the same bytes (${floor.toFixed(0)} ms)`, value: warm.ms / floor, unit: 'x', target: target(3), better: 'lower' });
    rows.push({ figure: `${n} services: peak memory (warm build)`, value: warm.maxRssMb, unit: 'MB', target: n === 5000 ? 300 : undefined, better: 'lower' });

    // meshc diff after changing one service.
    const changed = structuredClone(mesh);
    changed.spec.services['svc-00001'].loadBalancing = { policy: 'random' };
    writeFileSync(file, stringify(changed));
    const t0 = process.hrtime.bigint();
    let status = 0;
    try {
      execFileSync('node', [bin, 'diff', '-f', file, '-o', out, '--state', state, '--stat'], { stdio: 'pipe' });
    } catch (e) {
      status = e.status;
    }
    const diffMs = Number(process.hrtime.bigint() - t0) / 1e6;
    if (status !== 1) throw new Error(`meshc diff exited ${status}, expected 1 (changes)`);
    rows.push({ figure: `${n} services: meshc diff after changing one service (CLI)`, value: diffMs, unit: 'ms', target: target(700), better: 'lower' });
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
