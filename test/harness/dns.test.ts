import { describe, expect, it } from 'vitest';
import { answerQuery, buildQuery, DNS_RCODE, DNS_TYPE, encodeName, lookupRecord, parseQuery } from './dns.js';

function header(reply: Buffer) {
  const flags = reply.readUInt16BE(2);
  return {
    id: reply.readUInt16BE(0),
    qr: !!(flags & 0x8000),
    aa: !!(flags & 0x0400),
    rd: !!(flags & 0x0100),
    ra: !!(flags & 0x0080),
    rcode: flags & 0xf,
    qd: reply.readUInt16BE(4),
    an: reply.readUInt16BE(6),
    ns: reply.readUInt16BE(8),
    ar: reply.readUInt16BE(10),
  };
}

describe('dns packets', () => {
  it('encodes and parses a question', () => {
    expect(encodeName('api.Example.com.')).toEqual(Buffer.from('\x03api\x07Example\x03com\x00', 'latin1'));
    const q = parseQuery(buildQuery(0xbeef, 'API.example.com', DNS_TYPE.AAAA));
    expect(q).toMatchObject({ id: 0xbeef, name: 'api.example.com', type: DNS_TYPE.AAAA, qclass: 1 });
  });

  it('rejects malformed questions', () => {
    expect(() => parseQuery(Buffer.alloc(5))).toThrow(/header/);
    const truncated = buildQuery(1, 'a.example', 1).subarray(0, 16);
    expect(() => parseQuery(truncated)).toThrow();
    const compressed = Buffer.concat([buildQuery(1, 'x', 1).subarray(0, 12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]);
    expect(() => parseQuery(compressed)).toThrow(/compressed/);
  });

  it('answers A with the address, TTL 1, the question echoed and QR/AA/RD/RA set', () => {
    const query = buildQuery(0x1234, 'Api.Fake.Test', DNS_TYPE.A);
    const { reply } = answerQuery({ 'api.fake.test': '10.1.2.3' }, query);
    const h = header(reply!);
    expect(h).toEqual({ id: 0x1234, qr: true, aa: true, rd: true, ra: true, rcode: 0, qd: 1, an: 1, ns: 0, ar: 0 });
    const questionLen = query.length - 12;
    expect(reply!.subarray(12, 12 + questionLen)).toEqual(query.subarray(12)); // case preserved (0x20)
    const rr = reply!.subarray(12 + questionLen);
    expect(rr.readUInt16BE(0)).toBe(0xc00c);
    expect(rr.readUInt16BE(2)).toBe(DNS_TYPE.A);
    expect(rr.readUInt16BE(4)).toBe(1);
    expect(rr.readUInt32BE(6)).toBe(1);
    expect(rr.readUInt16BE(10)).toBe(4);
    expect([...rr.subarray(12, 16)]).toEqual([10, 1, 2, 3]);
  });

  it('answers several addresses', () => {
    const { reply } = answerQuery({ 'multi.test': ['127.0.0.2', '127.0.0.3'] }, buildQuery(7, 'multi.test', DNS_TYPE.A));
    expect(header(reply!).an).toBe(2);
  });

  it('answers AAAA for a known name with NOERROR and no records, unknown names with NXDOMAIN', () => {
    const records = { 'api.fake.test': '10.1.2.3' };
    const aaaa = header(answerQuery(records, buildQuery(1, 'api.fake.test', DNS_TYPE.AAAA)).reply!);
    expect(aaaa).toMatchObject({ rcode: DNS_RCODE.NOERROR, an: 0, qd: 1, aa: true });
    const nx = header(answerQuery(records, buildQuery(2, 'other.fake.test', DNS_TYPE.A)).reply!);
    expect(nx).toMatchObject({ rcode: DNS_RCODE.NXDOMAIN, an: 0, qd: 1 });
  });

  it('matches wildcards at any depth but not the apex; exact and longer wildcards win', () => {
    const records = { '*.example.com': '1.1.1.1', '*.eu.example.com': '2.2.2.2', 'www.eu.example.com': '3.3.3.3' };
    expect(lookupRecord(records, 'a.example.com')).toEqual(['1.1.1.1']);
    expect(lookupRecord(records, 'a.b.c.example.com')).toEqual(['1.1.1.1']);
    expect(lookupRecord(records, 'x.eu.example.com')).toEqual(['2.2.2.2']);
    expect(lookupRecord(records, 'WWW.eu.example.com.')).toEqual(['3.3.3.3']);
    expect(lookupRecord(records, 'example.com')).toBeUndefined();
  });

  it('answers garbage with FORMERR', () => {
    const { reply } = answerQuery({}, Buffer.from([0xab, 0xcd, 0x01]));
    expect(header(reply!)).toMatchObject({ id: 0xabcd, qr: true, rcode: DNS_RCODE.FORMERR });
  });

  it('clears RD in the answer when the query did not set it', () => {
    const q = buildQuery(9, 'api.fake.test', DNS_TYPE.A);
    q.writeUInt16BE(0, 2);
    expect(header(answerQuery({ 'api.fake.test': '10.0.0.1' }, q).reply!).rd).toBe(false);
  });
});
