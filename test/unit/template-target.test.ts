/** A toy target made from src/targets/_template: it checks, emits and writes like a real one. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fakeCerts, sampleMesh } from './envoy/sample.js';
import { emitBatches } from '../../src/pipeline/emit.js';
import { writeOutput } from '../../src/output/writer.js';
import { templateTarget } from '../../src/targets/_template/index.js';
import { FEATURES, renderCapabilityMatrix } from '../../src/targets/features.js';
import { readTree, scratchDirs } from '../support/build.js';

const scratch = scratchDirs('meshc-toy-');

describe('a toy target copied from targets/_template', () => {
  const toy = { ...templateTarget };

  it('reports every feature the mesh uses as unsupported, through its capability column', () => {
    const mesh = sampleMesh();
    const findings = toy.check(mesh);
    expect(findings.length).toBeGreaterThan(0);
    expect(findings.every((f) => f.code === 'unsupported-feature' && f.message.startsWith('_template cannot express'))).toBe(true);
    expect(renderCapabilityMatrix([toy]).split('\n')[0]).toBe('| feature | Template |');
    expect(Object.keys(toy.capabilities!.cells)).toHaveLength(FEATURES.length);
  });

  it('emits one file per service from its template and writes them through the writer', async () => {
    const mesh = sampleMesh();
    const files = [...emitBatches([toy], mesh, fakeCerts(mesh))].flat();
    expect(files.map((f) => f.path)).toEqual(mesh.services.map((s) => `_template/${s.name}.conf`));
    const withUpstream = mesh.services.find((s) => s.upstreams.length > 0)!;
    const text = files.find((f) => f.path === `_template/${withUpstream.name}.conf`)!.content;
    expect(text).toContain(`service ${withUpstream.name}\nupstream ${withUpstream.upstreams[0]!.service} local-port ${withUpstream.upstreams[0]!.localPort}\n`);
    const out = join(await scratch(), 'out');
    await writeOutput(out, files);
    expect([...(await readTree(out)).keys()]).toEqual([...files.map((f) => f.path).sort(), 'meshc-manifest.json']);
  });
});
