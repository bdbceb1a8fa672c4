import { cellsFor, no } from '../features.js';
import type { Capabilities } from '../features.js';

/**
 * A new target expresses nothing yet: every feature a mesh uses is an error naming the target,
 * until its cell is changed to `yes(how)` or `partial(how, hint)` as the target learns it.
 */
export const capabilities: Capabilities = {
  label: 'Template',
  cells: cellsFor(no('not expressed yet', 'use the envoy target')),
};
