/**
 * The quick locator (src/source/quick-locate.ts) against the positional document: for every
 * pointer of every fixture (and missing children, and keys), whenever it answers, it answers
 * exactly what `pointerOffset` does; and for the plain files meshc users write, it does answer.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { stringify } from 'yaml';
import { pointerOffset, parseMeshText } from '../../src/source/parse.js';
import { quickIndex, quickLinePos, quickOffset } from '../../src/source/quick-locate.js';
import { generateMesh } from '../../bench/gen-mesh.mjs';

const root = new URL('../../fixtures/', import.meta.url).pathname;
const files: [string, string][] = [
  ...['minimal', 'shop', 'edge-cases'].map((n) => [n, readFileSync(`${root}${n}/mesh.yaml`, 'utf8')] as [string, string]),
  ...readdirSync(`${root}invalid`).map((n) => [`invalid/${n}`, readFileSync(`${root}invalid/${n}/mesh.yaml`, 'utf8')] as [string, string]),
  ['generated', stringify(generateMesh(30))],
  ['tricky', 'a:\n  - b: 1\n    c:\n    - x\n    - [y, "z,"]\n  -\n    d: 2\n  - - 3\n    - 4\ne: "q: #"   # note\nf:\ng: { h: [1, 2] }\n\'i j\': 5\n"k\\"": 6\n'],
];

/** Every pointer in a value, plus a missing child of each collection. */
function pointers(v: unknown, base = ''): string[] {
  const out = [base];
  if (Array.isArray(v)) {
    v.forEach((x, i) => out.push(...pointers(x, `${base}/${i}`)));
    out.push(`${base}/${v.length}`, `${base}/name`);
  } else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) out.push(...pointers(x, `${base}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`));
    out.push(`${base}/no-such-field`, `${base}/0`);
  }
  return out;
}

describe('the quick locator', () => {
  it('agrees with the positional document wherever it answers', () => {
    let answered = 0;
    let asked = 0;
    for (const [name, text] of files) {
      const ix = quickIndex(text);
      if (!ix) continue;
      const doc = parseDocument(text);
      if (doc.errors.length) continue;
      const source = parseMeshText(text, name).source;
      for (const ptr of pointers(doc.toJS())) {
        const segs = ptr === '' ? [] : ptr.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
        for (const atKey of [false, true]) {
          asked++;
          const quick = quickOffset(ix, segs, atKey);
          if (quick === undefined) continue;
          answered++;
          expect(quick, `${name} ${ptr} atKey=${atKey}`).toBe(pointerOffset(source, ptr, atKey));
        }
      }
    }
    expect(asked).toBeGreaterThan(2000);
    // The rest are paths into flow collections (`[a, b]`), left to the parser.
    expect(answered / asked).toBeGreaterThan(0.8);
  });

  it('reads the valid fixtures and generated meshes, and leaves other shapes to the parser', () => {
    for (const n of ['minimal', 'shop']) expect(quickIndex(readFileSync(`${root}${n}/mesh.yaml`, 'utf8')), n).toBeDefined();
    expect(quickIndex(readFileSync(`${root}edge-cases/mesh.yaml`, 'utf8'))).toBeUndefined(); // it has anchors
    expect(quickIndex(stringify(generateMesh(30)))).toBeDefined();
    for (const text of ['a: |\n  x\n', 'a: &x 1\nb: *x\n', '---\na: 1\n---\nb: 2\n', 'a: [1,\n  2]\n', 'a: "x\n  y"\n', 'a:\n\tb: 1\n', 'a: !!str 1\n', 'a\n  b: 1\n']) {
      expect(quickIndex(text), JSON.stringify(text)).toBeUndefined();
    }
  });

  it('gives line and column as the parser does', () => {
    const text = 'a: 1\nbb:\n  c: 2\n';
    const ix = quickIndex(text)!;
    expect(quickLinePos(ix, quickOffset(ix, ['bb', 'c'], false)!)).toEqual({ line: 3, col: 6 });
    expect(quickLinePos(ix, quickOffset(ix, ['bb', 'c'], true)!)).toEqual({ line: 3, col: 3 });
  });
});
