/**
 * A local OTLP trace receiver for tests: OTLP/HTTP (protobuf or JSON, POST /v1/traces) and
 * OTLP/gRPC (TraceService/Export over cleartext HTTP/2), on loopback. It decodes just enough of
 * the protobuf (a small wire-format reader, no generated code) to record each span's trace id,
 * span id, parent span id, name and the `service.name` of its resource.
 *
 * Spec: https://github.com/open-telemetry/opentelemetry-proto (trace/v1/trace.proto,
 * collector/trace/v1/trace_service.proto).
 */
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  service: string;
}

export interface OtlpReceiver {
  host: string;
  port: number;
  protocol: 'http' | 'grpc';
  spans: ReceivedSpan[];
  /** Export requests received (decoded or not). */
  requests: number;
  /** Paths of gRPC calls to another method (unanswered). */
  unknown: string[];
  close(): Promise<void>;
}

interface Field {
  no: number;
  wire: number;
  bytes?: Buffer;
  int?: bigint;
}

function varint(buf: Buffer, pos: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++];
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [result, pos];
    shift += 7n;
  }
}

/** The fields of one protobuf message, in order. */
export function protoFields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const [key, p] = varint(buf, pos);
    pos = p;
    const no = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) {
      const [v, q] = varint(buf, pos);
      out.push({ no, wire, int: v });
      pos = q;
    } else if (wire === 1) {
      out.push({ no, wire, int: buf.readBigUInt64LE(pos) });
      pos += 8;
    } else if (wire === 2) {
      const [len, q] = varint(buf, pos);
      const end = q + Number(len);
      if (end > buf.length) throw new Error('truncated field');
      out.push({ no, wire, bytes: buf.subarray(q, end) });
      pos = end;
    } else if (wire === 5) {
      out.push({ no, wire, int: BigInt(buf.readUInt32LE(pos)) });
      pos += 4;
    } else {
      throw new Error(`unsupported wire type ${wire}`);
    }
  }
  return out;
}

const sub = (fields: Field[], no: number) => fields.filter((f) => f.no === no && f.bytes).map((f) => f.bytes!);
const str = (fields: Field[], no: number) => sub(fields, no)[0]?.toString('utf8') ?? '';
const hex = (fields: Field[], no: number) => sub(fields, no)[0]?.toString('hex') ?? '';

/** The spans of an ExportTraceServiceRequest in protobuf. */
export function decodeTraceRequest(buf: Buffer): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const rs of sub(protoFields(buf), 1)) {
    const rsf = protoFields(rs);
    let service = '';
    for (const resource of sub(rsf, 1)) {
      for (const kv of sub(protoFields(resource), 1)) {
        const kvf = protoFields(kv);
        if (str(kvf, 1) === 'service.name') service = str(protoFields(sub(kvf, 2)[0] ?? Buffer.alloc(0)), 1);
      }
    }
    for (const ss of sub(rsf, 2)) {
      for (const span of sub(protoFields(ss), 2)) {
        const f = protoFields(span);
        spans.push({ traceId: hex(f, 1), spanId: hex(f, 2), parentSpanId: hex(f, 4), name: str(f, 5), service });
      }
    }
  }
  return spans;
}

/** The same from OTLP/JSON (ids in hex, as the OTLP/JSON mapping writes them). */
function decodeJsonRequest(text: string): ReceivedSpan[] {
  const body = JSON.parse(text) as {
    resourceSpans?: { resource?: { attributes?: { key: string; value: { stringValue?: string } }[] }; scopeSpans?: { spans?: Record<string, string>[] }[] }[];
  };
  const spans: ReceivedSpan[] = [];
  for (const rs of body.resourceSpans ?? []) {
    const service = rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) spans.push({ traceId: s.traceId ?? '', spanId: s.spanId ?? '', parentSpanId: s.parentSpanId ?? '', name: s.name ?? '', service });
    }
  }
  return spans;
}

/** Starts a receiver on `host` (a loopback address), on a port the system picks. */
export async function startOtlpReceiver(opts: { host: string; protocol: 'http' | 'grpc' }): Promise<OtlpReceiver> {
  const receiver: OtlpReceiver = { host: opts.host, port: 0, protocol: opts.protocol, spans: [], requests: 0, unknown: [], close: async () => undefined };
  const record = (body: Buffer, json: boolean) => {
    receiver.requests++;
    receiver.spans.push(...(json ? decodeJsonRequest(body.toString('utf8')) : decodeTraceRequest(body)));
  };
  if (opts.protocol === 'http') {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.method !== 'POST' || req.url !== '/v1/traces') {
          res.writeHead(404).end();
          return;
        }
        const json = (req.headers['content-type'] ?? '').includes('json');
        record(Buffer.concat(chunks), json);
        // An empty ExportTraceServiceResponse.
        res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' }).end(json ? '{}' : '');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, opts.host, resolve));
    receiver.port = (server.address() as AddressInfo).port;
    receiver.close = () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    return receiver;
  }
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    // A stream cut short (the receiver closing its sessions, Envoy resetting an export) loses
    // only that export; unhandled, its error would end the test run.
    stream.on('error', () => {});
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      if (headers[':path'] !== '/opentelemetry.proto.collector.trace.v1.TraceService/Export') {
        receiver.unknown.push(String(headers[':path']));
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '12' }, { endStream: true });
        return;
      }
      // gRPC framing: a flag byte, a 4-byte length, the message.
      const body = Buffer.concat(chunks);
      for (let pos = 0; pos + 5 <= body.length; ) {
        const len = body.readUInt32BE(pos + 1);
        record(body.subarray(pos + 5, pos + 5 + len), false);
        pos += 5 + len;
      }
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(Buffer.from([0, 0, 0, 0, 0]));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, opts.host, resolve));
  receiver.port = (server.address() as AddressInfo).port;
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('error', () => {});
    s.on('close', () => sessions.delete(s));
  });
  receiver.close = () =>
    new Promise((resolve) => {
      for (const s of sessions) s.destroy();
      server.close(() => resolve());
    });
  return receiver;
}
