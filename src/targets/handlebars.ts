/**
 * Handlebars itself, loaded on first use. Renders normally take the compiled fast path with the
 * precompiled templates (render.ts, template-compiler.ts) and need none of it; loading it costs
 * about 15 ms of every build's start-up, before anything else can run.
 */
import { createRequire } from 'node:module';
import type Handlebars from 'handlebars';

let lib: typeof Handlebars | undefined;

/** The Handlebars module (what `import Handlebars from 'handlebars'` gives), loaded once. */
export function handlebarsLib(): typeof Handlebars {
  return (lib ??= createRequire(import.meta.url)('handlebars') as typeof Handlebars);
}
