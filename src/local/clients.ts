/**
 * Clients for tests. Every call opens a fresh connection (agent: false), so load-balancing tests
 * see one decision per request.
 */
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';

export interface HttpResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface HttpGetOptions {
  headers?: Record<string, string>;
  ca?: string;
  cert?: string;
  key?: string;
  /** TLS SNI; default: the URL's host name (none when it is an IP address). */
  servername?: string;
  /** Default 10 000 ms for the whole exchange. */
  timeoutMs?: number;
  /** Default true. */
  rejectUnauthorized?: boolean;
  /** Connect to this IP instead of resolving the URL's host (Host header and SNI stay the URL's). */
  lookupHost?: string;
  /** Default GET. */
  method?: string;
  body?: string;
}

/** GET (or opts.method) url over a fresh connection; rejects on network/TLS errors and timeouts. */
export async function httpGet(url: string, opts: HttpGetOptions = {}): Promise<HttpResult> {
  const u = new URL(url);
  const isHttps = u.protocol === 'https:';
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const lookupHost = opts.lookupHost;
  const options: https.RequestOptions = {
    method: opts.method ?? 'GET',
    agent: false,
    headers: opts.headers,
    timeout: timeoutMs,
  };
  if (lookupHost) {
    options.lookup = ((_host: string, lookupOpts: { all?: boolean }, cb: (...args: unknown[]) => void) => {
      const family = net.isIPv6(lookupHost) ? 6 : 4;
      if (lookupOpts?.all) cb(null, [{ address: lookupHost, family }]);
      else cb(null, lookupHost, family);
    }) as unknown as https.RequestOptions['lookup'];
  }
  if (isHttps) {
    Object.assign(options, {
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      rejectUnauthorized: opts.rejectUnauthorized ?? true,
    });
    const hostname = u.hostname.replace(/^\[|\]$/g, '');
    const sni = opts.servername ?? (net.isIP(hostname) ? undefined : hostname);
    if (sni) options.servername = sni;
  }
  return new Promise<HttpResult>((resolve, reject) => {
    const timer = setTimeout(() => req.destroy(new Error(`${options.method} ${url}: timed out after ${timeoutMs} ms`)), timeoutMs);
    const req = (isHttps ? https : http).request(u, options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: { ...res.headers }, body });
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${options.method} ${url}: idle for ${timeoutMs} ms`)));
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(opts.body);
  });
}

export interface TlsProbeResult {
  /** The handshake completed and the peer did not reject us right after it (see settleMs). */
  connected: boolean;
  /** The server's certificate chain verified against ca (and the name, when servername is set). */
  authorized: boolean;
  /** The first TLS/network error, or the authorization error. */
  error?: string;
  peerCertificate?: tls.PeerCertificate;
  /** Whatever the server sent back (after `send`), until close or timeout. */
  response?: string;
  /** Negotiated protocol, e.g. TLSv1.3. */
  protocol?: string;
  alpnProtocol?: string | false;
  /** The peer closed (FIN, reset or alert) before the probe was done. */
  closedByPeer?: boolean;
}

/**
 * Connects with TLS and reports what happened; never throws for TLS or network errors.
 *
 * TLS 1.3 pitfall: the client finishes its handshake before the server has checked the client
 * certificate, so a server that refuses the client (no or untrusted certificate) does so with an
 * alert that arrives after 'secureConnect' (Node's own TLS server just closes the socket). The
 * probe therefore waits settleMs (default 300 ms) or, with `send`, reads until close: a TLS alert,
 * or a close before any data arrived, in that time sets connected to false (with `error`).
 * The server certificate is not enforced (rejectUnauthorized false); `authorized` reports it.
 */
export async function tlsProbe(opts: {
  host: string;
  port: number;
  servername?: string;
  ca?: string;
  cert?: string;
  key?: string;
  timeoutMs?: number;
  send?: string;
  settleMs?: number;
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  alpnProtocols?: string[];
}): Promise<TlsProbeResult> {
  const timeoutMs = opts.timeoutMs ?? 5_000;
  return new Promise<TlsProbeResult>((resolve) => {
    const result: TlsProbeResult = { connected: false, authorized: false };
    let handshaken = false;
    let gotData = false;
    let response = '';
    let finished = false;
    const socket = tls.connect({
      host: opts.host,
      port: opts.port,
      servername: opts.servername,
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      rejectUnauthorized: false,
      minVersion: opts.minVersion,
      maxVersion: opts.maxVersion,
      ALPNProtocols: opts.alpnProtocols,
    });
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(overall);
      clearTimeout(settle);
      if (opts.send !== undefined || response) result.response = response;
      socket.removeAllListeners('data');
      socket.on('error', () => {});
      socket.destroy();
      resolve(result);
    };
    const overall = setTimeout(() => {
      if (!handshaken && !result.error) result.error = `timed out after ${timeoutMs} ms`;
      finish();
    }, timeoutMs);
    let settle: NodeJS.Timeout | undefined;
    socket.on('secureConnect', () => {
      handshaken = true;
      result.connected = true;
      result.authorized = socket.authorized;
      if (!socket.authorized && socket.authorizationError) result.error = String(socket.authorizationError);
      result.peerCertificate = socket.getPeerCertificate(); // not detailed: the detailed chain is circular at a self-signed root (JSON.stringify throws)
      result.protocol = socket.getProtocol() ?? undefined;
      result.alpnProtocol = socket.alpnProtocol ?? false;
      if (opts.send !== undefined) socket.write(opts.send);
      else settle = setTimeout(finish, opts.settleMs ?? 300);
    });
    socket.on('data', (chunk: Buffer) => {
      gotData = true;
      response += chunk.toString('utf8');
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (finished) return;
      result.closedByPeer = handshaken;
      const text = err.code ? `${err.code}: ${err.message.trim()}` : err.message.trim();
      // A TLS alert right after our handshake (before any data) is the server refusing us.
      const tlsRefusal = /SSL|alert|certificate/i.test(text);
      if (handshaken && !gotData && tlsRefusal) result.connected = false;
      if (!handshaken || tlsRefusal || !result.error) result.error = text;
      finish();
    });
    const onPeerClose = () => {
      if (!finished) {
        result.closedByPeer = true;
        if (handshaken && !gotData) {
          result.connected = false;
          result.error ??= 'connection closed by the peer right after the handshake';
        }
      }
      finish();
    };
    socket.on('end', onPeerClose);
    socket.on('close', onPeerClose);
  });
}

/**
 * HTTP CONNECT through proxyHost:proxyPort to targetAuthority (host:port), then TLS
 * (SNI = opts.servername or the target host) and GET / over the tunnel.
 * connectStatus 0 means the proxy closed or reset the connection without an HTTP answer (see
 * `error`; ECONNREFUSED there means nothing listens, a broken test rather than a refusal).
 * Failures inside the tunnel are reported in `error` with the connectStatus. Never throws.
 */
export async function httpViaConnectProxy(
  proxyHost: string,
  proxyPort: number,
  targetAuthority: string,
  opts: { ca?: string; servername?: string; cert?: string; key?: string; path?: string; timeoutMs?: number; rejectUnauthorized?: boolean } = {},
): Promise<{ connectStatus: number; status?: number; body?: string; headers?: Record<string, string | string[] | undefined>; error?: string }> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const targetHost = targetAuthority.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: { connectStatus: number; status?: number; body?: string; headers?: Record<string, string | string[] | undefined>; error?: string }) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(() => {
      req.destroy();
      done({ connectStatus: 0, error: `timed out after ${timeoutMs} ms` });
    }, timeoutMs);
    const req = http.request({
      host: proxyHost,
      port: proxyPort,
      method: 'CONNECT',
      path: targetAuthority,
      headers: { host: targetAuthority },
      agent: false,
    });
    req.on('connect', (res, socket) => {
      const connectStatus = res.statusCode ?? 0;
      if (connectStatus !== 200) {
        socket.destroy();
        done({ connectStatus });
        return;
      }
      const inner = https.request({
        host: targetHost,
        path: opts.path ?? '/',
        method: 'GET',
        // No agent: only then does http(s).request use createConnection (agent: false ignores it).
        headers: { host: targetAuthority, connection: 'close' },
        createConnection: () =>
          tls.connect({
            socket,
            servername: opts.servername ?? (net.isIP(targetHost) ? undefined : targetHost),
            ca: opts.ca,
            cert: opts.cert,
            key: opts.key,
            rejectUnauthorized: opts.rejectUnauthorized ?? true,
          }),
      }, (innerRes) => {
        let body = '';
        innerRes.setEncoding('utf8');
        innerRes.on('data', (c: string) => (body += c));
        innerRes.on('end', () => {
          socket.destroy();
          done({ connectStatus, status: innerRes.statusCode, headers: { ...innerRes.headers }, body });
        });
        innerRes.on('error', (err) => done({ connectStatus, error: err.message }));
      });
      inner.on('error', (err) => {
        socket.destroy();
        done({ connectStatus, error: err.message });
      });
      inner.end();
    });
    // Some proxies answer a refused CONNECT with a normal response that has a body.
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => done({ connectStatus: res.statusCode ?? 0, body }));
    });
    req.on('error', (err) => done({ connectStatus: 0, error: err.message }));
    req.end();
  });
}

/**
 * Sends request bytes as they are and returns everything received until the peer closes or
 * timeoutMs (default 5 000) passes. A reset returns what came before it ('' when nothing did:
 * that is how a dropped request looks). Rejects when the connection is refused (nothing listens:
 * a broken test, never a policy outcome). Add `Connection: close` to get a prompt answer.
 */
export async function rawHttp(host: string, port: number, request: string, timeoutMs = 5_000): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let data = '';
    let finished = false;
    let connected = false;
    const socket = net.connect({ host, port });
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      socket.on('error', () => {});
      socket.destroy();
      resolve(data);
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on('connect', () => {
      connected = true;
      socket.write(request);
    });
    socket.on('data', (c: Buffer) => (data += c.toString('utf8')));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected && !finished) {
        finished = true;
        clearTimeout(timer);
        reject(new Error(`rawHttp ${host}:${port}: ${err.code ?? err.message}`));
        return;
      }
      finish();
    });
    socket.on('end', finish);
    socket.on('close', finish);
  });
}

/**
 * One HTTP/2 request on a fresh session: h2c with prior knowledge for http:// URLs, TLS with
 * ALPN h2 for https://. Rejects on network/TLS errors and timeouts.
 */
export async function http2Get(
  url: string,
  opts: { headers?: Record<string, string>; ca?: string; cert?: string; key?: string; servername?: string; timeoutMs?: number; rejectUnauthorized?: boolean; lookupHost?: string; method?: string } = {},
): Promise<HttpResult> {
  const u = new URL(url);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const hostname = u.hostname.replace(/^\[|\]$/g, '');
  const connectHost = opts.lookupHost ?? hostname;
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
  return new Promise<HttpResult>((resolve, reject) => {
    const session = http2.connect(`${u.protocol}//${u.host}`, {
      createConnection: () =>
        u.protocol === 'https:'
          ? tls.connect({
              host: connectHost,
              port,
              servername: opts.servername ?? (net.isIP(hostname) ? undefined : hostname),
              ca: opts.ca,
              cert: opts.cert,
              key: opts.key,
              rejectUnauthorized: opts.rejectUnauthorized ?? true,
              ALPNProtocols: ['h2'],
            })
          : net.connect({ host: connectHost, port }),
    });
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error(`h2 ${url}: timed out after ${timeoutMs} ms`)), timeoutMs);
    session.on('error', fail);
    const req = session.request({ ':method': opts.method ?? 'GET', ':path': `${u.pathname}${u.search}`, ...opts.headers });
    let status = 0;
    let headers: Record<string, string | string[] | undefined> = {};
    let body = '';
    req.setEncoding('utf8');
    req.on('response', (h) => {
      status = Number(h[':status'] ?? 0);
      headers = { ...h } as Record<string, string | string[] | undefined>;
    });
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.close();
      resolve({ status, headers, body });
    });
    req.on('error', fail);
    req.end();
  });
}
