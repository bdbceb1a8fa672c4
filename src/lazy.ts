import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * A package loaded on its first use instead of at import (its CommonJS entry, which is what a
 * default import of it gives): for packages most runs never need, whose loading every command
 * would otherwise pay at start-up (Handlebars, the `yaml` package).
 */
export function onFirstUse<T>(specifier: string): () => T {
  let module: T | undefined;
  return () => (module ??= require(specifier) as T);
}
