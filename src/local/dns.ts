/**
 * A tiny DNS server over UDP (node:dgram): the built-in DNS of `meshc up`, and the tests' server
 * for fake external domains. Answers A queries from a table with TTL 1; everything else for a
 * known name is NOERROR with no answers (so AAAA lookups fall back to A quickly). Unknown names
 * are NXDOMAIN, or, with `forward`, whatever the forwarder finds (`meshc up` asks the system
 * resolver). Known to work with c-ares (Envoy), nginx `resolver`, HAProxy `resolvers` and node:dns.
 */
import dgram from 'node:dgram';

export const DNS_TYPE = { A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, OPT: 41, ANY: 255 } as const;
export const DNS_RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;

export interface DnsQuestion {
  id: number;
  flags: number;
  /** Lower-cased, without the trailing dot. */
  name: string;
  type: number;
  qclass: number;
  /** The raw question section (QNAME QTYPE QCLASS) as received, echoed in the answer. */
  questionBytes: Buffer;
}

/** Parses the header and first question of a query. Throws on malformed or compressed QNAMEs. */
export function parseQuery(msg: Buffer): DnsQuestion {
  if (msg.length < 12) throw new Error('dns: message shorter than its header');
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  const qdcount = msg.readUInt16BE(4);
  if (flags & 0x8000) throw new Error('dns: not a query (QR set)');
  if (qdcount < 1) throw new Error('dns: no question');
  const labels: string[] = [];
  let off = 12;
  for (;;) {
    if (off >= msg.length) throw new Error('dns: QNAME runs past the message');
    const len = msg[off];
    if (len === 0) {
      off += 1;
      break;
    }
    if ((len & 0xc0) !== 0) throw new Error('dns: compressed or extended label in the question');
    if (off + 1 + len > msg.length) throw new Error('dns: label runs past the message');
    labels.push(msg.toString('latin1', off + 1, off + 1 + len));
    off += 1 + len;
  }
  if (off + 4 > msg.length) throw new Error('dns: question truncated');
  const type = msg.readUInt16BE(off);
  const qclass = msg.readUInt16BE(off + 2);
  return { id, flags, name: labels.join('.').toLowerCase(), type, qclass, questionBytes: msg.subarray(12, off + 4) };
}

/** Encodes a name as uncompressed labels (used by tests to build queries). */
export function encodeName(name: string): Buffer {
  const parts = name.replace(/\.$/, '').split('.').filter((l) => l.length > 0);
  const bufs = parts.map((l) => {
    const b = Buffer.from(l, 'latin1');
    if (b.length > 63) throw new Error(`dns: label too long: ${l}`);
    return Buffer.concat([Buffer.from([b.length]), b]);
  });
  return Buffer.concat([...bufs, Buffer.from([0])]);
}

/** Builds a standard query (RD set), for tests. */
export function buildQuery(id: number, name: string, type: number): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2); // RD
  header.writeUInt16BE(1, 4);
  const q = Buffer.alloc(4);
  q.writeUInt16BE(type, 0);
  q.writeUInt16BE(1, 2);
  return Buffer.concat([header, encodeName(name), q]);
}

function ipv4Bytes(ip: string): Buffer {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`dns: not an IPv4 address: ${ip}`);
  }
  return Buffer.from(parts);
}

/**
 * Builds the response to q. addresses: undefined = unknown name (NXDOMAIN); [] = known name,
 * no records of this type (NOERROR, empty answer). Flags: QR, AA, RA, RD and opcode copied.
 */
export function buildResponse(q: DnsQuestion, addresses: string[] | undefined, rcode?: number): Buffer {
  const code = rcode ?? (addresses === undefined ? DNS_RCODE.NXDOMAIN : DNS_RCODE.NOERROR);
  const answers = code === DNS_RCODE.NOERROR ? (addresses ?? []) : [];
  const header = Buffer.alloc(12);
  header.writeUInt16BE(q.id, 0);
  const opcode = q.flags & 0x7800;
  const rd = q.flags & 0x0100;
  header.writeUInt16BE(0x8000 | opcode | 0x0400 /* AA */ | rd | 0x0080 /* RA */ | (code & 0xf), 2);
  header.writeUInt16BE(1, 4); // QDCOUNT
  header.writeUInt16BE(answers.length, 6); // ANCOUNT
  const rrs = answers.map((ip) => {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // pointer to the QNAME at offset 12
    rr.writeUInt16BE(DNS_TYPE.A, 2);
    rr.writeUInt16BE(1, 4); // IN
    rr.writeUInt32BE(1, 6); // TTL 1 s
    rr.writeUInt16BE(4, 10);
    ipv4Bytes(ip).copy(rr, 12);
    return rr;
  });
  return Buffer.concat([header, q.questionBytes, ...rrs]);
}

