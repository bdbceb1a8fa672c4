/**
 * Precompiled templates (scripts/gen-templates.mjs → dist/templates.cjs, made by `npm run build`):
 * one for every template, each with the hash of its source and its fast path, rendering what
 * compiling the source renders. (The golden tests then check the whole nginx and HAProxy trees through them.)
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import Handlebars from 'handlebars';
import { describe, expect, it } from 'vitest';
import { precompiledTemplates } from '../../scripts/gen-templates.mjs';
import { COMPILE_OPTIONS } from '../../src/targets/render.js';

const root = new URL('../../', import.meta.url);
type Spec = Parameters<typeof Handlebars.template>[0];

describe('precompiled templates', () => {
  const module = { exports: {} as Record<string, { sha256: string; spec: Spec; fast: unknown }> };
  new Function('module', 'require', precompiledTemplates())(module, createRequire(import.meta.url));

  it('cover every template, each with the hash of its source', () => {
    for (const target of ['nginx', 'haproxy']) {
      for (const file of readdirSync(new URL(`templates/${target}/`, root)).filter((f) => f.endsWith('.hbs'))) {
        const source = readFileSync(new URL(`templates/${target}/${file}`, root), 'utf8');
        expect(module.exports[`${target}/${file.slice(0, -4)}`]?.sha256, file).toBe(createHash('sha256').update(source).digest('hex'));
        // and its fast path (template-compiler.ts), so a build never compiles one at run time
        expect(typeof module.exports[`${target}/${file.slice(0, -4)}`]?.fast, file).toBe('function');
      }
    }
  });

  it('render what the source compiled at run time renders, strict mode included', () => {
    const source = readFileSync(new URL('templates/nginx/upstream.hbs', root), 'utf8');
    const view = { block: 'b', balance: 'hash $http_x&y consistent', servers: [{ address: '127.0.0.1:1', params: '' }], keepalive: true, keepaliveTimeout: '60s' };
    const pre = Handlebars.create().template(module.exports['nginx/upstream']!.spec);
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
