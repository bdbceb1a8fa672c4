/**
 * Precompiled templates (scripts/gen-templates.mjs → dist/targets/<target>/templates.cjs, made by
 * `npm run build`): one for every template of a target's folder, rendering what compiling its
 * source renders. (The golden tests check the whole nginx and HAProxy trees.)
 */
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import Handlebars from 'handlebars';
import { describe, expect, it } from 'vitest';
import { precompiledTemplates } from '../../scripts/gen-templates.mjs';
import { COMPILE_OPTIONS, templateSources } from '../../src/targets/render.js';

type Spec = Parameters<typeof Handlebars.template>[0];

function precompiled(target: string): Record<string, Spec> {
  const module = { exports: {} as Record<string, Spec> };
  new Function('module', 'require', precompiledTemplates(target))(module, createRequire(import.meta.url));
  return module.exports;
}

describe('precompiled templates', () => {
  it('cover every template of the nginx and HAProxy folders', () => {
    for (const target of ['nginx', 'haproxy']) {
      const files = readdirSync(new URL(`../../src/targets/${target}/templates/`, import.meta.url)).filter((f) => f.endsWith('.hbs'));
      expect(Object.keys(precompiled(target)).sort()).toEqual(files.map((f) => f.slice(0, -4)).sort());
    }
  });

  it('render what the source compiled at run time renders, strict mode included', () => {
    const source = templateSources('nginx').get('upstream')!;
    const view = { block: 'b', balance: 'hash $http_x&y consistent', servers: [{ address: '127.0.0.1:1', params: '' }], keepalive: true, keepaliveTimeout: '60s' };
    const pre = Handlebars.create().template(precompiled('nginx')['upstream']!);
    const compiled = Handlebars.create().compile(source, COMPILE_OPTIONS);
    expect(pre(view)).toBe(compiled(view));
    expect(pre(view)).toContain('hash $http_x&y consistent');
    expect(() => pre({ ...view, servers: [{ params: '' }] })).toThrow(/address/);
  });

  it('refuse a helper other than eq at compile time', () => {
    expect(() => Handlebars.create().precompile('{{#if (ne a b)}}x{{/if}}', COMPILE_OPTIONS)).toThrow(/knownHelpersOnly/);
    expect(() => Handlebars.create().precompile('{{#if (eq a b)}}x{{/if}}', COMPILE_OPTIONS)).not.toThrow();
  });
});
