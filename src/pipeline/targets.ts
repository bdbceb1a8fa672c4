import { UserError } from '../errors.js';
import { didYouMean } from '../model/suggest.js';
import { TARGETS } from '../targets/registry.js';
import type { Target } from '../targets/target.js';

/** Resolves `--targets a,b` to registered targets, in registry order. Unknown names are a usage error. */
export function selectTargets(names?: string[]): Target[] {
  if (!names) return [...TARGETS];
  const known = TARGETS.map((t) => t.name);
  for (const n of names) {
    if (!known.includes(n)) {
      const guess = didYouMean(n, known);
      throw new UserError(`unknown target "${n}"`, 2, guess ? `did you mean "${guess}"? targets: ${known.join(', ')}` : `targets: ${known.join(', ')}`);
    }
  }
  return TARGETS.filter((t) => names.includes(t.name));
}
