// Regenerates the generated sections of README.md from their sources (run after `npm run build`):
//   reference:    from schemas/mesh.schema.json
//   capabilities: from src/targets/capabilities.ts
// test/unit/readme.test.ts fails when README.md drifts from them.
import { readFileSync, writeFileSync } from 'node:fs';
import { renderReadmeSections, replaceSections } from '../dist/docs/readme.js';

const path = new URL('../README.md', import.meta.url);
writeFileSync(path, replaceSections(readFileSync(path, 'utf8'), await renderReadmeSections()));
