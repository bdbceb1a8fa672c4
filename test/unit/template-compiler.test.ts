/**
 * The templates' fast path (src/targets/template-compiler.ts) renders what Handlebars renders with
 * render.ts's options: case by case here, the quirks included, and for the nginx and HAProxy
 * output of every valid fixture, where it must never have to fall back to Handlebars.
 */
import { readdirSync, readFileSync } from 'node:fs';
import Handlebars from 'handlebars';
import { afterAll, describe, expect, it } from 'vitest';
import { compileSource, compileTemplate, fastRuntime, LeaveToHandlebars, type FastTemplate } from '../../src/targets/template-compiler.js';
import { COMPILE_OPTIONS, fastPathFallbacks, useFastTemplates } from '../../src/targets/render.js';
import { buildInto, fixturePath, readTree, VALID_FIXTURES } from '../support/build.js';

const root = new URL('../../', import.meta.url);

/** Renders `source` with `view` both ways, `partials` registered by name for both. */
function both(source: string, view: unknown, partials: Record<string, string> = {}) {
  const hb = Handlebars.create();
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  const fast = new Map<string, FastTemplate | undefined>();
  for (const [name, text] of Object.entries(partials)) {
    hb.registerPartial(name, hb.compile(text, COMPILE_OPTIONS));
    fast.set(name, compileTemplate(text));
  }
  const run = (f: () => string) => {
    try {
      return { text: f() };
    } catch (e) {
      return { threw: (e as Error).constructor.name };
    }
  };
  const compiled = compileTemplate(source);
  expect(compiled, `compiles: ${source}`).toBeDefined();
  return {
    handlebars: run(() => hb.compile(source, COMPILE_OPTIONS)(view)),
    fast: run(() => compiled!(view, fastRuntime((n) => fast.get(n)))),
  };
}

