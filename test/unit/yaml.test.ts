import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { Emitted, reuse, sameJson, toJson, toYaml, toYamlDocuments } from '../../src/output/yaml.js';

const tricky = {
  '@type': 'type.googleapis.com/envoy.config.listener.v3.Listener',
  plain: 'round_robin',
  address: '127.0.0.1',
  hostPort: '127.0.0.1:15443',
  spiffe: 'spiffe://shop.example/ns/shop/sa/cart',
  wildcard: '*.googleapis.com',
  yes: 'yes',
  no: 'no',
  on: 'on',
  nullString: 'null',
  tilde: '~',
  number: '8080',
  octal: '0o17',
  float: '1.5',
  exp: '1e3',
  date: '2026-01-01',
  colonEnd: 'a:',
  colonSpace: 'a: b',
  hash: 'a #b',
  leadingSpace: ' x',
  trailingSpace: 'x ',
  empty: '',
  quote: 'it\'s "quoted"',
  backslash: 'a\\b',
  unicode: 'café ☕',
  control: 'a\u0007b',
  pem: '-----BEGIN CERTIFICATE-----\nMIIB\nAAAA\n-----END CERTIFICATE-----\n',
  noTrailingNewline: 'line1\nline2',
  twoTrailing: 'x\n\n',
  leadingNewline: '\nx',
  indentedFirst: '  x\ny',
  tabbed: 'a\tb\nc',
  crlf: 'a\r\nb',
  n: 0,
  neg: -1.25,
  t: true,
  f: false,
  z: null,
  emptyList: [],
  emptyMap: {},
  list: [1, 'two', { a: 1, b: [{ c: 'd' }, []] }, [], {}, [1, [2, [3]]]],
  nested: { deep: { deeper: { x: 'y' } } },
  'key with space': 1,
  'key:colon': 2,
  '1': 'numeric key',
  '-dash': 3,
};

