import type { OutputFile, Target } from '../target.js';
import { GENERATED_HEADER } from '../target.js';
import { toJson } from '../../output/yaml.js';

/**
 * `summary/mesh.json`: the normalized mesh as JSON, every default filled in. Useful to see what
 * meshc understood, and what `meshc diff` compares per service.
 */
export const summaryTarget: Target = {
  name: 'summary',
  description: 'the normalized mesh as JSON (summary/mesh.json)',
  readme: {
    what: '`mesh.json`: the normalized mesh, every default filled in',
    use: 'read it to see what meshc understood; `meshc diff` compares it per service',
  },
  check: () => [],
  *emit(mesh): Iterable<OutputFile> {
    yield { path: 'summary/mesh.json', content: toJson({ $comment: GENERATED_HEADER, mesh }) };
  },
};