describe('template compiler', () => {
  it('compiles every template of the nginx and HAProxy targets', () => {
    for (const target of ['nginx', 'haproxy']) {
      for (const file of readdirSync(new URL(`templates/${target}/`, root)).filter((f) => f.endsWith('.hbs'))) {
        expect(compileSource(readFileSync(new URL(`templates/${target}/${file}`, root), 'utf8')), `${target}/${file}`).toBeDefined();
      }
    }
  });

  const cases: [string, string, unknown, Record<string, string>?][] = [
    ['paths', '{{a}} {{b.c}} {{this.a}} {{d}}!', { a: 'x', b: { c: 3 }, d: undefined }],
    ['values printed as Handlebars prints them', '[{{t}}|{{f}}|{{z}}|{{n}}|{{list}}|{{o}}|{{fn}}]', { t: true, f: false, z: 0, n: null, list: [1, 2], o: {}, fn: () => 'called' }],
    // Two numbers side by side at the start of a block are added, as in Handlebars' generated code.
    ['a leading + between numbers', '{{#if on}}{{a}}{{b}} {{a}}{{/if}}', { on: true, a: 1, b: 2 }],
    ['if, else and unless over every kind of falsy', '{{#each vs}}{{#if this}}T{{else}}F{{/if}}{{#unless this}}u{{/unless}},{{/each}}', { vs: [0, '', [], {}, 'x', [0], false, true, 1, NaN] }],
    ['if on fields that are falsy or absent', '{{#if a}}a{{/if}}{{#if b}}b{{/if}}{{#if c}}c{{/if}}{{#unless d}}!d{{/unless}}', { a: 0, b: null, c: [] }],
    ['else if chains', '{{#if a}}A{{else if b}}B{{else}}C{{/if}}', { a: false, b: 'yes' }],
    ['eq on literals and paths', '{{#if (eq kind "tcp")}}tcp{{else}}{{kind}}{{/if}} {{#if (eq n 2)}}two{{/if}}', { kind: 'http', n: 2 }],
    ['each with else, ../ and holes', '{{#each xs}}<{{name}}@{{../host}}>{{else}}none{{/each}}|{{#each ys}}{{this}}{{else}}empty{{/each}}', { host: 'h', xs: [{ name: 'a' }, { name: 'b' }], ys: [] }],
    ['each inside each, ../ one level up each time', '{{#each outer}}{{#each inner}}{{../label}}:{{this}};{{/each}}{{/each}}', { outer: [{ label: 'A', inner: [1, 2] }, { label: 'B', inner: [3] }] }],
    ['sparse arrays', '{{#each xs}}[{{this}}]{{else}}none{{/each}}', { xs: [, 'b'] }], // eslint-disable-line no-sparse-arrays
    ['standalone blocks drop their lines', 'a\n{{#if x}}\n  b\n{{/if}}\nc\n', { x: true }],
    ['standalone partials are indented, a last empty line is not', 'top\n  {{> p item}}\n    {{> p item}}\nend\n', { item: { v: 'x' } }, { p: 'line {{v}}\nsecond\n' }],
    ['indented partials: empty lines, no last newline, only a newline, nothing', '  {{> a}}\n  {{> b}}\n  {{> c}}\n  {{> d}}\nend\n', {}, { a: 'x\n\ny\n', b: 'no newline', c: '\n', d: '' }],
    ['inline partials are not indented', 'a {{> p}} b\n', { v: 'q' }, { p: 'P{{v}}\nP2' }],
    ['a partial in the current context', '{{#each xs}}{{> p}}{{/each}}', { xs: [{ v: 1 }, { v: 2 }] }, { p: '({{v}})' }],
  ];
  for (const [name, source, view, partials] of cases) {
    it(`renders as Handlebars does: ${name}`, () => {
      const r = both(source, view, partials);
      expect(r.handlebars).toHaveProperty('text');
      expect(r.fast).toEqual(r.handlebars);
    });
  }

  // What the fast path leaves to Handlebars throws there; render.ts then renders with Handlebars,
  // which gives its own text or error. It must never give other text.
  const leftToHandlebars: [string, string, unknown, Record<string, string>?][] = [
    ['a missing field (strict mode)', '{{a}} {{missing}}', { a: 1 }],
    ['a missing field in a partial', '{{> p}}', { a: 1 }, { p: '{{nope}}' }],
    ['a block in a null context', '{{#each vs}}{{#if this}}T{{else}}F{{/if}}{{/each}}', { vs: [null, 1] }],
    ['each over an object', '{{#each o}}{{this}}{{/each}}', { o: { a: 1, b: 2 } }],
    ['an inherited field', '{{x}}', Object.create({ x: 1 })],
  ];
  for (const [name, source, view, partials] of leftToHandlebars) {
    it(`leaves to Handlebars at render time: ${name}`, () => {
      expect(both(source, view, partials).fast).toEqual({ threw: 'LeaveToHandlebars' });
    });
  }

  it('leaves what it does not know to Handlebars: compiles to undefined', () => {
    for (const source of ['{{#with a}}{{b}}{{/with}}', '{{@index}}', '{{eq a b}}', '{{> (name)}}', '{{> p x=1}}', '{{#each xs as |x|}}{{x}}{{/each}}', '{{#if a b}}x{{/if}}', '{{#if (ne a b)}}x{{/if}}'])
      expect(compileSource(source), source).toBeUndefined();
  });

  it('leaves a partial it has no function for to Handlebars', () => {
    expect(() => compileTemplate('{{> p}}')!({}, fastRuntime(() => undefined))).toThrow(LeaveToHandlebars);
  });
});

describe('nginx and HAProxy output through the fast path', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    useFastTemplates(true);
    await Promise.all(cleanups.map((c) => c()));
  });
  for (const name of VALID_FIXTURES) {
    it(`${name}: the same files as through Handlebars alone, none left to Handlebars`, async () => {
      const trees = [];
      for (const on of [false, true]) {
        useFastTemplates(on);
        const before = fastPathFallbacks();
        const b = await buildInto(fixturePath(name), { targets: ['nginx', 'haproxy'] });
        cleanups.push(b.cleanup);
        expect(b.result.ok).toBe(true);
        if (on) expect(fastPathFallbacks() - before).toBe(0);
        trees.push([...(await readTree(b.out))].filter(([p]) => p.startsWith('nginx/') || p.startsWith('haproxy/')));
      }
      expect(trees[1]!.length).toBeGreaterThan(0);
      expect(trees[1]).toEqual(trees[0]);
    });
  }
});
