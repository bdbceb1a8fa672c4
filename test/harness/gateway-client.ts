/**
 * A client that talks to the egress gateway itself, as an application bypassing its sidecar
 * would: an outer TLS connection to the gateway (SNI = the destination, optionally a client
 * certificate), and inside it the client's own TLS to the destination (its SNI, its CA), then
 * `GET /tls`. Never throws: refusals come back as `{ ok: false, error }`.
 */
import tls from 'node:tls';

export interface GatewayTlsRequest {
  host: string;
  port: number;
  /** The destination: outer and inner SNI. */
  name: string;
  /** CA of the destination's certificate (inner TLS). */
  siteCa: string;
  /** Client certificate and key for the outer connection; none: no certificate. */
  cert?: string;
  key?: string;
  /** Source address (a client in a given pod). */
  localAddress?: string;
  timeoutMs?: number;
}

export type GatewayResult = { ok: true; status: number; body: string } | { ok: false; error: string };

export function tlsThroughGateway(r: GatewayTlsRequest): Promise<GatewayResult> {
  const timeoutMs = r.timeoutMs ?? 5_000;
  return new Promise<GatewayResult>((resolve) => {
    let done = false;
    const sockets: tls.TLSSocket[] = [];
    const finish = (res: GatewayResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      for (const s of sockets) s.destroy();
      resolve(res);
    };
    const timer = setTimeout(() => finish({ ok: false, error: `timed out after ${timeoutMs} ms` }), timeoutMs);
    // The gateway's own certificate is not what this client is testing: it is not checked.
    const outer = tls.connect({ host: r.host, port: r.port, servername: r.name, cert: r.cert, key: r.key, localAddress: r.localAddress, rejectUnauthorized: false });
    sockets.push(outer);
    outer.on('error', (e) => finish({ ok: false, error: `outer: ${e.message}` }));
    outer.on('close', () => finish({ ok: false, error: 'outer: closed' }));
    outer.on('secureConnect', () => {
      const inner = tls.connect({ socket: outer, servername: r.name, ca: r.siteCa });
      sockets.push(inner);
      let reply = '';
      inner.on('error', (e) => finish({ ok: false, error: `inner: ${e.message}` }));
      inner.on('secureConnect', () => inner.write(`GET /tls HTTP/1.1\r\nHost: ${r.name}\r\nConnection: close\r\n\r\n`));
      inner.on('data', (c: Buffer) => (reply += c.toString('utf8')));
      inner.on('end', () => {
        const m = /^HTTP\/1\.1 (\d+)/.exec(reply);
        if (!m) return finish({ ok: false, error: `inner: no HTTP answer (${JSON.stringify(reply.slice(0, 80))})` });
        const body = reply.slice(reply.indexOf('\r\n\r\n') + 4);
        finish({ ok: true, status: Number(m[1]), body: dechunk(reply, body) });
      });
    });
  });
}

/** The body of a chunked HTTP/1.1 reply, or `body` as it is. */
function dechunk(reply: string, body: string): string {
  if (!/\r\ntransfer-encoding: chunked\r\n/i.test(reply.slice(0, reply.indexOf('\r\n\r\n') + 2))) return body;
  let out = '';
  let rest = body;
  for (;;) {
    const eol = rest.indexOf('\r\n');
    const size = parseInt(rest.slice(0, eol), 16);
    if (!size) return out;
    out += rest.slice(eol + 2, eol + 2 + size);
    rest = rest.slice(eol + 2 + size + 2);
  }
}
