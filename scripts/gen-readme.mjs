// Regenerates the generated sections of README.md (the mesh.yaml reference, from the schema) and
// of docs/capabilities.md (from each target's capabilities.ts); run after `npm run build`.
// test/unit/readme.test.ts fails when either drifts.
import { readFileSync, writeFileSync } from 'node:fs';
import { renderCapabilitySections, renderReadmeSections, replaceSections } from '../dist/docs/readme.js';

for (const [file, sections] of [['../README.md', await renderReadmeSections()], ['../docs/capabilities.md', renderCapabilitySections()]]) {
  const path = new URL(file, import.meta.url);
  writeFileSync(path, replaceSections(readFileSync(path, 'utf8'), sections));
}
