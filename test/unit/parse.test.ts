import { describe, expect, it } from 'vitest';
import { locate, parseMeshText, pointerOffset } from '../../src/source/parse.js';
import { error } from '../../src/model/diagnostic.js';

const text = `apiVersion: meshc.dev/v1
kind: Mesh
spec:
  services:
    cart:
      port: 8080
      upstreams: [a, b]
`;

describe('parse', () => {
  it('maps JSON pointers to the line and column of the value', () => {
    const { source } = parseMeshText(text, 'm.yaml');
    const d = locate(source, error('x', '/spec/services/cart/upstreams/1', 'm'));
    expect([d.line, d.col]).toEqual([7, 22]);
    expect(locate(source, error('x', '/spec/services/cart/port', 'm'))).toMatchObject({ line: 6, col: 13, file: 'm.yaml' });
  });

  it('points at the key when asked, and at the deepest existing node for a missing path', () => {
    const { source } = parseMeshText(text, 'm.yaml');
    expect(locate(source, { ...error('x', '/spec/services/cart', 'm'), atKey: true })).toMatchObject({ line: 5, col: 5 });
    const off = pointerOffset(source, '/spec/services/cart/missing', false);
    expect(source.lineCounter!.linePos(off!)).toEqual({ line: 6, col: 7 });
  });

  it('reports duplicate keys at the second occurrence', () => {
    const r = parseMeshText('a: 1\nb: 2\na: 3\n', 'd.yaml');
    expect(r.diagnostics).toMatchObject([{ code: 'duplicate-key', line: 3, col: 1 }]);
    expect(r.value).toBeUndefined();
  });

  it('refuses exponential alias expansion without expanding it', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++) levels.push(`l${i}: &l${i} [${Array(10).fill(i === 1 ? '*a' : `*l${i - 1}`).join(', ')}]`);
    const r = parseMeshText(levels.join('\n'), 'bomb.yaml');
    expect(r.diagnostics[0].code).toBe('yaml-alias-limit');
  });

  it('rejects NUL bytes and invalid UTF-8 with the position of the bad byte', () => {
    expect(parseMeshText(Buffer.from('a: 1\nb: \0'), 'x').diagnostics[0]).toMatchObject({ code: 'not-text', line: 2, col: 4 });
    expect(parseMeshText(Buffer.from([0x61, 0x3a, 0x20, 0xc3, 0x28]), 'x').diagnostics[0]).toMatchObject({ code: 'not-utf8', line: 1, col: 4 });
  });

  it('accepts a UTF-8 byte order mark', () => {
    const r = parseMeshText(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('a: 1\n')]), 'bom.yaml');
    expect(r.diagnostics).toEqual([]);
    expect(r.value).toEqual({ a: 1 });
  });
});
