// Regenerates the generated sections of README.md, of docs/reference.md (the mesh.yaml reference,
// from the schema) and of docs/capabilities.md (from each target's capabilities.ts); run after
// `npm run build`. test/unit/readme.test.ts fails when any drifts.
import { readFileSync, writeFileSync } from 'node:fs';
import { renderCapabilitySections, renderReadmeSections, renderReferenceSections, replaceSections } from '../dist/docs/readme.js';

for (const [file, sections] of [
  ['../README.md', renderReadmeSections()],
  ['../docs/reference.md', renderReferenceSections()],
  ['../docs/capabilities.md', renderCapabilitySections()],
]) {
  const path = new URL(file, import.meta.url);
  writeFileSync(path, replaceSections(readFileSync(path, 'utf8'), sections));
}