/** A FORMERR reply echoing just the id, for messages we cannot parse. */
function formErr(msg: Buffer): Buffer | undefined {
  if (msg.length < 2) return undefined;
  const header = Buffer.alloc(12);
  header.writeUInt16BE(msg.readUInt16BE(0), 0);
  header.writeUInt16BE(0x8000 | DNS_RCODE.FORMERR, 2);
  return header;
}

export type DnsRecords = Record<string, string | string[]>;

/**
 * Looks a name up: exact entries first, then the longest matching '*.suffix' wildcard, which
 * matches subdomains at any depth but not the suffix itself. Case-insensitive.
 */
export function lookupRecord(records: DnsRecords, name: string): string[] | undefined {
  const lower = name.toLowerCase().replace(/\.$/, '');
  const table = new Map(Object.entries(records).map(([k, v]) => [k.toLowerCase().replace(/\.$/, ''), v] as const));
  const exact = table.get(lower);
  if (exact !== undefined) return Array.isArray(exact) ? exact : [exact];
  const labels = lower.split('.');
  for (let i = 1; i < labels.length; i++) {
    const wild = table.get(`*.${labels.slice(i).join('.')}`);
    if (wild !== undefined) return Array.isArray(wild) ? wild : [wild];
  }
  return undefined;
}

/** Answers one query message; exported for unit tests. */
export function answerQuery(records: DnsRecords, msg: Buffer): { reply?: Buffer; question?: DnsQuestion } {
  let q: DnsQuestion;
  try {
    q = parseQuery(msg);
  } catch {
    return { reply: formErr(msg) };
  }
  if ((q.flags & 0x7800) !== 0) return { reply: buildResponse(q, [], DNS_RCODE.NOTIMP), question: q };
  const found = lookupRecord(records, q.name);
  if (found === undefined) return { reply: buildResponse(q, undefined), question: q };
  const wantsA = q.type === DNS_TYPE.A || q.type === DNS_TYPE.ANY;
  return { reply: buildResponse(q, wantsA && q.qclass === 1 ? found : []), question: q };
}

export interface DnsServer {
  host: string;
  port: number;
  /** Every question received, in order (name lower-cased, without the trailing dot). */
  queries: { name: string; type: number }[];
  /** Replace or add records while running. */
  setRecord(name: string, ip: string | string[] | undefined): void;
  close(): Promise<void>;
}

/** Looks up a name the table does not hold: its IPv4 addresses, or undefined when it does not exist. */
export type DnsForwarder = (name: string) => Promise<string[] | undefined>;

/** Starts the DNS server on host:port (UDP; port 0 / omitted: the kernel picks). */
export async function startDns(opts: { host: string; port?: number; records: DnsRecords; forward?: DnsForwarder }): Promise<DnsServer> {
  const records: DnsRecords = { ...opts.records };
  const socket = dgram.createSocket({ type: 'udp4' });
  const queries: { name: string; type: number }[] = [];
  socket.on('message', (msg, rinfo) => {
    const { reply, question } = answerQuery(records, msg);
    if (question) queries.push({ name: question.name, type: question.type });
    const forward = opts.forward;
    if (forward && question && lookupRecord(records, question.name) === undefined && (question.flags & 0x7800) === 0) {
      forward(question.name).then(
        (found) => {
          const wantsA = question.type === DNS_TYPE.A || question.type === DNS_TYPE.ANY;
          socket.send(buildResponse(question, found === undefined ? undefined : wantsA ? found : []), rinfo.port, rinfo.address);
        },
        () => socket.send(buildResponse(question, [], DNS_RCODE.SERVFAIL), rinfo.port, rinfo.address),
      );
      return;
    }
    if (reply) socket.send(reply, rinfo.port, rinfo.address);
  });
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind({ address: opts.host, port: opts.port ?? 0, exclusive: true }, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  let closed = false;
  return {
    host: opts.host,
    port: socket.address().port,
    queries,
    setRecord(name, ip) {
      if (ip === undefined) delete records[name];
      else records[name] = ip;
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (closed) return resolve();
        closed = true;
        socket.close(() => resolve());
      }),
  };
}
