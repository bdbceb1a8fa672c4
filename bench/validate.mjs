// How long `meshc validate` takes: the twelve-service shop fixture and generated meshes, both
// in-process (the library) and as the CLI a user runs (including Node start-up).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validate } from '../dist/index.js';
import { generateMeshYaml } from './gen-mesh.mjs';
import { printTable, saveResults, timeit } from './lib.mjs';

const dir = mkdtempSync(join(tmpdir(), 'meshc-bench-validate-'));
try {
  const shop = new URL('../fixtures/shop/mesh.yaml', import.meta.url).pathname;
  const files = { 'shop (12)': shop };
  for (const n of [1000, 5000]) {
    files[`generated (${n})`] = join(dir, `mesh-${n}.yaml`);
    writeFileSync(files[`generated (${n})`], generateMeshYaml(n));
  }
  const rows = [];
  for (const [label, file] of Object.entries(files)) {
    const lib = await timeit(async () => {
      const r = await validate({ file });
      if (!r.ok) throw new Error(`${label} is invalid: ${JSON.stringify(r.diagnostics.slice(0, 3))}`);
    });
    rows.push({ figure: `validate ${label}, in-process`, value: lib.median, unit: 'ms', better: 'lower' });
    const cli = await timeit(async () => execFileSync('node', [new URL('../bin/meshc.js', import.meta.url).pathname, 'validate', '-f', file], { stdio: 'pipe' }), { runs: 3 });
    rows.push({ figure: `meshc validate ${label}, CLI`, value: cli.median, unit: 'ms', better: 'lower' });
  }
  saveResults('validate', printTable('meshc validate', rows));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