describe('toYaml', () => {
  it('round-trips every tricky value through a YAML parser', () => {
    expect(parse(toYaml(tricky))).toEqual(tricky);
    for (const v of [[], {}, 'x', 1, null, [[]], [{}], { a: [] }]) expect(parse(toYaml(v))).toEqual(v);
  });

  it('writes small collections of scalars on one line, quoting what flow style would misread', () => {
    const v = { addr: { address: '127.0.0.1', port_value: 15443 }, names: ['a.example.com', '*.b.example.com'], odd: { a: 'x,y', b: '[z]', c: 'p}q', d: 'a: b', e: 'x #y' }, list: [{ k: 'v' }, ['x', 'y']] };
    const text = toYaml(v);
    expect(text).toContain('addr: { address: "127.0.0.1", port_value: 15443 }');
    expect(text).toContain('names: [a.example.com, "*.b.example.com"]');
    expect(parse(text)).toEqual(v);
  });

  it('sorts keys, drops undefined, and writes multi-line text as literal blocks', () => {
    const text = toYaml({ b: 1, a: { d: undefined, c: 'x\ny\n' } }, 'generated');
    expect(text).toBe('# generated\na:\n  c: |\n    x\n    y\nb: 1\n');
  });

  it('quotes what YAML 1.1 would read as something else', () => {
    const text = toYaml({ v: ['yes', 'no', 'on', 'off', 'null', '8080', '0x1f', '1_000', '12:30'] });
    for (const s of ['yes', 'no', 'on', 'off', 'null', '8080', '0x1f', '1_000', '12:30']) expect(text).toContain(`"${s}"`);
  });

  it('writes a value by its context: plain in block style, quoted in flow style, every time', () => {
    const v = { a: 'x y,z', b: { c: 'x y,z' }, d: ['x y,z'] };
    for (let i = 0; i < 2; i++) {
      const text = toYaml(v);
      expect(text).toContain('a: x y,z\n');
      expect(text).toContain('b: { c: "x y,z" }');
      expect(text).toContain('d: ["x y,z"]');
      expect(parse(text)).toEqual(v);
    }
  });

  it('sameJson: equal exactly when toJson writes the same text', () => {
    const cases: [unknown, unknown][] = [
      [{ a: 1, b: [1, { c: 'x' }] }, { b: [1, { c: 'x' }], a: 1 }],
      [{ a: 1, u: undefined }, { a: 1 }],
      [{ a: [1, 2] }, { a: [2, 1] }],
      [{ a: null }, { a: undefined }],
      [{ a: { b: 1 } }, { a: { b: '1' } }],
      [[], {}],
      [{ a: 1 }, { b: 1 }],
      ['x', 'x'],
    ];
    for (const [a, b] of cases) expect(sameJson(a, b), JSON.stringify([a, b])).toBe(toJson(a) === toJson(b));
  });

  it('objects with the same keys in any order, or with one key more or fewer, are each written by their own keys', () => {
    // The emitter keeps the sorted order per order of keys (see orderOf): none may leak into another.
    const docs = [
      { name: 'a', value: 1 },
      { value: 2, name: 'b' },
      { name: 'c', value: undefined, extra: 'x' },
      { name: 'd', extra: 'y', value: 3 },
      { name: 'e' },
      { name: 'f', value: undefined },
      { 10: 'ten', 9: 'nine', b: 'bee', a: 'a' },
      // more orders under one first key than the cache keeps per key
      ...Array.from({ length: 80 }, (_, i) => ({ name: `n${i}`, [`k${i}`]: i, [`j${i % 7}`]: { deep: i } })),
    ];
    for (const d of docs) {
      const text = toYaml(d);
      expect(parse(text)).toEqual(JSON.parse(JSON.stringify(d)));
      const keys = Object.keys(d).filter((k) => (d as Record<string, unknown>)[k] !== undefined);
      const written = text.split('\n').filter((l) => /^[^ ]/.test(l)).map((l) => l.slice(0, l.indexOf(':')).replace(/^"|"$/g, ''));
      expect(written).toEqual([...keys].sort());
    }
    expect(toYaml({ value: undefined, name: undefined })).toBe('{}\n');
  });

  it('joins documents with ---', () => {
    expect(parse(toYamlDocuments([{ a: 1 }, { b: 2 }]).split('---\n')[1])).toEqual({ b: 2 });
  });

  it('reuse: a shared object is written exactly as a fresh copy would be, wherever it stands', () => {
    const make = () => ({ name: 'x', list: [{ a: 1, long: 'y'.repeat(120) }, 'z'], deep: { text: 'two\nlines\n' } });
    const shared = reuse(make());
    // More places than one object remembers, each twice, so remembered texts are replaced and reused.
    const docs = (part: object) => [
      { top: part },
      { items: [part, part] },
      { a: { b: { c: [part] } } },
      [[part]],
      { top: part, again: { x: part } },
      { items: [part] },
    ];
    for (let round = 0; round < 2; round++) {
      docs(shared).forEach((doc, i) => expect(toYaml(doc)).toBe(toYaml(docs(make())[i])));
    }
  });

  it('Emitted: a document this emitter wrote is embedded exactly as the same string would be', () => {
    const docs = [toYaml(tricky, 'header'), toYaml({ script: 'a\n\n  b\n', x: 1 }), toYaml({ del: 'a\u007fb' }), 'one line, no newline'];
    for (const text of docs) {
      const asString = toYaml({ data: { 'f.yaml': text }, list: [{ k: text }] });
      expect(toYaml({ data: { 'f.yaml': new Emitted(text) }, list: [{ k: new Emitted(text) }] })).toBe(asString);
      expect(parse(asString).data['f.yaml']).toBe(text);
    }
  });

  it('literal blocks keep every kind of line ending and blank line', () => {
    for (const text of ['a\nb', 'a\nb\n', 'a\nb\n\n', 'a\n\nb\n', 'a\n\n\nb\n\n\n', 'a\n  b\n']) {
      const written = toYaml({ x: text, list: [text] });
      expect(written).toContain('|');
      expect(parse(written)).toEqual({ x: text, list: [text] });
    }
  });

  it('escapes DEL, which YAML allows in no scalar unescaped', () => {
    expect(toYaml({ del: 'a\u007fb' })).toBe('del: "a\\u007fb"\n');
  });
});
